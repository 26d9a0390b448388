"""The conda/Binder environment declares the same packages and versions as pyproject and the lock."""
import re
import tomllib

import yaml

from conftest import REPO


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def pyproject_pins():
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = data["project"]
    deps = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
    unpinned = [d for d in deps if "==" not in d]
    assert not unpinned, f"pyproject.toml dependencies without an exact version: {unpinned}"
    return _pins(deps)


def environment_pins():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    return env, conda, _pins(pip_section)


def test_environment_yml_matches_pyproject():
    pyp = pyproject_pins()
    _, _, env = environment_pins()
    assert env == pyp, (
        "environment.yml and pyproject.toml disagree.\n"
        f"only in pyproject: { {k: v for k, v in pyp.items() if env.get(k) != v} }\n"
        f"only in environment.yml: { {k: v for k, v in env.items() if pyp.get(k) != v} }"
    )


SUPPORTED = ((3, 11), (3, 12), (3, 13))


def _allows(spec, version):
    """Does a PEP 440 / conda range such as '>=3.11,<3.14' admit version (major, minor)?"""
    ok = True
    for part in spec.replace(" ", "").split(","):
        m = re.fullmatch(r"(>=|<=|<|>|==|=)(\d+)\.(\d+)", part)
        assert m, f"cannot read the version bound {part!r} in {spec!r}"
        op, bound = m.group(1), (int(m.group(2)), int(m.group(3)))
        ok &= {">=": version >= bound, "<=": version <= bound, "<": version < bound, ">": version > bound,
               "==": version == bound, "=": version == bound}[op]
    return ok


def test_python_range_agrees_everywhere():
    """pyproject, environment.yml and the Makefile's check admit exactly Python 3.11-3.13."""
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    _, conda, _ = environment_pins()
    conda_python = [d[len("python"):] for d in conda if re.match(r"python[<>=]", d)]
    assert len(conda_python) == 1, f"environment.yml should declare python once; has {conda}"
    probe = [(3, 10), *SUPPORTED, (3, 14)]
    for where, spec in (("pyproject requires-python", requires), ("environment.yml", conda_python[0])):
        admitted = [v for v in probe if _allows(spec, v)]
        assert admitted == list(SUPPORTED), f"{where} {spec!r} admits {admitted}; expected {list(SUPPORTED)}"
    makefile = (REPO / "Makefile").read_text()
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in makefile, "the Makefile's Python check should admit 3.11-3.13"


def test_lock_agrees_with_pyproject():
    lock = _pins((REPO / "requirements.lock").read_text().splitlines())
    pyp = pyproject_pins()
    wrong = {k: (v, lock.get(k)) for k, v in pyp.items() if lock.get(k) != v}
    assert not wrong, f"pyproject pin vs requirements.lock pin disagree: {wrong}"


def test_owner_packages_are_declared():
    pyp = pyproject_pins()
    for name in ("jupyter", "pandas", "seaborn", "nbgrader", "numpy", "scikit-learn", "fairlearn", "pytest"):
        assert name in pyp, f"{name} is missing from pyproject.toml"


def test_installed_versions_match_lock():
    from importlib.metadata import PackageNotFoundError, version
    lock = _pins((REPO / "requirements.lock").read_text().splitlines())
    wrong = {}
    for name in pyproject_pins():
        try:
            got = version(name)
        except PackageNotFoundError:
            got = None
        if got != lock[name]:
            wrong[name] = (lock[name], got)
    assert not wrong, f"installed versions differ from requirements.lock (expected, installed): {wrong}. Run `rm -rf .venv && make test`."
