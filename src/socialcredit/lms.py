"""Intake from and export to a learning management system (LMS): collect, roster, grades, export.

Run from the course folder::

    python -m socialcredit collect 01-dossier            # downloaded/01-dossier/archive/ -> submitted/
    python -m socialcredit grades [--missing zero]       # grades.csv: every rostered student x every lesson
    python -m socialcredit export canvas|moodle          # grades-canvas.csv / grades-moodle.csv for the LMS's import

What an LMS download looks like (fixtures of each are built in tests/test_lms.py):

- **Canvas** ("Download Submissions"): one zip of loose files named
  ``<lastfirst>_<user id>_<submission id>_<original name>``; a submission made after the due
  date carries ``LATE`` after the name (``<lastfirst>_LATE_<user id>_...``), and Canvas appends
  ``-1``, ``-2`` ... to a resubmitted file's original name (described in the README of
  github.com/TimHanneman/Canvas_submission_sort; example names in github.com/mikewesthad/canvas-unzipper).
- **Moodle** ("Download all submissions", optionally "Download submissions in folders"): one folder
  per student named ``<Full Name>_<participant id>_assignsubmission_file_`` holding the files under
  their own names (Moodle's string ``downloadasfolders_help``, moodle/moodle commit 381bb72), or,
  without folders, files named ``<Full Name>_<participant id>_assignsubmission_file_<name>``.
  Moodle's zip carries no late flag; its *grading worksheet* CSV (columns ``Identifier``,
  ``Full name``, ``Status`` such as "Submitted for grading - 2 hours late", ``Last modified
  (submission)``), put beside the zip, supplies it.
- **by hand**: ``<student>_<anything>_<NN-slug>.ipynb`` (an optional ``-N`` resubmission suffix).

Safety rules of ``collect``: a file already in ``submitted/`` is never overwritten by an older or
identical one, and one that is replaced is first moved to ``submitted/.replaced/<time>/``; every
file in the download that is not collected gets one line saying which file and why; a bad file
never stops the rest of the class.

The roster (``downloaded/roster.csv``, beside the LMS downloads, never committed) is a CSV with
the columns ``student_id,name,email`` and, optionally, ``lms_id`` (Canvas's "ID", the number in
its download names), ``sis_user_id``, ``sis_login_id`` and ``section``. ``student_id`` names the
student's folder in ``submitted/``; a submission is matched to a rostered student by ``lms_id``,
by ``student_id``, by e-mail, or by name (letters only, either order of first and last name).

Gradebook import layouts written by ``export``:

- Canvas (Grades > Import): ``Student, ID, SIS User ID, SIS Login ID, Section`` then one column of
  points per assignment, the second row ``Points Possible``; a column whose name Canvas does not
  know becomes a new assignment (Ohio State's guide "Import a CSV file to Carmen grades",
  teaching.resources.osu.edu, and Canvas's own gradebook export, whose layout import reads).
- Moodle (Grades > Import > CSV file): a header row, one row per student, the user identified by
  a column mapped to "Email address" (useremail) and each grade column mapped to a grade item in
  the import preview (docs.moodle.org/311/en/Grade_import).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROSTER = Path("downloaded") / "roster.csv"
ROSTER_COLUMNS = ("student_id", "name", "email")
ROSTER_OPTIONAL = ("lms_id", "sis_user_id", "sis_login_id", "section")
META = "lms.json"            # beside each collected notebook: where it came from, late flag, content hash
TIMESTAMP = "timestamp.txt"  # nbgrader's convention: autograde reads it as the submission time
REPLACED = ".replaced"       # submitted/.replaced/<time>/<student>/<lesson>/: what collect replaced
MISSING_CHOICES = ("empty", "zero")
EXPORT_FORMATS = ("canvas", "moodle")
GRADES_COLUMNS = ["student_id", "name", "email", "lesson", "score", "max_score", "needs_manual_grade", "status",
                  "detail", "submitted_at", "late", "on_roster"]

_CANVAS = re.compile(r"^(?P<key>[^_/]+)_(?:(?P<late>LATE)_)?(?P<uid>\d+)_(?P<sid>\d+)_(?P<orig>.+)$")
_MOODLE_DIR = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assign(?:submission|feedback)_[a-z]+_?$")
_MOODLE_FLAT = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assignsubmission_file_(?P<orig>.+)$")
_PLAIN = re.compile(r"^(?P<key>[^_/]+)_(?:.*_)?(?P<orig>[^_]+)$")
_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.@+-]*$")


class LmsError(Exception):
    """A problem that stops an LMS command (missing roster, bad option); the message says what to do."""


def _course():
    from . import course
    return course


def _say(line):
    print(line, flush=True)


def _now():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _fmt(ts):
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts else ""


def _parse_ts(text):
    text = (text or "").strip()
    if not text:
        return None
    from nbgrader.utils import parse_utc
    try:
        return parse_utc(text)
    except (ValueError, OverflowError):
        return None


def name_key(text):
    """Letters and digits only, lower case: 'Smith, Bob' -> 'smithbob' (Canvas writes names so)."""
    return re.sub(r"[^0-9a-z]", "", (text or "").lower())


def _name_keys(name):
    """Both orders of a person's name: 'Bob Smith' and 'Smith, Bob' both give {'bobsmith', 'smithbob'}."""
    name = (name or "").strip()
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
    else:
        parts = name.split()
        first, last = " ".join(parts[:-1]), (parts[-1] if parts else "")
    return {name_key(first + last), name_key(last + first)} - {""}


