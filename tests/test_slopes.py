"""Absorbed varying slopes (fixest ``id[z]`` / ``id[[z]]``, ppmlhdfe ``a(id##c.z)`` / ``a(id#c.z)``).

References, on the same SYNTHETIC data generated in each test:

* feols: statsmodels OLS / WLS with the fixed effects and slopes as explicit columns (group
  dummies, year dummies, dummies x z); coefficients to 1e-8. The cluster-robust (CR1) standard
  errors are fixest's rule, ``G/(G-1) (N-1)/(N-K) B (sum_g s_g s_g') B`` with ``K`` the regressors
  plus the rank of the absorbed columns (no fixed effect nested in the cluster variable here),
  which is exactly statsmodels' ``cov_type="cluster"`` correction with ``K`` the rank of its full
  design; iid standard errors are ``sigma^2 = RSS/(N-K)``, statsmodels' ``nonrobust``.
* ppml: statsmodels GLM Poisson with the same explicit columns; coefficients to 1e-6 and CR1 to
  1e-6 relative (statsmodels GLM's cluster correction is the same ``G/(G-1) (N-1)/(N-K)``).
* the parameter count ``K``: :func:`numpy.linalg.matrix_rank` of the dense absorbed columns.

pyfixest 0.60 has no varying slopes (its formula parser rejects ``id[z]``), so it is no reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import tradeimpact as ti
from tradeimpact.core.fixed_effects import FixedEffects, demean, fe_dof
from tradeimpact.core.slopes import Slopes, absorbed_rank, parse_slope_term
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import ppml


def _panel(seed: int = 0, n: int = 600, n_id: int = 15, n_t: int = 6) -> pd.DataFrame:
    """SYNTHETIC panel: unit-specific slopes on z and on the year, year effects, clusters."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "id": rng.integers(0, n_id, n),
            "t": rng.integers(0, n_t, n),
            "cl": rng.integers(0, 40, n),
            "w": rng.uniform(0.5, 2.0, n),
        }
    )
    d["z"] = rng.normal(size=n) + 0.2 * d["id"]
    d["x"] = rng.normal(size=n) + 0.4 * d["z"]
    d["x2"] = rng.normal(size=n)
    slope = rng.normal(size=n_id)
    d["y"] = 0.5 * d["x"] - 0.2 * d["x2"] + slope[d["id"]] * d["z"] + 0.3 * d["t"]
    d["y"] += rng.normal(size=n)
    d["count"] = rng.poisson(np.exp(0.3 * d["x"] + 0.2 * slope[d["id"]] * d["z"] + 0.1 * d["t"]))
    return d


def _dummies(codes: pd.Series, drop_first: bool = False) -> np.ndarray:
    d = np.eye(int(codes.max()) + 1)[codes.to_numpy()]
    return d[:, 1:] if drop_first else d


def _design(d: pd.DataFrame, terms: str) -> np.ndarray:
    """Regressors x, x2 then the absorbed columns, explicitly."""
    blocks = [d[["x", "x2"]].to_numpy()]
    if terms == "id[z] + t":
        blocks += [_dummies(d["id"]), _dummies(d["t"], True), _dummies(d["id"]) * d[["z"]].values]
    elif terms == "id + t + id[[t]]":
        tt = d[["t"]].to_numpy(dtype=float)
        blocks += [_dummies(d["id"]), _dummies(d["t"], True), _dummies(d["id"]) * tt]
    return np.column_stack(blocks)


