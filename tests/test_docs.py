"""The documentation site (docs/, mkdocs.yml; built by `nox -s docs`).

Fast checks, without building the site:

* every public name of the package's API is rendered by an API reference page (a
  ``::: module`` block of mkdocstrings renders the module's public members; names that share
  their module's name need a block of their own), and every module of the package is either
  documented or named below as internal, with the reason: a new public function, or a new
  module, without documentation fails here;
* every worked example executes code when the site is built (markdown-exec ``exec="on"``),
  says whether its data are REAL or SYNTHETIC, and labels its SYNTHETIC figures;
* every page is in the navigation.

The slow test builds the site with ``mkdocs build --strict`` (a warning fails it) into a
temporary folder and checks the built pages: each API object's anchor, and each example's
figures (inline SVG) and executed output.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import griffe
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
EXAMPLES = DOCS / "examples"

#: modules of the package that are not on the API pages themselves, and why
INTERNAL: dict[str, str] = {
    "tradeimpact.core": "the estimation core below the models; what users call from it is "
    "re-exported by tradeimpact.models / tradeimpact.inference and documented there",
    "tradeimpact.models.": "implementation modules of tradeimpact.models: its __all__ is the API",
    "tradeimpact.inference.": "implementation modules of tradeimpact.inference: its __all__ is the API",
    "tradeimpact.sensitivity.": "implementation modules of tradeimpact.sensitivity: its __all__ "
    "is the API",
    "tradeimpact.casestudy.": "implementation modules of tradeimpact.casestudy: its __all__ is the API",
    "tradeimpact.report.document": "the report's document model, internal to report.build",
    "tradeimpact.report.html": "the HTML renderer of report.build",
    "tradeimpact.report.typst_report": "the typst (PDF) renderer of report.build",
    "tradeimpact.fetch.cli": "the argument parser of `tradeimpact fetch` (its --help documents it)",
    "tradeimpact.fetch.__main__": "`python -m tradeimpact.fetch` entry point",
    "tradeimpact.codes.build_tables": "maintainer script that rebuilds the shipped country tables",
}

#: example pages without data (nothing to label REAL or SYNTHETIC)
NO_DATA_PAGES = {"fetch_dry_run.md"}

DIRECTIVE = re.compile(r"^::: ([\w.]+)", re.MULTILINE)
EXEC_BLOCK = re.compile(r'^```python exec="on"([^\n]*)\n(.*?)^```', re.MULTILINE | re.DOTALL)


def _directives() -> list[tuple[str, str]]:
    """(page, dotted path) of every ``::: path`` block of the API pages."""
    out = []
    for page in sorted(API.glob("*.md")):
        out += [(page.name, d) for d in DIRECTIVE.findall(page.read_text(encoding="utf-8"))]
    return out


@pytest.fixture(scope="module")
def package() -> Any:
    return griffe.load("tradeimpact", search_paths=[str(ROOT)], resolve_aliases=False)


def _get(package: Any, path: str) -> Any:
    return package if path == "tradeimpact" else package[path[len("tradeimpact.") :]]


def _final(member: Any) -> Any | None:
    """The object an alias points to inside the package (None: outside it, e.g. __future__)."""
    if not member.is_alias:
        return member
    try:
        return member.final_target
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _rendered(package: Any) -> set[str]:
    """Canonical paths of every object the API pages render (mkdocstrings, filters: public)."""
    rendered: set[str] = set()
    for _page, path in _directives():
        obj = _final(_get(package, path))
        assert obj is not None, path
        rendered.add(obj.path)
        if obj.is_module:
            for member in obj.members.values():
                target = _final(member)
                if target is None or target.is_module or not member.is_public:
                    continue
                rendered.add(target.path)
    return rendered


def _modules(module: Any) -> list[Any]:
    out = [module]
    for name, sub in module.modules.items():
        if sub.is_alias:  # an imported module (`from tradeimpact.report import style`)
            continue
        if not name.startswith("_") or name == "__main__":
            out += _modules(sub)
    return out


def _internal_reason(path: str) -> str | None:
    for prefix, reason in INTERNAL.items():
        if path == prefix.rstrip(".") and not prefix.endswith("."):
            return reason
        if prefix.endswith(".") and path.startswith(prefix):
            return reason
        if not prefix.endswith(".") and path.startswith(prefix + "."):
            return reason
    return None


def _runtime_path(obj: Any) -> str | None:
    """``module.qualname`` of a function or class (None for constants and other values)."""
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return None


def test_every_directive_names_an_object_of_the_package(package: Any) -> None:
    for page, path in _directives():
        assert path == "tradeimpact" or path.startswith("tradeimpact."), (page, path)
        try:
            _get(package, path)
        except KeyError:
            pytest.fail(f"docs/api/{page}: '::: {path}' names nothing in the package")


def test_every_module_is_documented_or_internal(package: Any) -> None:
    documented = {path for _page, path in _directives()}
    unclassified = [
        m.path
        for m in _modules(package)
        if m.path not in documented and _internal_reason(m.path) is None
    ]
    assert not unclassified, (
        f"modules neither on an API page (docs/api/*.md, '::: module') nor listed in "
        f"tests/test_docs.py INTERNAL with a reason: {unclassified}"
    )
    # no stale entries: every INTERNAL prefix still matches a module
    paths = [m.path for m in _modules(package)]
    for prefix in INTERNAL:
        assert any(p == prefix.rstrip(".") or p.startswith(prefix) for p in paths), prefix


def test_every_public_name_of_a_documented_module_is_rendered(package: Any) -> None:
    """``__all__`` at run time (or the module's own public functions and classes) vs the pages.

    A name in a package's ``__all__`` that is also the name of a submodule (``models.did``,
    ``inference.conley_taber``) is not rendered by the package's block: it needs its own
    ``::: module.name`` block; this is where a missing one fails.
    """
    rendered = _rendered(package)
    documented = sorted({path for _page, path in _directives() if _get(package, path).is_module})
    missing: list[str] = []
    for path in documented:
        module = importlib.import_module(path)
        names = getattr(module, "__all__", None)
        if names is None:  # no __all__: the functions and classes the module defines
            names = [
                n
                for n, v in vars(module).items()
                if not n.startswith("_") and _runtime_path(v) and v.__module__ == path
            ]
        for name in names:
            if name == "__version__":
                continue
            obj = getattr(module, name)
            canonical = _runtime_path(obj)
            if canonical is not None:
                ok = canonical in rendered
            else:  # a constant: rendered as an attribute of the module's block
                member = _get(package, path).members.get(name)
                target = _final(member) if member is not None else None
                ok = target is not None and not target.is_module and target.path in rendered
            if not ok:
                missing.append(f"{path}.{name}" + (f" (= {canonical})" if canonical else ""))
    assert not missing, f"public names not rendered by any API page: {missing}"


def test_top_level_names_are_documented_and_listed(package: Any) -> None:
    import tradeimpact

    rendered = _rendered(package)
    index = (API / "index.md").read_text(encoding="utf-8")
    for name, (module, attr) in tradeimpact._LAZY.items():
        obj = getattr(importlib.import_module(module), attr)
        assert _runtime_path(obj) in rendered, f"ti.{name} -> {module}.{attr} is not rendered"
        assert f"| `ti.{name}` |" in index, f"ti.{name} is not in the table of docs/api/index.md"
    assert set(tradeimpact.__all__) == {"__version__", *tradeimpact._LAZY}


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    return []


def _config() -> dict[str, Any]:
    # mkdocs.yml may hold !!python/name tags; the navigation is plain YAML
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *a: None)
    with open(ROOT / "mkdocs.yml", encoding="utf-8") as fh:
        config: dict[str, Any] = yaml.load(fh, Loader=Loader)  # a SafeLoader subclass
    return config


def test_every_page_is_in_the_navigation() -> None:
    nav = set(_nav_pages(_config()["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages == nav, (
        f"not in the nav: {sorted(pages - nav)}; missing files: {sorted(nav - pages)}"
    )


def _example_pages() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.md") if p.name != "index.md")


def test_at_least_eight_examples_each_executed_and_labelled() -> None:
    pages = _example_pages()
    assert len(pages) >= 8, [p.name for p in pages]
    index = (EXAMPLES / "index.md").read_text(encoding="utf-8")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        blocks = EXEC_BLOCK.findall(text)
        assert blocks, f'{page.name}: no executed code block (```python exec="on" ...)'
        assert all("source=" in options for options, _code in blocks), (
            f"{page.name}: every executed block shows its code (source=...)"
        )
        assert f"({page.name})" in index, f"{page.name} is not listed in examples/index.md"
        if page.name in NO_DATA_PAGES:
            continue
        label = re.search(r"\*\*Data: (REAL|SYNTHETIC)", text)
        assert label, f"{page.name}: says '**Data: REAL' or '**Data: SYNTHETIC' near its top"
        figures = [code for options, code in blocks if 'html="1"' in options]
        if label.group(1) == "SYNTHETIC":
            for code in figures:
                labelled = "SYNTHETIC" in code or "synthetic=True" in code  # the package's label
                assert labelled, f"{page.name}: a figure of SYNTHETIC data is unlabelled"


def test_griffe_extension_turns_roles_and_simple_tables_into_markdown() -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import griffe_roles
    finally:
        sys.path.remove(str(DOCS))
    text = (
        "See :func:`tradeimpact.did` and :class:`~tradeimpact.store.FlowStore`.\n\n"
        "=====  ==========\n"
        "name   format\n"
        "=====  ==========\n"
        "baci   CEPII BACI\n"
        "       t,i,j,k,v,q\n"
        "gacc   China | GACC\n"
        "=====  ==========\n"
        "after"
    )
    out = griffe_roles.unrole(griffe_roles.rst_tables(text))
    assert out.splitlines()[0] == "See `tradeimpact.did` and `FlowStore`."
    assert "| name | format |" in out
    assert "| baci | CEPII BACI t,i,j,k,v,q |" in out  # the continuation line joins its row
    assert "| gacc | China \\| GACC |" in out  # a pipe in a cell is escaped
    assert "=====" not in out and out.endswith("after")
    headerless = "==  ==\na   b\nc   d\n==  ==\n"
    assert "| a | b |\n| c | d |" in griffe_roles.rst_tables(headerless)


@pytest.mark.slow
def test_site_builds_strict_with_every_object_and_figure(package: Any, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    api_html = "".join(p.read_text(encoding="utf-8") for p in (site / "api").rglob("*.html"))
    ids = set(re.findall(r'id="(tradeimpact[\w.]*)"', api_html))
    for page, path in _directives():
        assert path in ids, f"docs/api/{page}: '::: {path}' rendered no anchor"
    for name in (
        "tradeimpact.models.feols",
        "tradeimpact.models.did.did",
        "tradeimpact.inference.studentized_randomization_inference",
        "tradeimpact.store.FlowStore.ingest",
        "tradeimpact.report.tables.etable",
    ):
        assert name in ids, name
    for page in _example_pages():
        text = page.read_text(encoding="utf-8")
        n_figures = sum('html="1"' in options for options, _ in EXEC_BLOCK.findall(text))
        built = (site / "examples" / page.stem / "index.html").read_text(encoding="utf-8")
        article = built[built.index("<article") : built.index("</article>")]
        assert article.count("<svg") >= n_figures, f"{page.name}: figures missing"
        # markdown-exec shows a failed block as a traceback in the page (and --strict warns)
        assert "Traceback (most recent call last)" not in article, page.name
