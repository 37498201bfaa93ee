"""Report figures: STL panel of the raw series, joint band of the event study, titles off.

References: statsmodels' STL run directly on the same series (the panel's numbers), a SYNTHETIC
series with a known multiplicative seasonal pattern (the adjusted series recovers it).
"""

from __future__ import annotations

from datetime import date

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from statsmodels.tsa.seasonal import STL

from tradeimpact.report import figures

PERIODS = pl.date_range(date(2009, 1, 1), date(2011, 12, 1), "1mo", eager=True)
EVENTS = [(date(2010, 9, 1), "restriction")]


def seasonal_raw() -> tuple[pl.DataFrame, np.ndarray]:
    """SYNTHETIC: 4 importers with the same seasonal factor; JPN falls to 40% from 2010-09."""
    rng = np.random.default_rng(2)
    m = np.arange(PERIODS.len())
    factor = 1 + 0.3 * np.sin(2 * np.pi * m / 12)
    parts = []
    for u in ("JPN", "USA", "KOR", "DEU"):
        level = np.where((m >= 20) & (u == "JPN"), 0.4, 1.0)
        value = 1e5 * factor * level * rng.lognormal(0, 0.03, m.size)
        parts.append(pl.DataFrame({"period": PERIODS, "unit": [u] * m.size, "value": value}))
    return pl.concat(parts), factor


def test_stl_adjust_equals_statsmodels_and_recovers_the_level():
    raw, factor = seasonal_raw()
    idx = figures.index_series(raw, (date(2009, 1, 1), date(2009, 12, 1)))
    jpn = idx.filter(pl.col("unit") == "JPN").sort("period").select("period", "index")
    dec = figures.stl_adjust(jpn)
    assert dec is not None and dec.height == 36
    y = np.log(jpn["index"].to_numpy())
    ref = STL(y, period=12, seasonal=2 * 18 + 1 + 24, seasonal_deg=0, robust=True).fit()
    np.testing.assert_allclose(dec["seasonal"], np.exp(ref.seasonal), rtol=1e-12)
    np.testing.assert_allclose(dec["adjusted"], jpn["index"] / np.exp(ref.seasonal), rtol=1e-12)
    # the adjusted index is the level without the seasonal factor: 100 before, 40 after the ban
    base_factor = factor[:12].mean()
    adj = dec["adjusted"].to_numpy()
    np.testing.assert_allclose(adj[:18].mean(), 100 / base_factor, rtol=0.03)
    np.testing.assert_allclose(adj[22:].mean(), 40 / base_factor, rtol=0.05)
    # a control (no break): the seasonal factors are the true ones (to the noise, 3%); the
    # treated unit's are rougher (the break leaks into them), its levels above are still right
    usa = idx.filter(pl.col("unit") == "USA").sort("period").select("period", "index")
    seas = figures.stl_adjust(usa)["seasonal"].to_numpy()  # type: ignore[index]
    np.testing.assert_allclose(seas / seas.mean(), factor / factor.mean(), atol=0.04)
    # too short for STL (under two years): no decomposition
    assert figures.stl_adjust(jpn.head(20)) is None


def test_raw_series_stl_panel_and_no_title():
    raw, _ = seasonal_raw()
    base = (date(2009, 1, 1), date(2009, 12, 1))
    fig = figures.raw_series(raw, treated="JPN", base=base, events=EVENTS, title=None,
                             source="test", synthetic=True, quantity="net weight")  # fmt: skip
    assert len(fig.axes) == 2 and fig._suptitle is None
    low = fig.axes[1]
    assert "STL" in low.get_ylabel()
    idx = figures.index_series(raw, base)
    jpn = idx.filter(pl.col("unit") == "JPN").sort("period").select("period", "index")
    want = figures.stl_adjust(jpn)["adjusted"].to_numpy()  # type: ignore[index]
    drawn = {ln.get_label(): ln.get_ydata() for ln in low.get_lines()}
    np.testing.assert_allclose(np.asarray(drawn["JPN"], float), want, rtol=1e-12)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "SYNTHETIC" in texts  # title off: the note and the watermark carry the label
    plt.close(fig)
    # annual data or stl=False: the one panel as before
    fig = figures.raw_series(raw, treated="JPN", base=base, events=EVENTS, title="t",
                             source="test", synthetic=False, stl=False)  # fmt: skip
    assert len(fig.axes) == 1 and fig._suptitle.get_text() == "t"
    plt.close(fig)


def test_event_study_joint_band_drawn_beside_pointwise():
    k = np.arange(-3, 4)
    est = np.linspace(-0.2, 0.2, k.size)
    ref = k == -1
    est[ref] = 0.0
    frame = pl.DataFrame({
        "rel_time": k, "estimate": est,
        "ci_low": np.where(ref, np.nan, est - 0.1), "ci_high": np.where(ref, np.nan, est + 0.1),
        "joint_low": np.where(ref, 0.0, est - 0.15), "joint_high": np.where(ref, 0.0, est + 0.15),
    })  # fmt: skip
    fig = figures.event_study(frame, title=None, source="test", synthetic=False)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["95% CI, pointwise (CR1)", "95% joint band (sup-t)"]
    bars = {c.get_label(): c for c in ax.containers}
    joint = bars["95% joint band (sup-t)"].lines[2][0].get_segments()
    point = bars["95% CI, pointwise (CR1)"].lines[2][0].get_segments()
    np.testing.assert_allclose([s[0][1] for s in joint], est[~ref] - 0.15, atol=1e-12)
    np.testing.assert_allclose([s[1][1] for s in joint], est[~ref] + 0.15, atol=1e-12)
    np.testing.assert_allclose([s[0][1] for s in point], est[~ref] - 0.1, atol=1e-12)
    assert fig._suptitle is None
    plt.close(fig)


def test_report_case_figures_without_titles(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_report_build import make_case

    from tradeimpact.report import build, style

    seen: dict[str, object] = {}
    save = style.save_figure

    def spy(fig, outdir, stem):
        seen[stem] = fig._suptitle
        return save(fig, outdir, stem)

    monkeypatch.setattr(build.style, "save_figure", spy)
    case = make_case("rare_earth_2010", True)
    build._case_figures(case, tmp_path, titles=False)
    assert len(seen) == 6 and all(t is None for t in seen.values()), seen
    seen.clear()
    refs, _ = build._case_figures(case, tmp_path, titles=True)
    assert all(t.get_text().startswith("SYNTHETIC: ") for t in seen.values())  # type: ignore[attr-defined]
    raw_caption = next(r.caption for r in refs if "raw_series" in r.stem)
    assert "STL" in raw_caption


def test_event_study_figure_gets_its_reference_row():
    from tradeimpact.report.build import _with_reference

    est = [0.1, 0.2, -0.5, -0.4]
    es = pl.DataFrame({"rel_time": [-3, -2, 0, 1], "estimate": est,
                       "ci_low": [e - 0.1 for e in est], "ci_high": [e + 0.1 for e in est]})  # fmt: skip
    out = _with_reference(es)
    assert out["rel_time"].to_list() == [-3, -2, -1, 0, 1]
    ref = out.filter(pl.col("rel_time") == -1)
    assert ref["estimate"].item() == 0.0 and np.isnan(ref["ci_low"].item())
    assert _with_reference(es.filter(pl.col("rel_time") != -2)).height == 3  # two gaps: unchanged
    fig = figures.event_study(out, title=None, source="t", synthetic=False)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "reference period" in labels
    plt.close(fig)