@pytest.mark.parametrize("weighted", [False, True])
def test_feols_id_z_equals_ols_with_explicit_columns(weighted: bool) -> None:
    d = _panel(1)
    res = feols(
        d,
        "y",
        ["x", "x2"],
        fe=["id[z]", "t"],
        vcov={"CRV1": "cl"},
        weights="w" if weighted else None,
    )
    x = _design(d, "id[z] + t")
    model = (
        sm.WLS(d["y"].to_numpy(), x, weights=d["w"].to_numpy())
        if weighted
        else sm.OLS(d["y"].to_numpy(), x)
    )
    ref = model.fit(cov_type="cluster", cov_kwds={"groups": d["cl"].to_numpy()})
    np.testing.assert_allclose(res.beta, ref.params[:2], rtol=0, atol=1e-8)
    # K = 2 regressors + rank of [D_id, D_t, D_id z] (15 + 5 + 15 = 35): statsmodels' k
    assert res.extra["df_k"] == np.linalg.matrix_rank(x) == 37
    np.testing.assert_allclose(np.sqrt(np.diag(res.cov_matrix)), ref.bse[:2], rtol=1e-8)
    assert res.fixed_effects == ["id", "t", "id[z]"]


def test_feols_unit_trends_with_year_effects_count_the_redundancy() -> None:
    """``id[[t]]`` with year effects ``t``: the sum of the unit trends is the linear trend, which
    the year dummies span, so K is one less than levels(id) + levels(t) - 1 + levels(id)."""
    d = _panel(2)
    res = feols(d, "y", ["x", "x2"], fe=["id", "t", "id[[t]]"], vcov="iid")
    x = _design(d, "id + t + id[[t]]")
    rank = np.linalg.matrix_rank(x)
    assert rank == 2 + 15 + 5 + 15 - 1
    assert res.extra["df_k"] == rank
    # the same column space without the last unit trend (the redundant one): full rank for OLS
    ref = sm.OLS(d["y"].to_numpy(), x[:, :-1]).fit()
    assert np.linalg.matrix_rank(x[:, :-1]) == rank
    np.testing.assert_allclose(res.beta, ref.params[:2], rtol=0, atol=1e-8)
    # statsmodels' nonrobust: RSS / (N - rank), the same K
    np.testing.assert_allclose(np.sqrt(np.diag(res.cov_matrix)), ref.bse[:2], rtol=1e-8)


def test_formula_equals_keywords() -> None:
    d = _panel(3)
    a = ti.feols("y ~ x + x2 | id[z] + t", d, vcov={"CRV1": "cl"})
    b = feols(d, "y", ["x", "x2"], fe=["id[z]", "t"], vcov={"CRV1": "cl"})
    np.testing.assert_array_equal(a.beta, b.beta)
    np.testing.assert_array_equal(a.cov_matrix, b.cov_matrix)
    c = ti.ppml("count ~ x + x2 | id[[z]] + id + t", d)
    e = ppml(d, "count", ["x", "x2"], ["id", "t", "id[[z]]"], vcov="iid")
    np.testing.assert_allclose(c.beta, e.beta, rtol=1e-12)


@pytest.mark.parametrize("fe", [["id[z]", "t"], ["id", "t", "id[[z]]"]])
def test_ppml_slopes_equal_glm_poisson(fe: list[str]) -> None:
    d = _panel(4)
    res = ppml(d, "count", ["x", "x2"], fe, vcov={"CRV1": "cl"}, tol=1e-12)
    x = _design(d, "id[z] + t")
    ref = sm.GLM(d["count"].to_numpy(), x, family=sm.families.Poisson()).fit(
        tol=1e-13, cov_type="cluster", cov_kwds={"groups": d["cl"].to_numpy()}
    )
    np.testing.assert_allclose(res.beta, ref.params[:2], rtol=0, atol=1e-6)
    assert res.extra["k_dof"] == np.linalg.matrix_rank(x)
    np.testing.assert_allclose(np.sqrt(np.diag(res.cov_matrix)), ref.bse[:2], rtol=1e-6)
    with pytest.raises(ModelSpecError, match="varying slopes"):
        res.fixef()


