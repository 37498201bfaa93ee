"""The package's import graph: layers import downward only, and no module imports itself back.

DESIGN.md fixes the layers: ``core <- models <- inference / sensitivity <- casestudy <- report``
(the data layers ``sources <- ingest <- store <- panel`` and ``fetch`` beside them, the
foundation modules ``errors``, ``schema``, ``paths``, ``codes`` under everything, and the entry
points ``cli``, ``demo`` and the package's own ``__init__`` on top). Every import statement
counts, the ones inside functions too (a lazy import is still a dependency), read from the
source with :mod:`ast`; the package's ``__init__`` is the one module allowed to name any layer
(its lazy top-level exports, issue 13). The inference methods reach the models through
:mod:`tradeimpact.core.registry` by name, never by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "tradeimpact"

#: layer of each top-level part of the package; a module may import its own layer and below
LAYER: dict[str, int] = {
    "errors": 0,
    "schema": 0,
    "paths": 0,
    "codes": 0,
    "core": 1,
    "sources": 1,
    "store_lock": 1,
    "ingest": 2,
    "store": 3,
    "fetch": 4,
    "panel": 4,
    "models": 5,
    "inference": 6,
    "sensitivity": 6,
    "casestudy": 7,
    "report": 8,
    "demo": 9,
    "cli": 10,
}

#: pairs of parts of one layer that must not import each other (parallel layers)
PARALLEL = {("inference", "sensitivity"), ("sensitivity", "inference")}

#: the estimation layers must not depend on the data layers (a model takes any frame)
NOT_ALLOWED = {
    (low, data)
    for low in ("core", "models", "inference", "sensitivity")
    for data in ("sources", "ingest", "store", "store_lock", "fetch", "panel")
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("tradeimpact")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.startswith("tradeimpact"):
                out.add(target)
                # "from tradeimpact.models import did" may name a submodule
                out |= {f"{target}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        graph[mod] = {t for t in _imports(path, mod) if t in files and t != mod}
    return graph


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_part_has_a_layer() -> None:
    parts = {_part(m) for m in _graph()} - {""}
    assert parts <= set(LAYER), f"parts without a layer in this test: {sorted(parts - set(LAYER))}"


def test_layers_import_downward_only() -> None:
    bad = []
    for mod, targets in sorted(_graph().items()):
        src = _part(mod)
        if src == "":  # tradeimpact/__init__.py: the lazy top-level exports
            continue
        for t in sorted(targets):
            dst = _part(t)
            if dst == "" or dst == src:
                if dst == "" and LAYER[src] < LAYER["demo"]:  # the entry points may read it
                    bad.append(f"{mod} -> {t} (the package's __init__)")
                continue
            if LAYER[dst] > LAYER[src] or (src, dst) in PARALLEL or (src, dst) in NOT_ALLOWED:
                bad.append(f"{mod} (layer {src}) -> {t} (layer {dst})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_models_import_nothing_from_inference() -> None:
    graph = _graph()
    bad = [
        f"{m} -> {t}"
        for m, ts in graph.items()
        if _part(m) == "models"
        for t in ts
        if _part(t) in ("inference", "sensitivity")
    ]
    assert not bad, bad


def test_tables_do_not_load_the_case_studies() -> None:
    # issue 13: `from tradeimpact.report import etable` must not load the case-study machinery
    graph = _graph()
    seen, todo = set(), ["tradeimpact.report.tables"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    assert not {m for m in seen if _part(m) == "casestudy"}, sorted(seen)


def test_no_import_cycles() -> None:
    graph = _graph()
    # a package's __init__ re-exports its submodules: an edge pkg/__init__ -> pkg.sub is the
    # package's own table of contents, not a dependency of the submodule on its package
    edges = {
        m: {t for t in ts if not (t.startswith(m + ".") and m.count(".") <= 1)}
        for m, ts in graph.items()
    }
    edges = {m: {t for t in ts if t != "tradeimpact"} for m, ts in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:10])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tradeimpact.inference.randomization import x", {"tradeimpact.inference"}),
        ("def f():\n    import tradeimpact.report.tables\n", {"tradeimpact.report"}),
        ("from ..inference import headline", {"tradeimpact.inference"}),
    ],
)
def test_the_checker_sees_every_kind_of_import(
    tmp_path: Path, source: str, expected: set[str]
) -> None:
    # the checker itself: top-level, function-local and relative imports all count
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    got = {".".join(t.split(".")[:2]) for t in _imports(path, "tradeimpact.models.m")}
    assert expected <= got
