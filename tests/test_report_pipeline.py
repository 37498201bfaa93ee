"""The report on the shipped data: case studies -> ReportCase -> files, twice, byte-identical.

Runs F1's :func:`tradeimpact.casestudy.run_case_study` on ``data_raw/`` (the SYNTHETIC
demonstration panel) with a reduced specification (importer-side design, no robustness variants)
to stay within the CI budget; ``nox -s report`` runs the full one.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from tradeimpact import casestudy

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data_raw"
# the two SYNTHETIC demonstration events (the real annual event has its own tests:
# tests/test_real_case_study.py)
EVENTS = [REPO / "analysis" / "events" / f"{n}.toml" for n in ("dual_use_2026", "rare_earth_2010")]
SPEC = REPO / "analysis" / "specs" / "main.toml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def studies() -> list[object]:
    if not list((DATA / "comtrade").glob("SYNTHETIC_*.json.gz")):
        pytest.skip("data_raw/comtrade holds no SYNTHETIC demo files (python -m tradeimpact.demo)")
    return [
        casestudy.run_case_study(p, DATA, SPEC, designs=["importer"], variants=False)
        for p in EVENTS
    ]


def test_pipeline_report_is_deterministic_and_labelled(studies, tmp_path):
    from tradeimpact.report.build import BuildInfo, _event_toml, case_from_study, render

    cases = [case_from_study(s, _event_toml(p)) for s, p in zip(studies, EVENTS, strict=True)]
    assert all(c.synthetic for c in cases)
    info = BuildInfo(
        inputs=sorted({i for s in studies for i in s.inputs}), versions=[], commit="unknown"
    )
    a, b = tmp_path / "a", tmp_path / "b"
    wa, wb = render(cases, a, info), render(cases, b, info)
    assert [p.relative_to(a) for p in wa] == [p.relative_to(b) for p in wb]
    for p in wa:
        assert p.read_bytes() == (b / p.relative_to(a)).read_bytes(), p.name
        # every output of the synthetic cases says so; the published (press) figures are real
        assert p.name.startswith(("SYNTHETIC_", "published_")), p.name
    html = (a / "SYNTHETIC_report.html").read_text()
    for s in studies:
        row = s.main.filter(
            (pl.col("design") == "importer") & (pl.col("outcome") == "log_quantity")
        ).row(0, named=True)
        # the report prints the estimate and the true effect beside it
        assert f"{row['estimate']:.3f}" in html and f"{row['true_effect']:.3f}" in html
        # headline interval recovers the generator's effect; RI p-value is k / #placebos
        assert row["ci_low"] <= row["true_effect"] <= row["ci_high"]
        k = Fraction(row["p_value"]).limit_denominator(row["n_placebos"])
        assert k * row["n_placebos"] == int(k * row["n_placebos"])
        assert row["p_fraction"] == f"{int(k * row['n_placebos'])}/{row['n_placebos']}"
        # the headline is the studentized RI and its size check is printed beside it
        assert row["headline"] == "ri_t" and row["size_n"] > 0
        assert row["size_check"].startswith("in this panel the test rejected at 5% in ")
        assert row["size_check"] in html
        assert (
            f"headline studentized randomization inference (RI-t) p = {row['p_fraction']}" in html
        )
        print(
            f"{s.event.name}: importer log quantity {row['estimate']:.3f} "
            f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}], true {row['true_effect']:.3f}, "
            f"RI-t p = {row['p_fraction']}; {row['size_check']}"
        )