# ---- roster ---------------------------------------------------------------------------------------

@dataclass
class Roster:
    path: Path | None
    students: list = field(default_factory=list)  # dicts with ROSTER_COLUMNS + ROSTER_OPTIONAL

    def __bool__(self):
        return self.path is not None

    def ids(self):
        return [s["student_id"] for s in self.students]

    def match(self, *, key=None, uid=None, name=None, email=None):
        """The rostered student a submission belongs to, or None."""
        for s in self.students:
            if uid and s.get("lms_id") and s["lms_id"] == uid:
                return s
        for s in self.students:
            if key and key in (s["student_id"], s.get("sis_login_id")):
                return s
            if email and s["email"] and s["email"].lower() == email.lower():
                return s
        wanted = ({name_key(key)} if key else set()) | (_name_keys(name) if name else set())
        wanted.discard("")
        hits = [s for s in self.students if wanted & _name_keys(s["name"])]
        return hits[0] if len(hits) == 1 else None


def read_roster(root, path=None, *, required=False):
    """The course's roster (``downloaded/roster.csv``), checked; an empty Roster if there is none."""
    path = Path(root) / (path or ROSTER)
    if not path.is_file():
        if required:
            raise LmsError(f"{path} is missing; expected the class list exported from the LMS as a CSV with the "
                           f"columns {', '.join(ROSTER_COLUMNS)} (optional: {', '.join(ROSTER_OPTIONAL)}); "
                           "see instructors/guide.md, 'Roster'.")
        return Roster(None)
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ROSTER_COLUMNS if c not in header]
    if missing:
        raise LmsError(f"{path} has the columns {header}; expected at least {list(ROSTER_COLUMNS)} "
                       f"(missing {missing}).")
    students, seen = [], set()
    for n, row in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        sid = row["student_id"]
        if not sid:
            raise LmsError(f"{path} line {n}: student_id is empty; expected an id for every student.")
        if not _STUDENT_ID.match(sid):
            raise LmsError(f"{path} line {n}: student_id={sid!r} is not usable as a folder name; expected "
                           "letters, digits and . @ + - only.")
        if sid in seen:
            raise LmsError(f"{path} line {n}: student_id={sid!r} appears twice; expected one row per student.")
        seen.add(sid)
        students.append({c: row.get(c, "") for c in ROSTER_COLUMNS + ROSTER_OPTIONAL})
    return Roster(path, students)


