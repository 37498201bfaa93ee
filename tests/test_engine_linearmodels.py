"""feols(..., engine="linearmodels") and did(..., engine="linearmodels") (issue 15, item 4).

The same estimate through linearmodels' PanelOLS (one or two plain fixed effects identifying the
rows) or AbsorbingLS (anything else), tested equal to the native engine (itself tested against
pyfixest) to 1e-8. Small-sample correspondence checked here: fixest's CR1
``(n-1)/(n-k) G/(G-1)`` is linearmodels' ``group_debias=True`` (PanelOLS: ``G/(G-1) (n-1)/n``)
with ``debiased=False``, times ``n/(n-k)`` with fixest's ``k`` (regressors + non-nested fixed
effects); HC1 and iid are ``debiased=False`` times ``n/(n-k)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

pytest.importorskip("linearmodels")

from tests.test_ibis_engine import panel
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.did import did
from tradeimpact.models.formula import feols as feols_formula
from tradeimpact.models.linear import feols

TOL = 1e-8


def balanced(units: int = 300, periods: int = 12, seed: int = 0) -> pl.DataFrame:
    """A SYNTHETIC balanced panel (unit x period unique, as PanelOLS indexes it)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), periods)
    period = np.tile(np.arange(periods), units)
    x1 = rng.normal(size=unit.size) + np.sin(unit) + 0.1 * period
    x2 = rng.normal(size=unit.size)
    treat = (unit < units // 5).astype(float)
    post = (period >= periods // 2).astype(float)
    y = (
        0.3 * treat * post
        + x1
        - 0.5 * x2
        + np.cos(unit)
        + 0.2 * period
        + rng.normal(size=unit.size)
    )
    return pl.DataFrame(
        {"unit": unit, "period": period, "state": unit % 25, "x1": x1, "x2": x2, "y": y,
         "treat": treat, "post": post, "w": rng.uniform(0.5, 2, unit.size)}
    )  # fmt: skip


def same(a: object, b: object) -> None:
    np.testing.assert_allclose(b.beta, a.beta, rtol=TOL, atol=1e-12)  # type: ignore[attr-defined]
    # standard errors to 1e-8; the whole matrix to 1e-8 of its largest variance (AbsorbingLS
    # demeans to its own tolerance: small covariances differ in their 8th digit)
    np.testing.assert_allclose(np.sqrt(np.diag(b.cov_matrix)), np.sqrt(np.diag(a.cov_matrix)),  # type: ignore[attr-defined]
                               rtol=TOL)  # fmt: skip
    scale = float(np.max(np.diag(a.cov_matrix)))  # type: ignore[attr-defined]
    np.testing.assert_allclose(b.cov_matrix, a.cov_matrix, rtol=0, atol=TOL * scale)  # type: ignore[attr-defined]
    assert list(a.names) == list(b.names)  # type: ignore[attr-defined]
    assert a.nobs == b.nobs and a.vcov_type == b.vcov_type  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fe", "kw", "model"),
    [
        (["unit", "period"], {"vcov": {"CRV1": "state"}}, "PanelOLS"),
        (["unit", "period"], {"vcov": {"CRV1": "unit"}}, "PanelOLS"),  # unit FE nested
        (["unit", "period"], {"vcov": {"CRV1": "state + period"}}, "PanelOLS"),
        (
            ["unit", "period"],
            {"vcov": {"CRV1": "state + period"}, "G_df": "conventional"},
            "PanelOLS",
        ),
        (["unit", "period"], {"vcov": "hetero", "weights": "w"}, "PanelOLS"),
        (["unit"], {"vcov": "iid"}, "PanelOLS"),
        ([], {"vcov": "hetero"}, "PanelOLS"),
        (["unit", "period", "state"], {"vcov": {"CRV1": "state"}}, "AbsorbingLS"),
        ([["state", "period"], "unit"], {"vcov": {"CRV1": "unit"}, "weights": "w"}, "AbsorbingLS"),
        (
            ["unit", "period"],
            {"vcov": {"CRV1": "state"}, "small_sample": "linearmodels"},
            "PanelOLS",
        ),
    ],
)
def test_feols_linearmodels_equals_native(fe: list, kw: dict, model: str) -> None:
    frame = balanced()
    nat = feols(frame, "y", ["x1", "x2"], fe=fe, **kw)
    lm = feols(frame, "y", ["x1", "x2"], fe=fe, engine="linearmodels", **kw)
    same(nat, lm)
    assert lm.extra["engine"] == "linearmodels" and lm.extra["linearmodels_model"] == model
    # the linearmodels result itself is there, with linearmodels' own estimates
    np.testing.assert_allclose(lm.extra["linearmodels"].params[lm.names].to_numpy(), nat.beta,
                               rtol=TOL)  # fmt: skip


def test_unbalanced_rows_with_repeated_pairs_go_to_absorbingls() -> None:
    frame = panel(5_000, seed=3, units=300)  # (unit, period) pairs repeat
    kw = {"fe": ["unit", "period"], "vcov": {"CRV1": "region"}}
    nat = feols(frame, "y", ["x1", "x2"], **kw)
    lm = feols(frame, "y", ["x1", "x2"], engine="linearmodels", **kw)
    same(nat, lm)
    assert lm.extra["linearmodels_model"] == "AbsorbingLS"


def test_formula_and_did_engine() -> None:
    frame = balanced(seed=1)
    fml = "y ~ x1 + x2 | unit + period"
    same(feols_formula(fml, frame, vcov={"CRV1": "state"}),
         feols_formula(fml, frame, vcov={"CRV1": "state"}, engine="linearmodels"))  # fmt: skip
    nat = did(frame, "y", "treat", "post", "unit", time="period", controls=["x1"],
              inference="cr1")  # fmt: skip
    lm = did(frame, "y", "treat", "post", "unit", time="period", controls=["x1"],
             inference="cr1", engine="linearmodels")  # fmt: skip
    same(nat, lm)
    assert lm.att == pytest.approx(nat.att, rel=TOL)
    assert lm.extra["engine"] == "linearmodels"


def test_engine_errors() -> None:
    frame = balanced()
    with pytest.raises(ModelSpecError, match="engine must be one of 'native', 'linearmodels'"):
        feols(frame, "y", ["x1"], fe=["unit"], engine="statsmodels")  # type: ignore[arg-type]
    with pytest.raises(ModelSpecError, match="Driscoll-Kraay"):
        feols(frame, "y", ["x1"], fe=["unit"], vcov="DK", time="period", engine="linearmodels")
