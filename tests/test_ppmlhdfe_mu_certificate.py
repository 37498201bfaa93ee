"""ppmlhdfe's ``mu`` separation method and the certificate of separation (issue 14, item 9).

Data and documented answers, from the ppmlhdfe repository (sergiocorreia/ppmlhdfe):

* ``guides/csv/fe3.csv`` (16 rows, ``y ~ x1 | i + j``) with the certificate published in
  ``guides/separation_benchmarks.md``: ``z = 2(i=4) - 2(i=1) - 2(i=6) - 6(j=1) - 6(j=3) - 2(j=4)
  - (j=5) + 8``, positive on rows 5, 6, 7, 8, 9, 11 and 12 (1-based) and zero elsewhere;
* the 10-row table of the same guide ("Lack of convergence"): rows 1 and 5 separated by
  ``z = x2 - x1``; ppmlhdfe's ``b[x3] = 0.066``;
* ``guides/csv/example1.csv`` (12 rows): the fifth row separated by ``z = x1 - x2``;
  ppmlhdfe's ``_b[_cons] = 0.59095`` (the guide's table);
* ``test/hard2.do`` (16 rows, three fixed effects): rows 11 and 13 (1-based) separated.

The certificate's defining properties are checked by hand: ``z >= 0``, ``z = 0`` where
``y > 0``, ``z > 0`` exactly on the separated rows, ``z`` in the column space of the regressors
and fixed-effect dummies (least squares reproduces it: ppmlhdfe's ``r2`` check, R^2 = 1), and
``z`` proportional to the published certificate where one is published.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest

from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.ppml import SeparationWarning, ppml

# the module, not the function ppml (tradeimpact.models re-exports the function under that name)
ppml_module = importlib.import_module("tradeimpact.models.ppml")

FE3 = pd.DataFrame(
    [
        (0, 0, 1, 1),
        (0, 3, 1, 1),
        (0, -2, 1, 1),
        (0, 2, 1, 3),
        (0, 2, 1, 5),
        (0, 0, 1, 6),
        (0, 7, 4, 1),
        (0, 1, 4, 4),
        (0, 2, 4, 5),
        (0, 1, 6, 1),
        (0, -2, 8, 4),
        (0, 3, 8, 6),
        (1, -5, 1, 1),
        (1, 1, 1, 3),
        (5, -2, 6, 3),
        (7, 2, 1, 3),
    ],
    columns=["y", "x1", "i", "j"],
).astype(float)
TEN = pd.DataFrame(
    [
        (0, 0, 1, 0),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 1, 9, 0),
        (2, 21, 21, 21),
        (3, 0, 0, 0),
        (5, 0, 0, 0),
        (7, 0, 0, 0),
        (10, -18, -18, 0),
    ],
    columns=["y", "x1", "x2", "x3"],
).astype(float)
EXAMPLE1 = pd.DataFrame(
    [
        (0, 0, 0, 2, 10),
        (0, 0, 0, 0, -2),
        (0, 0, 0, 0, 6),
        (0, 0, 0, 4, 5),
        (0, 1, 0, 0, 3),
        (2, 0, 0, 0, 3),
        (2, 0, 0, 0, 4),
        (2, 0, 0, -2, 15),
        (2, 0, 0, 0, -7),
        (4, 0, 0, -3, 15),
        (6, -3, -3, 0, 4),
        (6, 0, 0, 0, 4),
    ],
    columns=["y", "x1", "x2", "x3", "x4"],
).astype(float)
# test/hard2.do's input block: FTA ikt_fe jkt_fe ijk_fe (as in test_ppmlhdfe_separation.py)
HARD2 = pd.DataFrame(
    [
        (1, 1, 3, 1),
        (1, 2, 4, 1),
        (1, 1, 5, 2),
        (1, 2, 6, 2),
        (1, 3, 1, 3),
        (1, 4, 2, 3),
        (1, 3, 7, 4),
        (1, 4, 8, 4),
        (1, 5, 1, 5),
        (1, 6, 2, 5),
        (0, 5, 3, 6),
        (1, 6, 4, 6),
        (0, 5, 5, 7),
        (1, 6, 6, 7),
        (1, 5, 7, 8),
        (1, 6, 8, 8),
    ],
    columns=["y", "id1", "id2", "id3"],
).astype(float)


def _fe3_published_z(d: pd.DataFrame) -> np.ndarray:
    i, j = d["i"], d["j"]
    z = 2 * (i == 4) - 2 * (i == 1) - 2 * (i == 6) - 6 * (j == 1) - 6 * (j == 3) - 2 * (j == 4)
    return np.asarray(z - 1 * (j == 5) + 8, dtype=float)


# name, data, regressors, fixed effects, published separated rows (0-based), published z or None
CASES = [
    ("fe3", FE3, ["x1"], ["i", "j"], [4, 5, 6, 7, 8, 10, 11], _fe3_published_z(FE3)),
    ("ten", TEN, ["x1", "x2", "x3"], [], [0, 4], (TEN["x2"] - TEN["x1"]).to_numpy()),
    (
        "example1",
        EXAMPLE1,
        ["x1", "x2", "x3", "x4"],
        [],
        [4],
        (EXAMPLE1["x1"] - EXAMPLE1["x2"]).to_numpy(),
    ),
    ("hard2", HARD2, [], ["id1", "id2", "id3"], [10, 12], None),
]
METHODS = [("mu",), ("relu",), ("fe", "simple", "relu", "mu")]


def _fit(case: tuple, separation: tuple[str, ...], **kw: object):  # type: ignore[no-untyped-def]
    """The fit, with the warnings ppmlhdfe's output also has: the separation, and (ten,
    example1) the regressor left collinear once the separated rows are gone."""
    name, d, xs, fe, _, _ = case
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ppml(d, "y", xs, fe, separation=separation, drop_singletons=False, **kw)
    kinds = {type(w.message) for w in caught}
    expected = {SeparationWarning} | (
        {CollinearityWarning} if name in ("ten", "example1") else set()
    )
    assert kinds == expected
    return res


def _design(d: pd.DataFrame, xs: list[str], fe: list[str]) -> np.ndarray:
    blocks = [d[xs].to_numpy()] if xs else []
    blocks.append(np.ones((len(d), 1)))
    blocks += [pd.get_dummies(d[f].astype(int).astype(str), dtype=float).to_numpy() for f in fe]
    return np.column_stack(blocks)


@pytest.mark.parametrize("separation", METHODS, ids="+".join)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_separated_rows_are_ppmlhdfes(case: tuple, separation: tuple[str, ...]) -> None:
    res = _fit(case, separation)
    assert res.separation.rows == case[4]
    assert not res.sample[case[4]].any()
    if separation == ("mu",):
        assert list(res.separation) == ["mu"]


@pytest.mark.parametrize("separation", METHODS, ids="+".join)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_certificate_properties(case: tuple, separation: tuple[str, ...]) -> None:
    _, d, xs, fe, sep_rows, published = case
    res = _fit(case, separation)
    z = res.separation.certificate
    defined = ~np.isnan(z)
    # drop_singletons=False: every row is an estimation row or a separated one
    assert defined.all()
    y = d["y"].to_numpy()
    assert np.all(z[y > 0] == 0.0)
    assert np.all(z >= 0.0)
    assert np.flatnonzero(z > 0).tolist() == sep_rows
    # z = X gamma + D alpha: least squares on the regressors and dummies reproduces it (R^2 = 1)
    a = _design(d, xs, fe)
    coef = np.linalg.lstsq(a, z, rcond=None)[0]
    np.testing.assert_allclose(a @ coef, z, rtol=0, atol=1e-8)
    if published is not None:
        # the published certificate, up to a positive factor
        ratio = z[sep_rows] / published[sep_rows]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-8)
        assert ratio[0] > 0
        np.testing.assert_allclose(z, ratio[0] * published, rtol=0, atol=1e-8)


def test_mu_fit_equals_relu_fit_and_ppmlhdfes_estimates() -> None:
    ten = _fit(CASES[1], ("mu",))
    assert ten.params["x3"] == pytest.approx(0.066, abs=5e-4)  # ppmlhdfe: b[x3] = 0.066
    ten_relu = _fit(CASES[1], ("relu",))
    np.testing.assert_allclose(ten.beta, ten_relu.beta, rtol=1e-10)
    ex1 = _fit(CASES[2], ("mu",))
    # ppmlhdfe: _b[_cons] = 0.59095 (x2 dropped as collinear after the separated row goes)
    assert ex1.params["(Intercept)"] == pytest.approx(0.59095, abs=5e-6)
    for case in (CASES[0], CASES[3]):
        a, b = _fit(case, ("mu",)), _fit(case, ("relu",))
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
        assert a.deviance == pytest.approx(b.deviance, rel=1e-10)


@pytest.mark.parametrize("case", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_mu_on_the_large_design_path(case: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Designs too large for the dense solve run the mu method inside the IRLS with the fixed
    effects partialled out: the same rows on these cases."""
    monkeypatch.setattr(ppml_module, "RELU_EXACT_MAX_COLUMNS", 0)
    res = _fit(case, ("mu",))
    assert res.separation.rows == case[4]


def test_no_separation_certificate_is_zero() -> None:
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.poisson(3.0, 50).astype(float), "x": rng.normal(size=50)})
    d.loc[3, "y"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no separation warning either
        res = ppml(d, "y", ["x"], [], separation=("fe", "simple", "relu", "mu"))
    assert res.separation == {} and res.separation.rows == []
    z = res.separation.certificate
    assert np.isnan(z[3]) and np.all(z[np.arange(50) != 3] == 0.0)


def test_method_names_and_errors() -> None:
    a = _fit(CASES[1], ("ir", "simplex"))  # ppmlhdfe's names
    assert a.separation.rows == [0, 4]
    with pytest.raises(ModelSpecError, match="unknown separation checks"):
        ppml(TEN, "y", ["x1"], [], separation=("relu", "lp"))
    with pytest.raises(ModelSpecError, match="mu_tol"):
        ppml(TEN, "y", ["x1"], [], separation=("mu",), mu_tol=0.0)