# ---- collect --------------------------------------------------------------------------------------

@dataclass
class Candidate:
    """One notebook found in the download, before it is placed."""
    where: str            # how to name it to the instructor: archive/zip.zip:member
    data: bytes
    key: str              # the student as the file names them
    orig: str             # the file's own name (after the LMS's prefix)
    lms: str              # canvas / moodle / plain
    uid: str = ""
    name: str = ""
    late: bool | None = None
    time: datetime | None = None
    attempt: int = 0
    note: str = ""        # what was done to the name (renamed ...)
    student: str = ""


def _zip_time(info):
    try:
        return datetime(*info.date_time)
    except ValueError:
        return None


def _walk_download(archive, lesson, say):
    """(where, data, time) for every file in the download folder, opening zips one level deep."""
    for path in sorted(p for p in archive.rglob("*") if p.is_file()):
        rel = path.relative_to(archive).as_posix()
        if _junk(rel):
            say(f"skipped {rel}: operating-system metadata, not a submission")
            continue
        if path.suffix.lower() == ".zip":
            try:
                zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                head = path.read_bytes()[:64].lstrip().lower()
                hint = " (it is an HTML page: the browser saved a web page instead of the download)" if (
                    head.startswith(b"<!doctype html") or head.startswith(b"<html")) else ""
                say(f"skipped {rel}: not a readable zip archive{hint} ({exc.__class__.__name__}); "
                    "download it again")
                continue
            with zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    where = f"{rel}:{info.filename}"
                    if _junk(info.filename):
                        say(f"skipped {where}: operating-system metadata (__MACOSX, ._ or .DS_Store), not a submission")
                        continue
                    if info.filename.lower().endswith(".zip"):
                        say(f"skipped {where}: a zip inside the download is not opened; if it holds a submission, "
                            f"unpack it and put the notebook in downloaded/{lesson}/archive/")
                        continue
                    try:
                        data = zf.read(info)
                    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                        say(f"skipped {where}: cannot be read from the zip ({exc.__class__.__name__}: {exc})")
                        continue
                    yield where, info.filename, data, _zip_time(info)
        else:
            mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None)
            yield rel, rel, path.read_bytes(), mtime


def _junk(member):
    parts = member.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] in (".DS_Store", "Thumbs.db", "desktop.ini")


def _worksheets(archive):
    """Moodle grading worksheets in the download: participant id / name key -> (late, time); and their paths."""
    found, paths = {}, set()
    for path in sorted(archive.rglob("*.csv")):
        try:
            rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error):
            continue
        if not rows or "Identifier" not in rows[0] or "Status" not in rows[0]:
            continue
        paths.add(path.relative_to(archive).as_posix())
        for row in rows:
            late = "late" in (row.get("Status") or "").lower()
            when = _parse_moodle_time(row.get("Last modified (submission)"))
            ident = re.sub(r"\D", "", row.get("Identifier") or "")
            info = (late, when)
            if ident:
                found[ident] = info
            for k in _name_keys(row.get("Full name")):
                found.setdefault("name:" + k, info)
    return found, paths


def _parse_moodle_time(text):
    text = (text or "").strip()
    if not text or text == "-":
        return None
    from dateutil import parser
    try:
        return parser.parse(text, fuzzy=True)
    except (ValueError, OverflowError):
        return None


def _identify(inner, lesson):
    """(lms, key, uid, name, orig, late) from a member's path inside the download, or None."""
    parts = [p for p in inner.replace("\\", "/").split("/") if p]
    base = parts[-1]
    for folder in reversed(parts[:-1]):
        m = _MOODLE_DIR.match(folder)
        if m:
            return "moodle", name_key(m["name"]), m["uid"], m["name"], base, None
    m = _MOODLE_FLAT.match(base)
    if m:
        return "moodle", name_key(m["name"]), m["uid"], m["name"], m["orig"], None
    m = _CANVAS.match(base)
    if m:
        return "canvas", m["key"], m["uid"], "", m["orig"], bool(m["late"])
    m = _PLAIN.match(base)
    if m:
        return "plain", m["key"], "", "", m["orig"], None
    return None


