"""The README's Python examples run as written and say what the README says they say.

Each ``python`` block is run in a fresh interpreter in a temporary folder (the README's commands
must work from any folder). Blocks that need a file of ``../shared`` get a copy of it in that
temporary folder (never in the repository) and skip where it is absent.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, shared_path

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text("utf-8"), re.S)


def _block(marker: str) -> str:
    found = [b for b in BLOCKS if marker in b]
    assert len(found) == 1, f"the README has {len(found)} python blocks with {marker!r}"
    return found[0]


def _run(code: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_api_example_runs_and_shows_the_headline(tmp_path: Path) -> None:
    out = _run(_block("import tradeimpact as ti"), tmp_path)
    # the numbers the prose under the example quotes
    assert "treat:post = -0.5369" in out
    assert "p = 0.100 (2/20), 95% interval [-1.154, 0.1377]" in out
    assert "studentized randomization inference" in out
    assert "placebo runs" in out  # the size check's sentence
    assert "| treat:post |" in out  # the etable


def test_generic_reader_example_flags_provisional_and_modelled_rows(tmp_path: Path) -> None:
    src = shared_path(
        "data", "real", "critmat-atlas-comtrade-baci", "magnets_850511_flows_2002_2026.csv"
    )
    shutil.copy(src, tmp_path / src.name)
    code = _block("GenericReader(") + (
        "\nimport polars as pl\n"
        "print(report.rows_read, report.rows_stored, report.rows_quarantined)\n"
        "f = FlowStore('store').scan().select(pl.col('flags').str.extract(r'status=(\\w+)'))\n"
        "print(dict(f.collect().to_series().value_counts().iter_rows()))\n"
    )
    out = _run(code, tmp_path).splitlines()
    assert out[0] == "32992 32992 0"
    assert ast.literal_eval(out[1]) == {None: 30406, "provisional": 1293, "modelled": 1293}
