"""Check that requirements/lock.txt pins every dependency that pyproject.toml declares.

Run as a script (the pre-commit hook) or import :func:`problems` (tests/test_packaging.py). A
dependency missing from the lock, or pinned at a version its specifier excludes, means that
`nox` sessions install something other than what pyproject asks for: re-pin with `nox -s lock`.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def pinned(lock_text: str) -> dict[str, list[Version]]:
    """Name (canonical) -> pinned versions (several where markers split by Python version)."""
    out: dict[str, list[Version]] = {}
    for line in lock_text.splitlines():
        m = _PIN.match(line.strip())
        if m:
            out.setdefault(canonicalize_name(m.group(1)), []).append(Version(m.group(2)))
    return out


def declared(pyproject_text: str) -> list[tuple[str, Requirement]]:
    """(where, requirement) for the runtime dependencies and every optional extra."""
    project = tomllib.loads(pyproject_text)["project"]
    out = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out += [(f"extra {extra!r}", Requirement(r)) for r in reqs]
    return out


def problems(repo: Path = REPO) -> list[str]:
    """Each declared dependency that the lock does not pin at an allowed version, as a sentence."""
    pins = pinned((repo / "requirements" / "lock.txt").read_text(encoding="utf-8"))
    found: list[str] = []
    for where, req in declared((repo / "pyproject.toml").read_text(encoding="utf-8")):
        versions = pins.get(canonicalize_name(req.name))
        if not versions:
            found.append(f"{req.name} ({where}) is not pinned in requirements/lock.txt")
        elif not any(req.specifier.contains(v, prereleases=True) for v in versions):
            shown = ", ".join(str(v) for v in versions)
            found.append(f"{req.name} ({where}) asks {req.specifier} but the lock pins {shown}")
    return found


if __name__ == "__main__":
    bad = problems()
    for line in bad:
        print(line, file=sys.stderr)
    if bad:
        print("re-pin with: python -m pip install uv && nox -s lock", file=sys.stderr)
    sys.exit(1 if bad else 0)
