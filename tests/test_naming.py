"""One naming across the estimators (issue 13): the argument names cannot drift.

DESIGN.md fixes the names economists expect from fixest / pyfixest / R's did: ``y, unit, time,
cohort, ref, controls, weights, cluster``. Every estimator takes the ones that apply to it under
exactly those names (checked on the signatures, ``inspect.signature``); a synonym (``group``,
``period``, ``ref_p``, ``treat_date``, ...) is allowed only as a documented alias of the common
name; and the never-treated codes of :mod:`tradeimpact.core.cohort` (0, inf, null) give the same
estimates in ``event_study(cohort=...)``, ``sunab`` and ``att_gt``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from conftest import shared_path

import tradeimpact as ti
from tradeimpact.models.formula import feols_formula, fepois
from tradeimpact.models.linear import feols as feols_keywords
from tradeimpact.models.ppml import ppml as ppml_keywords

COMMON = ("y", "unit", "time", "cohort", "ref", "controls", "weights", "cluster")

#: estimator -> (its keyword API, the common names it takes, why the others do not apply)
ESTIMATORS: dict[str, tuple[Callable[..., Any], frozenset[str], str]] = {
    "did": (
        ti.did,
        frozenset({"y", "unit", "time", "controls", "weights", "cluster"}),
        "a 2x2 design: treated x post indicators (or one event_date), no relative periods",
    ),
    "event_study": (ti.event_study, frozenset(COMMON), ""),
    "sunab": (ti.sunab, frozenset(COMMON), ""),
    "att_gt": (
        ti.att_gt,
        frozenset({"y", "unit", "time", "cohort", "controls", "weights", "cluster"}),
        "base_period (did's) instead of a reference period",
    ),
    "feols": (
        feols_keywords,
        frozenset({"y", "weights"}),
        "regressors and fixed effects are the model (x, fe; or the formula); clustering is "
        "vcov={'CR1': col} as in pyfixest",
    ),
    "ppml": (ppml_keywords, frozenset({"y", "weights"}), "as feols"),
}

#: the names kept as documented aliases of a common name (old calls keep working)
ALIASES: dict[str, dict[str, str]] = {
    "sunab": {"period": "time", "ref_p": "ref"},
    "att_gt": {"group": "cohort"},
    "event_study": {"treat_date": "cohort"},
}

#: synonyms of the common names that no estimator may take except as a listed alias
SYNONYMS = frozenset(
    {
        "group", "gname", "first_treat", "treat_date", "g",
        "period", "tname", "t", "date",
        "idname", "id", "panel_id",
        "yname", "outcome_col", "depvar",
        "ref_p", "ref_period", "reference",
        "predictors", "covariates", "xformla", "covs",
        "clustervars", "cluster_var", "clusters",
        "weight", "w", "weightsname",
    }
)  # fmt: skip


def _params(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(fn).parameters)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_signature_takes_the_common_names(name: str) -> None:
    fn, expected, why = ESTIMATORS[name]
    params = _params(fn)
    missing = sorted(expected - set(params))
    assert not missing, f"{name} lacks the common argument(s) {missing}"
    for arg in expected:
        assert params[arg].kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ), f"{name}: {arg!r} must be passable by keyword"
    not_applicable = set(COMMON) - expected
    assert why or not not_applicable, f"{name}: say why {sorted(not_applicable)} do not apply"


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_no_synonym_except_documented_aliases(name: str) -> None:
    fn = ESTIMATORS[name][0]
    params = set(_params(fn))
    aliases = ALIASES.get(name, {})
    drift = sorted((params & SYNONYMS) - set(aliases))
    assert not drift, f"{name} takes {drift}: use the common names {COMMON}"
    for alias, common in aliases.items():
        assert common in params, f"{name}: alias {alias!r} of a name it does not take ({common!r})"
        doc = inspect.getdoc(fn) or ""
        assert alias in doc, f"{name}: the alias {alias!r} is not documented"


@pytest.mark.parametrize("name", ["event_study", "sunab", "att_gt"])
def test_panel_estimators_share_the_positional_order(name: str) -> None:
    """``f(data, y, unit, time, ...)`` and, where it is positional, ``cohort`` next."""
    params = list(_params(ESTIMATORS[name][0]))
    assert params[:4] == ["data", "y", "unit", "time"]
    if name != "event_study":
        assert params[4] == "cohort"


@pytest.mark.parametrize("fn", [feols_formula, fepois], ids=["feols", "fepois"])
def test_formula_front_ends_take_weights_by_name(fn: Callable[..., Any]) -> None:
    assert "weights" in _params(fn)


# -- the never-treated codes give identical estimates in every staggered estimator ---------------


@pytest.fixture(scope="module")
def base_stagg() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "base_stagg", "base_stagg.csv"))


def _coded(data: pl.DataFrame, code: float | None) -> pl.DataFrame:
    """base_stagg with its never-treated units (year_treated = 10000) coded ``code``."""
    return data.with_columns(
        pl.when(pl.col("year_treated") > 1000).then(pl.lit(code, dtype=pl.Float64))
        .otherwise(pl.col("year_treated")).alias("year_treated")
    )  # fmt: skip


def _fit(estimator: str, data: pl.DataFrame) -> np.ndarray:
    if estimator == "event_study":
        res = ti.event_study(
            data, "y", "id", "year", cohort="year_treated", window=(-4, 4), outcome="level",
            inference="cr1",
        )  # fmt: skip
        return np.concatenate([res.beta, np.sqrt(np.diag(res.cov_matrix))])
    if estimator == "sunab":
        res = ti.sunab(data, "y", "id", "year", "year_treated", controls=["x1"])
        agg = res.aggregate("simple")
        return np.concatenate([res.beta, res.std_errors.to_numpy(), agg.beta, agg.std_errors])
    res = ti.att_gt(data, "y", "id", "year", "year_treated")
    agg = res.aggregate("dynamic")
    return np.concatenate([res.beta, res.std_errors.to_numpy(), agg.beta, agg.std_errors])


@pytest.mark.parametrize("code", [0.0, np.inf, None], ids=["zero", "inf", "null"])
@pytest.mark.parametrize("estimator", ["event_study", "sunab", "att_gt"])
def test_never_treated_codes_agree(base_stagg: pl.DataFrame, estimator: str, code: Any) -> None:
    """The same panel with its never-treated units coded 10000 (fixest), 0 (did), inf and null:
    identical estimates and standard errors (1e-12)."""
    ref = _fit(estimator, base_stagg)
    got = _fit(estimator, _coded(base_stagg, code))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    if estimator == "sunab":  # and the published fixest number (tests/test_sunab.py)
        assert got[-2] == pytest.approx(-1.133749, abs=1e-6)


def _cluster_fit(estimator: str, data: pl.DataFrame, **kw: Any) -> np.ndarray:
    if estimator == "did":
        d = data.with_columns(
            (pl.col("year_treated") < 1000).cast(pl.Int8).alias("treat"),
            (pl.col("year") >= 6).cast(pl.Int8).alias("post"),
        )
        res = ti.did(d, "y", "treat", "post", "id", time="year", outcome="level",
                     inference="cr1", **kw)  # fmt: skip
    elif estimator == "event_study":
        res = ti.event_study(data, "y", "id", "year", cohort="year_treated", window=(-3, 3),
                             outcome="level", inference="cr1", **kw)  # fmt: skip
    elif estimator == "sunab":
        res = ti.sunab(data, "y", "id", "year", "year_treated", **kw)
    else:
        res = ti.att_gt(data, "y", "id", "year", "year_treated", **kw)
    return np.asarray(res.std_errors.to_numpy())


@pytest.mark.parametrize("estimator", ["did", "event_study", "sunab", "att_gt"])
def test_cluster_is_one_argument_everywhere(base_stagg: pl.DataFrame, estimator: str) -> None:
    """``cluster=col`` is the CR1 covariance by ``col`` (fixest's ``cluster = ~col``): the same
    standard errors as ``vcov={"CR1": col}`` (att_gt: as its default, clustered by unit), and
    other than clustering by a coarser column."""
    data = base_stagg.with_columns((pl.col("id") % 19).alias("block"))
    by_unit = _cluster_fit(estimator, data, cluster="id")
    if estimator == "att_gt":
        ref = _cluster_fit(estimator, data)
    else:
        ref = _cluster_fit(estimator, data, vcov={"CR1": "id"})
    np.testing.assert_allclose(by_unit, ref, rtol=1e-12)
    coarse = _cluster_fit(estimator, data, cluster="block")
    assert not np.allclose(coarse, by_unit, rtol=1e-3)
