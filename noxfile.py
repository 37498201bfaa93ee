"""Reproducible sessions: `nox -s tests`, `lint`, `typecheck`, `report`, `docs`, `bench`, `fetch`.

Every session installs the exact versions pinned in ``requirements/lock.txt`` (made by
``nox -s lock``), so a rebuild next year resolves the same packages, then the package itself
without dependencies.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
LOCK = "requirements/lock.txt"


def _install(session: nox.Session) -> None:
    session.install("-r", LOCK)
    session.install("--no-deps", "-e", ".")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (reads ../shared where present; skips with a reason where not)."""
    _install(session)
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on the whole repository."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy on the package."""
    _install(session)
    session.run("mypy", "tradeimpact")


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Build every figure, table and the report from data_raw/ into reports/."""
    _install(session)
    session.run(
        "python",
        "-m",
        "tradeimpact.report.build",
        "--data",
        "data_raw",
        "--out",
        "reports",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (mkdocs --strict: a warning fails the build).

    The worked examples in docs/examples/ are executed while the pages are built (markdown-exec),
    so a figure or table in the docs is what the code makes today.
    """
    _install(session)
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks beside the peers (pandas, polars, pyfixest, linearmodels); writes reports/benchmarks.*"""
    _install(session)
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session(python=PYTHON)
def size(session: nox.Session) -> None:
    """Monte Carlo size and power of the one-treated-unit tests; writes reports/size.*"""
    _install(session)
    session.run("python", "-m", "benchmarks.size", *session.posargs)


@nox.session(python=PYTHON)
def fetch(session: nox.Session) -> None:
    """Fetch the real data the two events in analysis/events/ need, then ingest it (needs network)."""
    _install(session)
    session.run(
        "python",
        "-m",
        "tradeimpact.fetch.case_studies",
        "--events",
        "analysis/events",
        "--out",
        "data_raw",
        *session.posargs,
    )


@nox.session(python=PYTHON, venv_backend="none")
def lock(session: nox.Session) -> None:
    """Re-pin requirements/lock.txt from pyproject.toml (needs uv: `pip install uv`)."""
    session.run(
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        "--all-extras",
        "--universal",
        "--python-version",
        PYTHON,
        "-o",
        LOCK,
        external=True,
    )
