"""Fixed-effect absorption against an explicit dummy regression and pyfixest's demean."""

from __future__ import annotations

import numpy as np
import pytest

from tradeimpact.core.fixed_effects import FixedEffects, demean


def _dummy_residuals(x: np.ndarray, groups: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    dummies = np.column_stack([np.eye(int(g.max()) + 1)[g] for g in groups])
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(dummies * sw[:, None], x * sw[:, None], rcond=None)[0]
    return x - dummies @ coef


@pytest.mark.parametrize("n_fe", [1, 2, 3])
def test_demean_equals_dummy_regression(n_fe: int) -> None:
    rng = np.random.default_rng(n_fe)
    n = 2000
    groups = [rng.integers(0, k, n) for k in (40, 15, 6)[:n_fe]]
    x = rng.normal(size=(n, 3))
    w = rng.uniform(0.2, 3.0, n)
    fe = FixedEffects.from_columns(groups)
    got = demean(x, fe, w)
    want = _dummy_residuals(x, [fe.codes[:, g] for g in range(n_fe)], w)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_demean_equals_pyfixest() -> None:
    pdm = pytest.importorskip("pyfixest.estimation").demean
    rng = np.random.default_rng(7)
    n = 20_000
    fe = FixedEffects.from_columns([rng.integers(0, 300, n), rng.integers(0, 40, n)])
    x = rng.normal(size=(n, 2))
    w = np.ones(n)
    ref, converged = pdm(x.copy(), fe.codes.astype(np.uint64), w, tol=1e-12)
    assert converged
    np.testing.assert_allclose(demean(x, fe), ref, atol=1e-8)


def test_singletons_found_iteratively() -> None:
    # row 3 is alone in unit 2; once dropped, row 2 is alone in period 1
    unit = np.array([0, 0, 1, 2, 1, 0])
    period = np.array([0, 0, 1, 1, 2, 2])
    fe = FixedEffects.from_columns([unit, period])
    # then unit 1 (row 4), then period 2 (row 5): only rows 0-1 survive
    np.testing.assert_array_equal(fe.singleton_mask(), [False, False, True, True, True, True])


def test_degrees_of_freedom_two_way_connected() -> None:
    unit = np.repeat(np.arange(10), 5)
    period = np.tile(np.arange(5), 10)
    fe = FixedEffects.from_columns([unit, period])
    assert fe.degrees_of_freedom() == 10 + 5 - 1
