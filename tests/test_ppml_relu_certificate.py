"""The randomized no-separation certificate that lets PPML skip the ReLU iteration (issue 16).

``_relu_none_certified`` says True only when no ``y = 0`` row can be separated: the set
``S = {A_Z g : A_P g = 0}`` (``A`` = regressors and fixed-effect dummies, ``P`` / ``Z`` the rows
with ``y > 0`` / ``y = 0``) is ``{0}``, i.e. ``rank(A_P) = rank(A)``. Checked here against that
rank computed densely on random small designs (both answers occur), on every separation example
of ppmlhdfe the other tests use (each must be refused, and the rows still found), on a design
where ``S`` is not ``{0}`` but nothing is separated (refused; the ReLU iteration then finds
nothing), and on a panel where it holds: the ReLU least squares is then never built, and the fit
is the one with the certificate switched off, number for number. The numpy and numba kernels
give the same answers.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pandas as pd
import pytest

from tradeimpact.core import kernels
from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.models.ppml import SeparationWarning, ppml

ppml_module = importlib.import_module("tradeimpact.models.ppml")
cert_module = importlib.import_module("tests.test_ppmlhdfe_mu_certificate")

BACKENDS = ["numpy"] + (["numba"] if kernels.have_numba() else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> object:
    before = kernels.backend()
    kernels.set_backend(request.param)
    yield request.param
    kernels.set_backend(before)


def _dense(x: np.ndarray, fe: FixedEffects) -> np.ndarray:
    blocks = [x]
    for g in range(fe.n_groupings):
        d = np.zeros((fe.n, fe.sizes[g]))
        d[np.arange(fe.n), fe.codes[:, g]] = 1.0
        blocks.append(d)
    return np.column_stack(blocks)


def _nothing_separable(x: np.ndarray, fe: FixedEffects, zero: np.ndarray) -> bool:
    """By hand: rank(A_P) == rank(A), A = [X, D] dense."""
    a = _dense(x, fe)
    return bool(np.linalg.matrix_rank(a[~zero]) == np.linalg.matrix_rank(a))


def _random_design(rng: np.random.Generator) -> tuple[np.ndarray, FixedEffects, np.ndarray]:
    n = int(rng.integers(12, 40))
    n_fe = int(rng.integers(1, 4))
    codes = np.column_stack([rng.integers(0, int(rng.integers(2, 7)), n) for _ in range(n_fe)])
    # dense codes 0..k-1 (FixedEffects counts levels as max + 1)
    codes = np.column_stack([np.unique(c, return_inverse=True)[1] for c in codes.T])
    k = int(rng.integers(0, 3))
    # small integers, often zero: exact degeneracies (a regressor zero on P) do happen
    x = (rng.integers(-1, 2, (n, k)) * (rng.random((n, k)) < 0.5)).astype(float)
    zero = rng.random(n) < rng.uniform(0.1, 0.7)
    return x, FixedEffects(codes), zero


def test_certificate_equals_the_rank_criterion_on_random_designs(backend: object) -> None:
    rng = np.random.default_rng(16)
    answers = []
    for _ in range(300):
        x, fe, zero = _random_design(rng)
        if not zero.any():
            continue
        got = ppml_module._relu_none_certified(x, fe, zero)
        assert got == _nothing_separable(x, fe, zero)
        answers.append(got)
    # both answers occur often enough for the comparison to mean something
    assert sum(answers) >= 40 and len(answers) - sum(answers) >= 40


@pytest.mark.parametrize("case", cert_module.CASES, ids=[c[0] for c in cert_module.CASES])
def test_every_ppmlhdfe_separation_example_is_refused(case: tuple, backend: object) -> None:
    _name, d, xs, fe_cols, rows, _ = case
    y = d["y"].to_numpy()
    x = d[xs].to_numpy() if xs else np.zeros((len(d), 0))
    if fe_cols:
        fe = FixedEffects.from_columns([d[c].to_numpy() for c in fe_cols])
    else:
        fe = FixedEffects(np.zeros((len(d), 1), dtype=np.int64))
    assert not ppml_module._relu_none_certified(x, fe, y == 0)
    # and the separated rows are still found by the ReLU check, as ppmlhdfe finds them
    keep = np.ones(len(d), dtype=bool)
    fe_arg = fe if fe_cols else None
    found = np.flatnonzero(ppml_module._relu_separated(y, x, fe_arg, keep)).tolist()
    assert set(found) <= set(rows) and found


def test_refused_without_separation_then_the_relu_iteration_finds_nothing(
    backend: object,
) -> None:
    """Two components of the y > 0 graph of (a, b), each a complete 3 x 3 block; two zero rows
    each link a level of one component with a level of the other: S = {(c, -c)} is not {0}, so
    no certificate, yet no z >= 0 is non-zero on it (nothing separated)."""
    a = [i for i in range(3) for _ in range(3)] + [3 + i for i in range(3) for _ in range(3)]
    b = [j for _ in range(3) for j in range(3)] + [3 + j for _ in range(3) for j in range(3)]
    a += [0, 3]
    b += [3, 0]
    y = np.array([1.0 + (i % 4) for i in range(18)] + [0.0, 0.0])
    fe = FixedEffects(np.column_stack([a, b]))
    x = np.zeros((20, 0))
    zero = y == 0
    assert not _nothing_separable(x, fe, zero)
    assert not ppml_module._relu_none_certified(x, fe, zero)
    keep = np.ones(20, dtype=bool)
    assert not ppml_module._relu_separated(y, x, fe, keep).any()
    d = pd.DataFrame({"y": y, "a": a, "b": b})
    res = ppml(d, "y", [], ["a", "b"])
    assert res.nobs == 20 and res.separation == {}


def _panel(seed: int = 5, n: int = 4000) -> pd.DataFrame:
    """SYNTHETIC exporter-year, importer-year and pair effects with about 30% zeros."""
    rng = np.random.default_rng(seed)
    e, i, t = rng.integers(0, 15, n), rng.integers(0, 15, n), rng.integers(0, 4, n)
    x = rng.normal(size=n)
    rta = (rng.random(n) < 0.3).astype(float)
    eta = 0.4 * x + 0.2 * rta + 0.5 * rng.normal(size=15)[e] - 0.5 * rng.normal(size=15)[i] - 0.6
    return pd.DataFrame(
        {
            "y": rng.poisson(np.exp(eta)).astype(float),
            "x": x,
            "rta": rta,
            "et": e * 10 + t,
            "it": i * 10 + t,
            "pair": e * 15 + i,
        }
    )


def test_certified_fit_skips_the_relu_step_and_equals_the_full_check(
    monkeypatch: pytest.MonkeyPatch, backend: object
) -> None:
    d = _panel()
    assert 0.2 < (d["y"] == 0).mean() < 0.5
    fe = ["et", "it", "pair"]
    with warnings.catch_warnings():
        # singletons and fe-separated groups of the random panel: dropped as the full check does
        warnings.simplefilter("ignore", SeparationWarning)
        full_calls: list[str] = []
        real_exact = ppml_module._relu_projector_exact

        def counted(*args: object) -> object:
            full_calls.append("exact")
            return real_exact(*args)

        # the certificate off: the ReLU iteration runs (the exact dense step on this size)
        monkeypatch.setattr(ppml_module, "_relu_none_certified", lambda *a: False)
        monkeypatch.setattr(ppml_module, "_relu_projector_exact", counted)
        full = ppml(d, "y", ["x", "rta"], fe, vcov={"CR1": "pair"})
        assert full_calls
        monkeypatch.undo()

        def refuse(*args: object) -> object:
            raise AssertionError("the ReLU least squares ran although the certificate held")

        monkeypatch.setattr(ppml_module, "_relu_projector_exact", refuse)
        monkeypatch.setattr(ppml_module, "_relu_projector_lsmr", refuse)
        fast = ppml(d, "y", ["x", "rta"], fe, vcov={"CR1": "pair"})
    assert fast.nobs == full.nobs and fast.dropped == full.dropped
    assert fast.separation == full.separation
    np.testing.assert_array_equal(fast.beta, full.beta)
    np.testing.assert_array_equal(fast.cov_matrix, full.cov_matrix)
    assert fast.deviance == full.deviance


def test_nonconvergence_certifies_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A demeaning stopped by its sweep limit gives no certificate (the full check runs)."""
    d = _panel()
    y = d["y"].to_numpy()
    x = d[["x", "rta"]].to_numpy()
    fe = FixedEffects.from_columns([d[c].to_numpy() for c in ("et", "it", "pair")])
    keep = ~ppml_module._fe_separated(y, fe, np.ones(len(d), dtype=bool))
    sub = fe.subset(keep)
    zero = y[keep] == 0
    assert ppml_module._relu_none_certified(x[keep], sub, zero)
    monkeypatch.setattr(ppml_module, "RELU_CERT_MAXITER", 1)
    assert not ppml_module._relu_none_certified(x[keep], sub, zero)
