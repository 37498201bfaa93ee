"""Irons-Tuck acceleration of the alternating projections: same limit, fewer sweeps.

SYNTHETIC worker x firm panel with little mobility: two highly correlated fixed effects, the case
where plain alternating projections converge slowly (Gaure 2013, section 4).
"""

from __future__ import annotations

import numpy as np
import pytest

import tradeimpact.core.fixed_effects as ab
from tradeimpact.core.fixed_effects import FixedEffects, demean


def _low_mobility(n_workers: int = 400, spells: int = 8, seed: int = 0) -> FixedEffects:
    rng = np.random.default_rng(seed)
    worker = np.repeat(np.arange(n_workers), spells)
    home = worker // 40  # 10 firms of 40 workers each
    move = rng.random(worker.size) < 0.02  # 2% of spells elsewhere: a weakly connected graph
    firm = np.where(move, rng.integers(0, 10, worker.size), home)
    return FixedEffects.from_columns([worker, firm])


def _dummy_residuals(x: np.ndarray, fe: FixedEffects, w: np.ndarray) -> np.ndarray:
    dummies = np.column_stack([np.eye(fe.sizes[g])[fe.codes[:, g]] for g in range(fe.n_groupings)])
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(dummies * sw[:, None], x * sw[:, None], rcond=None)[0]
    return np.asarray(x - dummies @ coef)


def _count_sweeps(monkeypatch: pytest.MonkeyPatch, accelerate_after: int, *args) -> tuple:  # type: ignore[no-untyped-def, type-arg]
    calls = [0]
    real = np.bincount

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(ab, "ACCELERATE_AFTER", accelerate_after)
        m.setattr(ab.np, "bincount", counting)
        # sweeps are counted on the numpy path (its bincount calls); the compiled path runs the
        # same iteration and is checked against it in tests/test_core_kernels.py
        out = demean(*args, backend="numpy")
    return out, calls[0]


@pytest.mark.parametrize("weighted", [False, True])
def test_accelerated_limit_equals_dummy_regression(
    monkeypatch: pytest.MonkeyPatch, weighted: bool
) -> None:
    fe = _low_mobility()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(fe.n, 2)) + fe.codes[:, 1:2] * 0.5
    w = rng.uniform(0.2, 3.0, fe.n) if weighted else np.ones(fe.n)
    want = _dummy_residuals(x, fe, w)
    fast, n_fast = _count_sweeps(monkeypatch, 2, x, fe, w if weighted else None)
    plain, n_plain = _count_sweeps(monkeypatch, 10**9, x, fe, w if weighted else None)
    np.testing.assert_allclose(fast, want, atol=1e-7)
    np.testing.assert_allclose(plain, want, atol=1e-7)
    # a slowly converging problem: acceleration needs several times fewer sweeps
    assert n_plain > 200 and n_fast * 3 < n_plain


def test_fast_problems_stop_after_two_plain_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A balanced two-way panel is exact after one sweep; the second confirms convergence."""
    unit = np.repeat(np.arange(30), 12)
    time = np.tile(np.arange(12), 30)
    fe = FixedEffects.from_columns([unit, time])
    x = np.random.default_rng(2).normal(size=unit.size)
    out, calls = _count_sweeps(monkeypatch, 2, x, fe)
    assert calls == 2 + 2 * 2  # the group weights, then 2 sweeps x 2 groupings
    np.testing.assert_allclose(
        out, _dummy_residuals(x[:, None], fe, np.ones(x.size))[:, 0], atol=1e-12
    )