def _lesson_of(orig, lesson, lessons):
    """How the file's own name relates to the lesson: ('same', attempt), ('renamed', None), ('other', L), ('unknown', None)."""
    stem = orig[:-len(".ipynb")] if orig.lower().endswith(".ipynb") else orig
    by_length = sorted(lessons, key=len, reverse=True)
    for name in by_length:
        if stem == name or stem.startswith(name):
            rest = stem[len(name):]
            if name != lesson:
                return "other", name
            if rest == "":
                return "same", 0
            m = re.fullmatch(r"-(\d+)", rest)
            if m:
                return "same", int(m[1])
            return "renamed", None
    number = re.match(r"(\d\d)(?=\D|$)", stem)
    if number:
        owners = [name for name in lessons if name.startswith(number[1] + "-")]
        if owners and lesson not in owners:
            return "other", owners[0]
        if lesson in owners:
            return "renamed", None
    return "unknown", None


def collect(root, lesson):
    """Take in an LMS download for one lesson: ``downloaded/<lesson>/archive/`` -> ``submitted/<student>/<lesson>/``.

    Returns a dict with the students collected and what was reported. Never raises for one bad
    file: each is reported on one line and the rest of the class is collected.
    """
    course = _course()
    root = Path(root)
    course._check_lesson(root, lesson)
    lessons = course.lessons(root)
    archive = root / "downloaded" / lesson / "archive"
    if not archive.is_dir() or not any(archive.iterdir()):
        raise course.CourseError(f"{archive} is missing or empty; expected the LMS's zip download(s) there.")
    roster = read_roster(root)
    report = {"collected": [], "unchanged": [], "kept": [], "replaced": [], "skipped": [], "unknown": []}

    def skip(line):
        report["skipped"].append(line)
        _say(line)

    worksheets, sheet_paths = _worksheets(archive)
    for sheet in sorted(sheet_paths):
        _say(f"read {sheet} as Moodle's grading worksheet (late flags and submission times)")
    found = []
    for where, inner, data, when in _walk_download(archive, lesson, skip):
        if where in sheet_paths:
            continue
        if not inner.lower().endswith(".ipynb"):
            skip(f"skipped {where}: not a notebook (.ipynb)")
            continue
        ident = _identify(inner, lesson)
        if ident is None:
            skip(f"skipped {where}: the name does not say whose it is; expected <student>_..._{lesson}.ipynb, "
                 "a Canvas or a Moodle download name")
            continue
        lms, key, uid, name, orig, late = ident
        if lms == "moodle":
            info = worksheets.get(uid) or next((worksheets[f"name:{k}"] for k in _name_keys(name)
                                                if f"name:{k}" in worksheets), None)
            if info:
                late, when = info[0], info[1] or when
        found.append(Candidate(where=where, data=data, key=key, orig=orig, lms=lms, uid=uid, name=name, late=late,
                               time=when))

    # whose is each notebook (roster first), and which lesson's
    by_student = {}
    for c in found:
        # lms_id is Canvas's user id; Moodle's number is a participant id of one assignment, never matched to it
        person = roster.match(key=c.key, uid=c.uid if c.lms == "canvas" else None, name=c.name) if roster else None
        c.student = person["student_id"] if person else c.key
        if not _STUDENT_ID.match(c.student):
            skip(f"skipped {c.where}: {c.student!r} cannot be a student folder name")
            continue
        if roster and person is None:
            if c.student not in report["unknown"]:
                report["unknown"].append(c.student)
        by_student.setdefault(c.student, []).append(c)

    chosen = []
    for student, cands in sorted(by_student.items()):
        usable = []
        for c in cands:
            kind, extra = _lesson_of(c.orig, lesson, lessons)
            if kind == "other":
                skip(f"skipped {c.where}: it is {student}'s notebook for {extra}, not {lesson}; "
                     f"put it in downloaded/{extra}/archive/ and run `make collect LESSON={extra}`")
                continue
            if kind == "same":
                c.attempt = extra
            else:
                c.note = f"{c.orig} is not named {lesson}.ipynb; collected as {lesson}.ipynb"
            c.kind = kind
            usable.append(c)
        if not usable:
            continue
        exact = [c for c in usable if c.kind == "same"]
        renamed = [c for c in usable if c.kind == "renamed"]
        unknown = [c for c in usable if c.kind == "unknown"]
        if exact or renamed:
            pool = exact + renamed
            for c in unknown:
                skip(f"skipped {c.where}: {student} also handed in {', '.join(p.orig for p in pool)}; "
                     f"{c.orig} is not a {lesson} notebook by its name")
        elif len(unknown) == 1:
            pool = unknown
        else:
            skip(f"skipped {student}'s {len(unknown)} notebooks ({', '.join(c.where for c in unknown)}): none is "
                 f"named {lesson}.ipynb and which one to grade is ambiguous; put the right one in "
                 f"submitted/{student}/{lesson}/{lesson}.ipynb by hand")
            continue
        pool.sort(key=lambda c: (c.time or datetime.min, c.attempt, c.kind == "same"))
        best = pool[-1]
        if len(pool) > 1:
            older = ", ".join(c.where for c in pool[:-1])
            skip(f"{student}: {len(pool)} submissions for {lesson} in the download; kept the latest, {best.where}"
                 f" ({_fmt(best.time) or 'resubmission ' + str(best.attempt)}); not collected: {older}")
        chosen.append(best)

    for c in chosen:
        _place(root, lesson, c, report)
    if report["unknown"]:
        _say(f"not on the roster ({roster.path.relative_to(root)}): {', '.join(report['unknown'])} — collected under "
             "the name in the download; add them to the roster or check the spelling")
    n_late = sum(1 for c in chosen if c.late)
    unknown_late = [c.student for c in chosen if c.late is None and c.lms == "moodle"]
    if unknown_late:
        _say(f"lateness unknown for {len(unknown_late)} Moodle submission(s): Moodle's zip carries no late flag; put "
             f"its grading worksheet (Download grading worksheet, a CSV) in downloaded/{lesson}/archive/ and collect again")
    _say(f"collected {lesson}: {len(report['collected'])} new, {len(report['replaced'])} replaced (old copies kept), "
         f"{len(report['unchanged'])} unchanged, {len(report['kept'])} kept (newer copy already in submitted/), "
         f"{len(report['skipped'])} file(s) reported above; {n_late} late")
    report["students"] = sorted(c.student for c in chosen)
    return report


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _read_meta(folder):
    try:
        return json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _place(root, lesson, c, report):
    folder = root / "submitted" / c.student / lesson
    target = folder / f"{lesson}.ipynb"
    rel = target.relative_to(root).as_posix()
    incoming = _sha(c.data)
    meta = {"source": c.where, "original_name": c.orig, "lms": c.lms, "lms_id": c.uid, "late": c.late,
            "submitted_at": _fmt(c.time), "sha256": incoming, "collected_at": _fmt(_now())}
    note = f" ({c.note})" if c.note else ""
    late = " LATE" if c.late else ""
    if target.is_file():
        current = target.read_bytes()
        old_meta = _read_meta(folder)
        if _sha(current) == incoming:
            report["unchanged"].append(c.student)
            known = (old_meta.get("late"), old_meta.get("submitted_at"))
            if not (folder / META).is_file() or (c.late is not None and known != (c.late, meta["submitted_at"])):
                _write_meta(folder, meta, c)  # the same notebook; what the LMS says about it is now known
                if old_meta:
                    _say(f"updated {folder.relative_to(root).as_posix()}/{META}: late={c.late}, "
                         f"submitted {meta['submitted_at']} (the notebook is unchanged)")
            return
        if old_meta.get("sha256") == incoming:
            report["kept"].append(c.student)
            _say(f"kept {rel}: it was changed after the last collect and the download holds the same file as then "
                 f"({c.where}); nothing replaced")
            return
        existing_time = _parse_ts(_read(folder / TIMESTAMP)) if not old_meta or _sha(current) == old_meta.get(
            "sha256") else None
        if existing_time is None:  # placed or edited by hand: when it was last written
            existing_time = datetime.fromtimestamp(target.stat().st_mtime, timezone.utc).replace(tzinfo=None)
        if c.time is None or c.time <= existing_time:
            report["kept"].append(c.student)
            _say(f"kept {rel} ({_fmt(existing_time)}): it is newer than the download's copy {c.where} "
                 f"({_fmt(c.time) or 'no time recorded'}); to take the download's copy, move {rel} away first")
            return
        stamp = _now().strftime("%Y%m%dT%H%M%S")
        backup = root / "submitted" / REPLACED / stamp / c.student / lesson
        n = 1
        while backup.exists():
            n += 1
            backup = root / "submitted" / REPLACED / f"{stamp}-{n}" / c.student / lesson
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(backup))
        report["replaced"].append(c.student)
        _say(f"replaced {rel} ({_fmt(existing_time)}) with the newer {c.where} ({_fmt(c.time)}){late}{note}; "
             f"the old folder is kept in {backup.relative_to(root).as_posix()}/")
    else:
        report["collected"].append(c.student)
        if c.note or c.late:
            _say(f"collected {c.where} -> {rel}{late}{note}")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_bytes(c.data)
    _write_meta(folder, meta, c)


