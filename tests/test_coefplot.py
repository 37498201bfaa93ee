"""coefplot / iplot: plotted points = coefficients, bars = conf_int, one legend entry per model.

References: each model's own ``params`` and ``conf_int`` (tradeimpact, statsmodels,
linearmodels); the joint bars equal ``conf_int(joint=True)`` (tradeimpact) or the sup-t value of
the model's covariance; files byte-identical twice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from matplotlib.collections import LineCollection, PathCollection

import tradeimpact as ti
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import sup_t_critical_value
from tradeimpact.report import style
from tradeimpact.report.coefplot import coefplot, iplot

sys.path.insert(0, str(Path(__file__).parent))
from test_joint_bands import es_panel, fit


def _points(ax) -> np.ndarray:
    pts = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    return np.vstack(pts)


def _bars(ax, kind: str) -> dict[str, np.ndarray]:
    """``{model: segments (n, 2, 2)}`` of the pointwise or joint interval lines."""
    out = {}
    for c in ax.collections:
        if isinstance(c, LineCollection) and c.get_label().startswith(f"_{kind} "):
            out[c.get_label().split(" ", 1)[1]] = np.asarray(c.get_segments())
    return out


def _legend_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _ols_frame() -> pd.DataFrame:
    d = es_panel(1).to_pandas()
    rng = np.random.default_rng(0)
    d["x"] = rng.normal(size=len(d))
    d["z"] = rng.normal(size=len(d))
    d["y"] = d["y"] + 0.3 * d["x"] - 0.2 * d["z"]
    return d


def test_iplot_points_bars_and_legend():
    r1, r2 = fit(1), fit(2, vcov={"CR1": "u"})
    fig = iplot({"iid": r1, "CR1": r2}, joint="both")
    ax = fig.axes[0]
    assert _legend_labels(ax) == ["iid", "CR1"]  # one entry per model
    pts = _points(ax)
    point = _bars(ax, "pointwise")
    joint = _bars(ax, "joint")
    for lab, res in (("iid", r1), ("CR1", r2)):
        terms = [res.event_terms[e] for e in res.event_times]
        est = res.params.loc[terms].to_numpy()
        # the plotted y values are the coefficients (at x = event time + the model's dodge)
        rows = pts[np.isin(np.round(pts[:, 1], 12), np.round(est, 12))]
        assert rows.shape[0] == len(terms)
        np.testing.assert_allclose(np.sort(rows[:, 1]), np.sort(est), rtol=0, atol=0)
        ci = res.conf_int(0.95, terms=terms)
        np.testing.assert_allclose(point[lab][:, 0, 1], ci["lower"], rtol=0, atol=1e-14)
        np.testing.assert_allclose(point[lab][:, 1, 1], ci["upper"], rtol=0, atol=1e-14)
        band = res.conf_int(0.95, joint=True)
        np.testing.assert_allclose(joint[lab][:, 0, 1], band["lower"], rtol=0, atol=1e-14)
        np.testing.assert_allclose(joint[lab][:, 1, 1], band["upper"], rtol=0, atol=1e-14)
        # x positions: the event times, dodged by the same step for every point of a model
        shift = point[lab][:, 0, 0] - np.asarray(res.event_times)
        assert np.ptp(shift) < 1e-12
    assert point["iid"][0, 0, 0] < point["CR1"][0, 0, 0]  # dodged apart
    assert fig._suptitle is None and ax.get_title(loc="left") == ""  # title off by default
    # the legend is outside the data: above the axes
    fig.canvas.draw()
    leg = ax.get_legend().get_window_extent()
    assert leg.y0 >= ax.get_window_extent().y1 - 1


def test_coefplot_mixes_tradeimpact_statsmodels_linearmodels():
    from linearmodels.panel import PanelOLS

    d = _ols_frame()
    m1 = ti.feols("y ~ x + z | u + t", d, vcov="iid")
    m2 = smf.ols("y ~ x + z + C(u) + C(t)", d).fit()
    pdi = d.set_index(["u", "t"])
    m3 = PanelOLS.from_formula("y ~ x + z + EntityEffects + TimeEffects", pdi).fit()
    models = {"tradeimpact": m1, "statsmodels": m2, "linearmodels": m3}
    fig = coefplot(models, keep=["^x$", "^z$"], joint="both", coord_flip=False)
    ax = fig.axes[0]
    assert _legend_labels(ax) == list(models)
    point, joint = _bars(ax, "pointwise"), _bars(ax, "joint")
    pts = _points(ax)
    refs = {
        "tradeimpact": (m1.params, m1.conf_int(0.95), m1.cov, m1.df_inference),
        "statsmodels": (m2.params, m2.conf_int(0.05).set_axis(["lower", "upper"], axis=1),
                        m2.cov_params(), int(m2.df_resid)),
        # PanelOLS.fit() is debiased by default: its intervals are t(df_resid), and so the band
        "linearmodels": (m3.params, m3.conf_int(0.95), m3.cov, int(m3.df_resid)),
    }  # fmt: skip
    for lab, (params, ci, cov, df) in refs.items():
        est = params.loc[["x", "z"]].to_numpy()
        for v in est:
            assert np.any(pts[:, 1] == v), (lab, v)
        np.testing.assert_allclose(point[lab][:, 0, 1], ci.loc[["x", "z"], "lower"], atol=1e-14)
        np.testing.assert_allclose(point[lab][:, 1, 1], ci.loc[["x", "z"], "upper"], atol=1e-14)
        c = sup_t_critical_value(cov.loc[["x", "z"], ["x", "z"]].to_numpy(), 0.95, df=df)
        se = np.sqrt(np.diag(cov.loc[["x", "z"], ["x", "z"]].to_numpy()))
        np.testing.assert_allclose(joint[lab][:, 1, 1], est + c * se, rtol=1e-12)
    # the same OLS coefficients in all three (same model, three packages)
    np.testing.assert_allclose(m1.params.loc[["x", "z"]], m3.params.loc[["x", "z"]], rtol=1e-8)
    np.testing.assert_allclose(m1.params.loc[["x", "z"]], m2.params.loc[["x", "z"]], rtol=1e-8)


def test_coefplot_flipped_points_are_x_and_title_synthetic():
    d = _ols_frame()
    m1 = ti.feols("y ~ x + z | u + t", d)
    fig = coefplot([m1], title="Two regressors", synthetic=True)
    ax = fig.axes[0]
    pts = _points(ax)
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(m1.params.to_numpy()), atol=0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "z"]
    assert _legend_labels(ax) == ["(1)"]
    assert ax.get_title(loc="left") == "SYNTHETIC: Two regressors"
    assert any(t.get_text() == "SYNTHETIC DATA" for t in fig.texts)


def test_saved_deterministically(tmp_path):
    r1, r2 = fit(1), fit(2)
    a = style.save_figure(iplot([r1, r2], synthetic=True), tmp_path / "a", "SYNTHETIC_iplot")
    b = style.save_figure(iplot([r1, r2], synthetic=True), tmp_path / "b", "SYNTHETIC_iplot")
    for ext in ("pdf", "svg", "png"):
        assert a[ext].read_bytes() == b[ext].read_bytes(), ext
    assert b"<dc:date>" not in a["svg"].read_bytes()


def test_top_level_exports_and_errors():
    assert ti.iplot is iplot and ti.coefplot is coefplot
    with pytest.raises(ModelSpecError, match="cannot plot a dict"):
        coefplot([{"a": 1}])
    with pytest.raises(ModelSpecError, match="no coefficient matches"):
        coefplot(fit(1), keep="nope")
    d = _ols_frame()
    with pytest.raises(ModelSpecError, match="event time"):
        iplot(smf.ols("y ~ x + z", d).fit())
