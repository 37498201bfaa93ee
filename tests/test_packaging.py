"""Packaging: the wheel a user installs holds the package's data files, the licence and its SPDX
metadata; package-data patterns match real files; the lock pins what pyproject declares; the
pre-commit hooks run the ruff version that `nox -s lint` runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

from tests.lock_check import problems

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_data_pattern_matches_a_file() -> None:
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package, patterns in data.items():
        root = REPO / package.replace(".", "/")
        for pattern in patterns:
            assert list(root.glob(pattern)), f"package-data {package}: {pattern!r} matches nothing"


def test_lock_pins_every_declared_dependency() -> None:
    assert problems(REPO) == []


def test_pre_commit_ruff_is_the_lint_session_ruff() -> None:
    noxfile = (REPO / "noxfile.py").read_text(encoding="utf-8")
    lint_pin = re.search(r'session\.install\("ruff==([^"]+)"\)', noxfile)
    assert lint_pin, "noxfile.py's lint session pins ruff"
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [h for repo in config["repos"] for h in repo["hooks"] if h["id"].startswith("ruff")]
    assert {h["id"] for h in hooks} == {"ruff-check", "ruff-format"}
    for hook in hooks:
        assert hook["additional_dependencies"] == [f"ruff=={lint_pin.group(1)}"], hook["id"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources (the checkout stays untouched)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "tradeimpact", src / "tradeimpact", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("dist")
    # setuptools from the test environment, no build isolation: nothing is downloaded
    code = f"import sys, setuptools.build_meta as b; print(b.build_wheel({str(out)!r}))"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=src, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    (built,) = out.glob("tradeimpact-*.whl")
    return built


def test_wheel_holds_the_data_the_package_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    codes = sorted(
        p.name for p in (REPO / "tradeimpact" / "codes").iterdir() if p.suffix in {".csv", ".md"}
    )
    assert codes, "the code tables exist in the checkout"
    for name in codes:
        assert f"tradeimpact/codes/{name}" in names
    assert "tradeimpact/py.typed" in names
    # only the package: no tests, analysis scripts or data
    assert not [
        n for n in names if n.startswith(("tests/", "analysis/", "data_raw/", "benchmarks/"))
    ]


def test_wheel_metadata_names_the_licence(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (meta_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(archive.read(meta_name).decode("utf-8"))
    assert meta["License-Expression"] == "MIT"
    assert meta["Name"] == "tradeimpact"
    licence = [n for n in archive.namelist() if n.endswith("licenses/LICENSE")]
    assert licence, "the LICENSE file is in the wheel's dist-info"
    assert archive.read(licence[0]) == (REPO / "LICENSE").read_bytes()
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")


def test_changelog_and_contributing_exist_and_are_linked() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("CHANGELOG.md", "CONTRIBUTING.md"):
        assert (REPO / name).is_file(), name
        assert name in readme, f"README links {name}"
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## \[?Unreleased\]?", changelog, re.M)
    assert f"## [{PYPROJECT['project']['version']}]" in changelog, (
        "the current version has an entry"
    )
