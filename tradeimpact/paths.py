"""Default project locations, resolved from the package, never from the current folder.

The command-line tools (``tradeimpact fetch case-studies``, the report build) read the event files
(``analysis/events/*.toml``) and the raw data folder (``data_raw``) of the project checkout. Their
defaults are found here, from the location of the installed package (``tradeimpact/..``), so that a
command gives the same answer from any folder. An explicit argument (``--events``, ``--data``)
always wins over these defaults; where the package is not inside a checkout (a wheel installed
into site-packages) the functions raise :class:`ProjectPathError` saying where they looked and
which argument to pass instead. The case-study specification has no default here: the library
(:func:`tradeimpact.casestudy.run_case_study`) takes it as an argument, and the report build names
the project's file itself (:data:`tradeimpact.report.build.PROJECT_SPEC`).
"""

from __future__ import annotations

from pathlib import Path

from tradeimpact.errors import TradeImpactError

__all__ = [
    "ProjectPathError",
    "default_data_dir",
    "default_events_dir",
    "project_root",
]

_PACKAGE_DIR = Path(__file__).resolve().parent


class ProjectPathError(TradeImpactError, FileNotFoundError):
    """A default project location does not exist (the message names it and the argument to pass)."""


def project_root() -> Path:
    """The checkout that holds the package: the folder above ``tradeimpact/``.

    Returns
    -------
    Path
        ``<package>/..`` when it is a project checkout (it holds ``pyproject.toml`` or
        ``analysis/``).

    Raises
    ------
    ProjectPathError
        When the package is not inside a checkout (for example installed from a wheel).
    """
    root = _PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() or (root / "analysis").is_dir():
        return root
    raise ProjectPathError(
        f"the tradeimpact package at {_PACKAGE_DIR} is not inside a project checkout "
        f"(no pyproject.toml or analysis/ in {root}); pass the paths explicitly"
    )


def _under_root(relative: str, argument: str, *, kind: str, must_exist: bool) -> Path:
    where = _PACKAGE_DIR.parent / relative
    try:
        root = project_root()
    except ProjectPathError as exc:
        raise ProjectPathError(
            f"no default {kind}: looked for {where} (the package is not inside a project "
            f"checkout); pass {argument} PATH"
        ) from exc
    path = root / relative
    if must_exist and not path.exists():
        raise ProjectPathError(f"no default {kind}: {path} does not exist; pass {argument} PATH")
    return path


def default_events_dir() -> Path:
    """The folder of the case-study event files: ``<project root>/analysis/events``.

    Returns
    -------
    Path
        The folder; it exists and holds at least one ``*.toml`` file.

    Raises
    ------
    ProjectPathError
        When the folder is missing or holds no ``*.toml`` file (the message names the folder and
        says to pass ``--events``).
    """
    path = _under_root("analysis/events", "--events", kind="event folder", must_exist=True)
    if not path.is_dir() or not any(path.glob("*.toml")):
        raise ProjectPathError(
            f"no default event folder: {path} holds no event file (*.toml); pass --events PATH"
        )
    return path


def default_data_dir(*, must_exist: bool = True) -> Path:
    """The raw data folder: ``<project root>/data_raw``.

    Parameters
    ----------
    must_exist : bool, default True
        Require the folder to exist (a reader's default). A fetcher, which creates the folder,
        passes ``False``.

    Returns
    -------
    Path
        ``<project root>/data_raw``.

    Raises
    ------
    ProjectPathError
        When the package is not inside a checkout, or ``must_exist`` and the folder is missing
        (the message names it and says to pass ``--data``/``--out``).
    """
    path = _under_root("data_raw", "--data (or --out)", kind="data folder", must_exist=must_exist)
    if must_exist and not path.is_dir():
        raise ProjectPathError(
            f"no default data folder: {path} is not a folder; pass --data (or --out) PATH"
        )
    return path
