"""Default project locations resolve from the package, not from the current folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradeimpact import paths
from tradeimpact.errors import TradeImpactError
from tradeimpact.report.build import project_spec

REPO = Path(__file__).resolve().parents[1]


def test_defaults_resolve_from_the_package_in_any_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a folder with no analysis/ in it
    assert paths.project_root() == REPO
    assert paths.default_events_dir() == REPO / "analysis" / "events"
    assert {"dual_use_2026.toml", "rare_earth_2010.toml"} <= {
        p.name for p in paths.default_events_dir().glob("*.toml")
    }  # the two case studies (other event files may sit beside them)
    # the specification: no default in tradeimpact.paths (the library takes it as an argument);
    # the report build names the project's file itself
    assert not hasattr(paths, "default_spec_path")
    assert project_spec() == REPO / "analysis" / "specs" / "main.toml"
    assert paths.default_data_dir(must_exist=False) == REPO / "data_raw"
    assert Path(os.getcwd()) == tmp_path


def _fake_package(monkeypatch, tmp_path: Path, *, checkout: bool) -> Path:
    pkg = tmp_path / "site" / "tradeimpact"
    pkg.mkdir(parents=True)
    if checkout:
        (tmp_path / "site" / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(paths, "_PACKAGE_DIR", pkg)
    return pkg.parent


def test_outside_a_checkout_every_default_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    site = _fake_package(monkeypatch, tmp_path, checkout=False)
    with pytest.raises(paths.ProjectPathError, match="not inside a project checkout"):
        paths.project_root()
    with pytest.raises(TradeImpactError) as err:
        paths.default_events_dir()
    msg = str(err.value)
    assert str(site / "analysis" / "events") in msg and "--events" in msg
    with pytest.raises(paths.ProjectPathError, match=r"not inside a project checkout.*--spec"):
        project_spec()
    with pytest.raises(paths.ProjectPathError, match="--data"):
        paths.default_data_dir(must_exist=False)
    assert isinstance(err.value, FileNotFoundError)


def test_checkout_without_the_files_names_what_is_missing(tmp_path: Path, monkeypatch) -> None:
    site = _fake_package(monkeypatch, tmp_path, checkout=True)
    assert paths.project_root() == site
    with pytest.raises(paths.ProjectPathError, match="does not exist; pass --events"):
        paths.default_events_dir()
    (site / "analysis" / "events").mkdir(parents=True)
    with pytest.raises(paths.ProjectPathError, match=r"holds no event file \(\*.toml\)"):
        paths.default_events_dir()
    (site / "analysis" / "events" / "x.toml").write_text("")
    assert paths.default_events_dir() == site / "analysis" / "events"
    with pytest.raises(paths.ProjectPathError, match=r"main\.toml does not exist; pass --spec"):
        project_spec()
    with pytest.raises(paths.ProjectPathError, match="data_raw does not exist"):
        paths.default_data_dir()
    assert paths.default_data_dir(must_exist=False) == site / "data_raw"
    (site / "data_raw").mkdir()
    assert paths.default_data_dir() == site / "data_raw"