def _read(path):
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _write_meta(folder, meta, c):
    (folder / META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    if c.time:
        (folder / TIMESTAMP).write_text(_fmt(c.time) + "\n", encoding="utf-8")


def submission_info(root, student, lesson):
    """(submitted_at, late) of a collected submission: from lms.json, else nbgrader's timestamp.txt."""
    folder = Path(root) / "submitted" / student / lesson
    meta = _read_meta(folder)
    when = meta.get("submitted_at") or _read(folder / TIMESTAMP).strip()
    late = meta.get("late")
    return when, ("" if late is None else ("yes" if late else "no"))


# ---- grades ---------------------------------------------------------------------------------------

def _keep_old(path):
    """Move an existing output aside (``name.<time>.bak``) before it is rewritten; returns the backup path."""
    if not path.is_file():
        return None
    backup = path.with_name(f"{path.name}.{_now().strftime('%Y%m%dT%H%M%S')}.bak")
    n = 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.{_now().strftime('%Y%m%dT%H%M%S')}-{n}.bak")
    path.replace(backup)
    return backup


def _write_csv(path, header, rows, *, extra_rows=()):
    new = io.StringIO()
    w = csv.writer(new, lineterminator="\n")
    w.writerow(header)
    for r in extra_rows:
        w.writerow(r)
    for r in rows:
        w.writerow([r.get(h, "") for h in header] if isinstance(r, dict) else r)
    text = new.getvalue()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return None, False
    backup = _keep_old(path)
    path.write_text(text, encoding="utf-8")
    return backup, True


def grade_rows(root, *, missing="empty", roster=None):
    """One row per student and lesson: every rostered student, plus anyone with a submission or a status."""
    from nbgrader.api import Gradebook, MissingEntry

    course = _course()
    if missing not in MISSING_CHOICES:
        raise LmsError(f"missing={missing!r} is not a choice; expected one of {', '.join(MISSING_CHOICES)} "
                       "(what a student who handed nothing in gets).")
    root = Path(root)
    roster = read_roster(root) if roster is None else roster
    status = course.read_status(root)
    db = root / "gradebook.db"
    if not db.is_file():
        raise course.CourseError(f"{db} is missing: nothing has been released or graded yet (run `make autograde`).")
    people = {s["student_id"]: s for s in roster.students}
    rows = []
    with Gradebook(f"sqlite:///{db}") as gb:
        found = {s.id for s in gb.students} | {k[0] for k in status} | {s for s, _ in course.submissions(root)}
        students = list(roster.ids()) + sorted(found - set(people))
        for lesson in course.lessons(root):
            try:
                max_score = gb.find_assignment(lesson).max_score
            except MissingEntry:
                continue
            for student in students:
                person = people.get(student, {})
                st = status.get((student, lesson))
                when, late = submission_info(root, student, lesson)
                row = {"student_id": student, "name": person.get("name", ""), "email": person.get("email", ""),
                       "lesson": lesson, "max_score": max_score, "submitted_at": when, "late": late,
                       "on_roster": ("yes" if person else "no") if roster else ""}
                if st and st["status"] == "crashed":
                    row.update(score="", needs_manual_grade="", status="crashed", detail=st["detail"])
                else:
                    try:
                        sub = gb.find_submission(lesson, student)
                    except MissingEntry:
                        if (root / "submitted" / student / lesson).is_dir():
                            row.update(score="", needs_manual_grade="", status="not graded yet",
                                       detail="collected but not autograded: run `make autograde`")
                            rows.append(row)
                            continue
                        row.update(score=0 if missing == "zero" else "", needs_manual_grade="", status="not submitted",
                                   detail="" if missing == "empty" else "no submission: 0 (missing=zero)")
                    else:
                        row.update(score=sub.score, needs_manual_grade=bool(sub.needs_manual_grade),
                                   status=(st or {}).get("status") or "graded", detail=(st or {}).get("detail", ""))
                rows.append(row)
    return rows, roster


def grades(root, out="grades.csv", *, missing="empty"):
    """Write grades.csv: one row per student and lesson (every rostered student), with lateness."""
    root = Path(root)
    rows, roster = grade_rows(root, missing=missing)
    path = root / out
    backup, written = _write_csv(path, GRADES_COLUMNS, rows)
    counts = {k: sum(r["status"] == k for r in rows) for k in ("graded", "crashed", "not submitted")}
    counts["late"] = sum(r["late"] == "yes" for r in rows)
    what = f"wrote {path}" if written else f"{path} is unchanged"
    print(f"{what} ({len(rows)} rows: {json.dumps(counts)}; no submission -> {'0' if missing == 'zero' else 'empty'}, "
          f"missing={missing})" + (f"; the previous file is kept as {backup.name}" if backup else ""))
    if not roster:
        print(f"no roster ({ROSTER}): rows are the students found in submissions; add the LMS's class list there so "
              "that students who handed nothing in are listed too")
    else:
        strangers = sorted({r["student_id"] for r in rows if r["on_roster"] == "no"})
        if strangers:
            print(f"not on the roster: {', '.join(strangers)} (their rows are kept, with on_roster=no)")
    return rows


# ---- export ---------------------------------------------------------------------------------------

def _split_name(name):
    name = name.strip()
    if "," in name:
        last, first = (p.strip() for p in name.split(",", 1))
    else:
        parts = name.split()
        first, last = " ".join(parts[:-1]), (parts[-1] if parts else "")
    return first, last


def _points(value):
    if value in ("", None):
        return ""
    return f"{float(value):g}"


def export(root, lms, *, missing="empty", out=None):
    """Write the grades in the layout the LMS imports: one row per rostered student, points per lesson column."""
    root = Path(root)
    if lms not in EXPORT_FORMATS:
        raise LmsError(f"LMS={lms!r} is not supported; expected one of {', '.join(EXPORT_FORMATS)}.")
    roster = read_roster(root, required=True)
    rows, _ = grade_rows(root, missing=missing, roster=roster)
    lessons = sorted({r["lesson"] for r in rows}, key=_course().lessons(root).index)
    if not lessons:
        raise LmsError("no lesson in the gradebook yet; run `make autograde` first.")
    cell = {(r["student_id"], r["lesson"]): r for r in rows}
    max_score = {r["lesson"]: r["max_score"] for r in rows}
    table = []
    for s in roster.students:
        scores = [_points(cell[(s["student_id"], lesson)]["score"]) for lesson in lessons]
        if lms == "canvas":
            table.append([s["name"], s["lms_id"], s["sis_user_id"], s["sis_login_id"], s["section"], *scores])
        else:
            first, last = _split_name(s["name"])
            table.append([first, last, s["student_id"], s["email"], *scores])
    if lms == "canvas":
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *lessons]
        extra = [["Points Possible", "", "", "", "", *(_points(max_score[lesson]) for lesson in lessons)]]
        no_id = [s["student_id"] for s in roster.students if not (s["lms_id"] or s["sis_user_id"] or s["sis_login_id"])]
        if no_id:
            print(f"warning: {', '.join(no_id)} have no lms_id, sis_user_id or sis_login_id in the roster; Canvas "
                  "will match them by name only")
    else:
        header = ["First name", "Last name", "ID number", "Email address", *lessons]
        extra = []
        no_mail = [s["student_id"] for s in roster.students if not s["email"]]
        if no_mail:
            print(f"warning: {', '.join(no_mail)} have no e-mail in the roster; Moodle matches students by it")
    path = root / (out or f"grades-{lms}.csv")
    backup, written = _write_csv(path, header, table, extra_rows=extra)
    crashed = sorted({(r["student_id"], r["lesson"]) for r in rows if r["status"] == "crashed"})
    manual = sorted({(r["student_id"], r["lesson"]) for r in rows if r["needs_manual_grade"] is True})
    strangers = sorted({r["student_id"] for r in rows if r["on_roster"] == "no"})
    print(f"{'wrote' if written else 'unchanged:'} {path} for {lms}: {len(table)} rostered students x {len(lessons)} "
          f"lesson(s) ({', '.join(lessons)}); no submission -> {'0' if missing == 'zero' else 'empty'} "
          f"(missing={missing})" + (f"; the previous file is kept as {backup.name}" if backup else ""))
    for student, lesson in crashed:
        print(f"  empty: {student} / {lesson} crashed in autograde (see grades.csv); grade it by hand")
    if manual:
        print(f"  {len(manual)} submission(s) still need manual grading (reflections count 0 until graded): "
              + ", ".join(f"{s}/{lesson}" for s, lesson in manual[:10]) + (" ..." if len(manual) > 10 else ""))
    if strangers:
        print(f"  not exported (not on the roster): {', '.join(strangers)}")
    if lms == "canvas":
        print("  Canvas: Grades > Import; columns named by lesson become new assignments unless renamed to an "
              "existing one's 'Name (id)'")
    else:
        print("  Moodle: Grades > Import > CSV file; map 'Email address' to useremail and each lesson column to "
              "its grade item")
    return path


# ---- command line ---------------------------------------------------------------------------------

COMMANDS = ("collect", "grades", "export")


def main(command, argv):
    import argparse
    course = _course()
    ap = argparse.ArgumentParser(prog=f"python -m socialcredit {command}")
    ap.add_argument("--course", default=".", help="the course folder (default: here)")
    if command == "collect":
        ap.add_argument("lesson", help="lesson folder name, e.g. 01-dossier")
    if command in ("grades", "export"):
        ap.add_argument("--missing", default="empty", choices=MISSING_CHOICES,
                        help="score of a student who handed nothing in (default: empty)")
    if command == "grades":
        ap.add_argument("--out", default="grades.csv")
    if command == "export":
        ap.add_argument("lms", help="canvas or moodle")
        ap.add_argument("--out", default=None, help="output file (default: grades-<lms>.csv)")
    args = ap.parse_args(argv)
    try:
        root = course.course_root(args.course)
        if command == "collect":
            collect(root, args.lesson)
        elif command == "grades":
            grades(root, args.out, missing=args.missing)
        elif command == "export":
            export(root, args.lms, missing=args.missing, out=args.out)
    except (course.CourseError, LmsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