def test_demean_projects_on_the_slope_columns_exactly() -> None:
    """The weighted residual of two columns on [D_id, D_t, D_id z1, D_id z2] by hand."""
    rng = np.random.default_rng(5)
    n = 300
    idc, t = rng.integers(0, 12, n), rng.integers(0, 5, n)
    z = np.column_stack([rng.normal(size=n) + idc, rng.normal(size=n)])
    z[idc == 3, 1] = 2.0  # a group where the second slope variable does not vary
    w = rng.uniform(0.5, 2.0, n)
    fe = FixedEffects(np.column_stack([idc, t]), ["id", "t"])
    fe.slopes = [Slopes(idc, 12, z, True, "id[z1,z2]", 0)]
    v = rng.normal(size=(n, 2))
    out = demean(v, fe, w, tol=1e-13)
    dd = np.eye(12)[idc]
    a = np.column_stack([dd, np.eye(5)[t], dd * z[:, [0]], dd * z[:, [1]]])
    sw = np.sqrt(w)[:, None]
    coef = np.linalg.lstsq(a * sw, v * sw, rcond=None)[0]
    np.testing.assert_allclose(out, v - a @ coef, rtol=0, atol=1e-9)
    rank = np.linalg.matrix_rank(a)
    assert rank == 12 + 5 - 1 + 12 + 11
    assert fe.degrees_of_freedom() == rank == absorbed_rank(fe)
    assert fe_dof(fe) == rank


def test_missing_slope_variable_is_dropped_as_missing() -> None:
    d = _panel(6)
    d.loc[[3, 10], "z"] = np.nan
    res = feols(d, "y", ["x"], fe=["id[z]", "t"])
    assert res.dropped["missing"] == 2
    ref = feols(d.dropna(subset=["z"]), "y", ["x"], fe=["id[z]", "t"])
    np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-12)


@pytest.mark.parametrize("bad", ["id[z", "id[[z]", "id[]", "id[z+1]"])
def test_malformed_slope_terms_are_errors(bad: str) -> None:
    d = _panel(7)
    with pytest.raises(ModelSpecError, match=r"varying-slope|unbalanced"):
        feols(d, "y", ["x"], fe=[bad, "t"])
    with pytest.raises(ModelSpecError, match=r"varying-slope|unbalanced"):
        ti.feols(f"y ~ x | {bad} + t", d)


def test_parse_slope_term() -> None:
    t = parse_slope_term("exp^year[ z1 , z2 ]")
    assert t is not None and t.group == ("exp", "year") and t.variables == ("z1", "z2")
    assert t.intercept and t.name == "exp^year[z1,z2]"
    s = parse_slope_term("id[[z]]")
    assert s is not None and not s.intercept and s.name == "id[[z]]"
    assert parse_slope_term("id") is None


def test_exact_rank_with_three_fixed_effects_where_the_rule_overcounts() -> None:
    """Three groupings in two disconnected blocks of the data: fixest's rule without
    force_exact, sum(levels) - (G - 1), misses the redundancy of the second block."""
    rng = np.random.default_rng(8)
    n = 400
    block = rng.integers(0, 2, n)  # two separate sub-panels: no unit shares a level across them
    a = block * 10 + rng.integers(0, 10, n)
    b = block * 6 + rng.integers(0, 6, n)
    c = block * 4 + rng.integers(0, 4, n)
    fe = FixedEffects.from_columns([a, b, c])
    dense = np.column_stack([np.eye(20)[a], np.eye(12)[b], np.eye(8)[c]])
    rank = int(np.linalg.matrix_rank(dense))
    rule = 20 + 12 + 8 - 2
    assert rank == rule - 2  # each of the two blocks has its own two redundancies
    assert fe.degrees_of_freedom() == rank
    assert absorbed_rank(fe) == rank
    # nested levels (c a function of a): rank removes c entirely; the rule counts it
    c2 = a // 5
    fe2 = FixedEffects.from_columns([a, b, c2])
    dense2 = np.column_stack([np.eye(20)[a], np.eye(12)[b], np.eye(4)[c2]])
    assert fe2.degrees_of_freedom() == np.linalg.matrix_rank(dense2)
    assert fe2.degrees_of_freedom() < 20 + 12 + 4 - 2
