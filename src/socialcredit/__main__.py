"""Command line: ``python -m socialcredit generate --seed S --out DIR``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .world import DEFAULT_N, DEFAULT_SEED


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; expected a positive integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not positive; expected an integer >= 1")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; expected a non-negative integer seed") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; expected a non-negative integer seed")
    return value


COURSE_COMMANDS = ("release", "collect", "autograde", "feedback", "grades", "export", "student-copy")
LMS_COMMANDS = ("collect", "grades", "export")  # intake and export: socialcredit.lms


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in LMS_COMMANDS:
        from .lms import main as lms_main
        return lms_main(argv[0], argv[1:])
    if argv and argv[0] == "figures":
        from .figures import main as figures_main
        return figures_main(argv[1:])
    if argv and argv[0] in COURSE_COMMANDS:
        from .course import main as course_main
        return course_main(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="python -m socialcredit",
                                     description="Tools for the social-scoring course's fictional city, Lanternport.")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{generate,figures," + ",".join(COURSE_COMMANDS) + "}")
    gen = sub.add_parser("generate", help="generate a fresh world (CSV files) for a new cohort")
    gen.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    gen.add_argument("--n", type=_positive_int, default=DEFAULT_N, help=f"number of residents (default {DEFAULT_N})")
    gen.add_argument("--out", type=Path, required=True, help="folder to write the CSV files into")
    gen.add_argument("--shared", action="store_true",
                     help="every student reads this world (default: on a hub, and in grading, each student gets a "
                          "world of their own drawn from this seed)")
    gen.add_argument("--with-real", action="store_true",
                     help="also copy datasets/real and DATASHEET.md so the folder is a complete datasets/ folder")
    args = parser.parse_args(argv)

    if args.command == "generate":
        from .data import generate
        if args.out.exists() and not args.out.is_dir():
            parser.error(f"--out {str(args.out)!r} exists and is not a folder; expected a folder (it is created if missing)")
        paths = generate(args.out, n=args.n, seed=args.seed, per_student=not args.shared)
        if args.with_real:
            import shutil
            from .data import _PACKAGE_REPO
            src = _PACKAGE_REPO / "datasets"
            shutil.copytree(src / "real", args.out / "real", dirs_exist_ok=True)
            shutil.copy2(src / "DATASHEET.md", args.out / "DATASHEET.md")
        print(f"Wrote {len(paths) - 1} tables and world.json for n={args.n}, seed={args.seed} to {args.out} "
              + ("(every student reads this world)" if args.shared else "(each student gets a world of their own)"))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
