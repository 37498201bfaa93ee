"""Compiled kernels (numba) against the numpy path and independent references (issue 16).

A kernel that changes any number of a fit by more than 1e-10 relative is a bug: every check here
compares the two backends on the same SYNTHETIC data, and each against a reference computed
another way (dummy-variable least squares, ``numpy.add.at``, ``numpy.unique``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest

from tradeimpact.core import kernels
from tradeimpact.core.covariance import _codes, cluster_sums, n_clusters
from tradeimpact.core.fixed_effects import FixedEffects, demean, factorize
from tradeimpact.models.linear import feols

pytest.importorskip("numba")

RTOL = 1e-10


@pytest.fixture
def numpy_backend() -> Iterator[None]:
    before = kernels._choice
    kernels.set_backend("numpy")
    yield
    kernels.set_backend(before)


def _panel(n_units: int = 300, n_t: int = 12, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_t)
    t = np.tile(np.arange(n_t), n_units)
    keep = rng.random(unit.size) < 0.9  # unbalanced: the sweeps need several iterations
    unit, t = unit[keep], t[keep]
    region = unit % 7
    x1 = rng.normal(size=unit.size) + 0.3 * unit / n_units
    x2 = (rng.random(unit.size) < 0.3).astype(float)
    y = 0.5 * x1 - 0.2 * x2 + rng.normal(size=n_units)[unit] + 0.1 * t + rng.normal(size=unit.size)
    return pl.DataFrame(
        {"unit": unit, "t": t, "region": region, "x1": x1, "x2": x2, "y": y,
         "w": rng.uniform(0.5, 2.0, unit.size)}
    )  # fmt: skip


def _dummy_residuals(x: np.ndarray, fe: FixedEffects, w: np.ndarray | None) -> np.ndarray:
    d = np.column_stack([np.eye(fe.sizes[g])[fe.codes[:, g]] for g in range(fe.n_groupings)])
    sw = np.ones(x.shape[0]) if w is None else np.sqrt(w)
    coef = np.linalg.lstsq(d * sw[:, None], x * sw[:, None], rcond=None)[0]
    return np.asarray(x - d @ coef)


@pytest.mark.parametrize("groupings", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_demean_kernel_equals_numpy_and_dummy_regression(groupings: int, weighted: bool) -> None:
    rng = np.random.default_rng(groupings)
    n = 3000
    cols = [rng.integers(0, 60, n), rng.integers(0, 12, n), rng.integers(0, 5, n)][:groupings]
    fe = FixedEffects.from_columns(cols)
    x = rng.normal(size=(n, 4)) + cols[0][:, None] * 0.05
    w = rng.uniform(0.3, 3.0, n) if weighted else None
    a = demean(x, fe, w, backend="numpy", tol=1e-12)
    b = demean(x, fe, w, backend="numba", tol=1e-12)
    scale = np.abs(a).max()
    assert np.abs(a - b).max() <= RTOL * scale
    # the independent reference: residuals of the dummy-variable regression
    np.testing.assert_allclose(b, _dummy_residuals(x, fe, w), atol=1e-8 * scale)


def test_demean_in_place_and_fortran_order() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    fe = FixedEffects.from_columns([rng.integers(0, 40, n), rng.integers(0, 9, n)])
    x = rng.normal(size=(n, 3))
    want = demean(x, fe, backend="numpy")
    for kind in ("numpy", "numba"):
        xf = np.asfortranarray(x)
        got = demean(xf, fe, in_place=True, backend=kind)
        assert got is xf  # no copy
        assert np.abs(got - want).max() <= RTOL * np.abs(want).max()
        f_out = demean(x, fe, order="F", backend=kind)
        assert f_out.flags.f_contiguous
        np.testing.assert_allclose(f_out, want, rtol=0, atol=RTOL * np.abs(want).max())
    with pytest.raises(ValueError, match="Fortran"):
        demean(np.ascontiguousarray(x), fe, in_place=True)


@pytest.mark.parametrize("weighted", [False, True])
def test_demean_serial_and_threaded_kernels_agree_bytewise(
    weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small problems skip the thread pool; the report's bytes depend on both paths agreeing exactly
    rng = np.random.default_rng(11)
    n = 2500
    cols = [rng.integers(0, 50, n), rng.integers(0, 11, n), rng.integers(0, 4, n)]
    fe = FixedEffects.from_columns(cols)
    x = rng.normal(size=(n, 5)) + cols[0][:, None] * 0.05
    w = rng.uniform(0.3, 3.0, n) if weighted else None
    serial = demean(x, fe, w, backend="numba", tol=1e-12)
    monkeypatch.setattr(kernels, "_PARALLEL_MIN_CELLS", 0)
    threaded = demean(x, fe, w, backend="numba", tol=1e-12)
    assert serial.tobytes() == threaded.tobytes()
    # and both are the fixed-effect residuals (independent reference: the dummy regression)
    scale = np.abs(serial).max()
    np.testing.assert_allclose(serial, _dummy_residuals(x, fe, w), atol=1e-8 * scale)
    # a single column always runs serially; it equals that column of the multi-column call
    one = demean(x[:, [2]], fe, w, backend="numba", tol=1e-12)
    assert one[:, 0].tobytes() == threaded[:, 2].copy().tobytes()


def test_scatter_add_equals_add_at_exactly() -> None:
    rng = np.random.default_rng(4)
    n, g = 5000, 37
    codes = rng.integers(0, g, n)
    x = rng.normal(size=(n, 3))
    r = rng.normal(size=n)
    want = np.zeros((g, 3))
    np.add.at(want, codes, x * r[:, None])  # the previous implementation
    for kind in ("numpy", "numba"):
        got = kernels.scatter_add(x, codes, g, r, backend=kind)
        assert np.array_equal(got, want)  # same additions in the same order: bit for bit
        np.testing.assert_array_equal(cluster_sums(x * r[:, None], codes, backend=kind), want)
    one = kernels.scatter_add(x[:, 0], codes, g, backend="numba")
    assert one.shape == (g,)
    np.testing.assert_array_equal(one, np.bincount(codes, weights=x[:, 0], minlength=g))


@pytest.mark.parametrize(
    "labels",
    [
        np.array([5, -3, 5, 12, -3, 0]),
        np.array([True, False, True]),
        np.arange(10, dtype=np.uint8)[::-1],
        np.array([1, 10**15, 1]),  # a wide range: the sort path
        np.array(["b", "a", "b"]),
    ],
)
def test_integer_codes_equal_unique_inverse(labels: np.ndarray) -> None:
    want = np.unique(labels, return_inverse=True)[1].ravel()
    np.testing.assert_array_equal(_codes(labels), want)
    codes, k = factorize(labels)
    np.testing.assert_array_equal(codes, want)
    assert k == np.unique(labels).size == n_clusters(labels)


@pytest.mark.parametrize(
    "vcov",
    [{"CR1": "unit"}, "hetero", "iid", {"CR1": "unit + t"}, "DK"],
)
@pytest.mark.parametrize("weights", [None, "w"])
def test_feols_same_numbers_on_both_backends(vcov: object, weights: str | None) -> None:
    frame = _panel()
    kw = {"fe": ["unit", "t"], "vcov": vcov, "weights": weights, "time": "t"}
    before = kernels._choice
    try:
        kernels.set_backend("numpy")
        a = feols(frame, "y", ["x1", "x2"], **kw)  # type: ignore[arg-type]
        kernels.set_backend("numba")
        b = feols(frame, "y", ["x1", "x2"], **kw)  # type: ignore[arg-type]
    finally:
        kernels.set_backend(before)
    np.testing.assert_allclose(b.beta, a.beta, rtol=RTOL, atol=0)
    np.testing.assert_allclose(b.cov_matrix, a.cov_matrix, rtol=RTOL, atol=0)
    np.testing.assert_allclose(b.extra["r2_within"], a.extra["r2_within"], rtol=RTOL)


def test_feols_numpy_backend_matches_dummy_ols(numpy_backend: None) -> None:
    """The numpy path, selected by set_backend, is the dummy-variable OLS estimate."""
    frame = _panel(n_units=60)
    res = feols(frame, "y", ["x1", "x2"], fe=["unit", "t"], vcov="iid")
    fe = FixedEffects.from_columns([frame["unit"].to_numpy(), frame["t"].to_numpy()])
    d = np.column_stack([np.eye(fe.sizes[g])[fe.codes[:, g]] for g in range(2)])
    x = np.column_stack([frame["x1"].to_numpy(), frame["x2"].to_numpy(), d])
    coef = np.linalg.lstsq(x, frame["y"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(res.beta, coef[:2], rtol=1e-8)


def test_backend_errors() -> None:
    with pytest.raises(ValueError, match="'auto', 'numba' or 'numpy'"):
        kernels.resolve_backend("fortran")
    with pytest.raises(ValueError, match="'auto', 'numba' or 'numpy'"):
        demean(np.zeros(3), FixedEffects(np.zeros(3, dtype=np.int64)), backend="cuda")


@pytest.mark.parametrize(
    ("g", "b", "kind"),
    [(6, 64, "rademacher"), (40, 300, "webb"), (20_000, 600, "rademacher")],
)
@pytest.mark.parametrize("block", [7, 256, 512])
def test_bootstrap_draws_as_rows_equal_the_column_blocks(
    g: int, b: int, kind: str, block: int
) -> None:
    """Enumeration, the wildboottest order and the chunked order: same draws, row by row."""
    from tradeimpact.inference.wild_bootstrap import BootstrapDraws

    draws = BootstrapDraws(g, b, kind, 11)
    cols = np.concatenate(list(draws.blocks(block)), axis=1)
    rows = np.concatenate(list(draws.blocks_t(block)), axis=0)
    assert rows.shape == (draws.B, g)
    np.testing.assert_array_equal(rows, cols.T)


def test_wild_quadratics_both_backends() -> None:
    rng = np.random.default_rng(8)
    vt = rng.choice([-1.0, 1.0], size=(50, 300))
    p0, p1 = rng.normal(size=300), rng.normal(size=300)
    z0, z1 = rng.normal(size=(50, 300)), rng.normal(size=(50, 300))
    q0, q1 = vt * p0 - z0, vt * p1 - z1  # by hand
    want = ((q0 * q0).sum(1), (q0 * q1).sum(1), (q1 * q1).sum(1))
    for kind in ("numpy", "numba"):
        for got, ref in zip(
            kernels.wild_quadratics(vt, p0, p1, z0, z1, True, backend=kind), want, strict=True
        ):
            np.testing.assert_allclose(got, ref, rtol=1e-12)
        plain = kernels.wild_quadratics(vt, p0, p1, z0, z1, False, backend=kind)
        np.testing.assert_allclose(plain[1], (z0 * z1).sum(1), rtol=1e-12)


_CACHE_PROBE = """
import json, numpy as np
from tradeimpact.core import kernels
from tradeimpact.core.fixed_effects import FixedEffects, demean
rng = np.random.default_rng(0)
n = 60_000
fe = FixedEffects.from_columns([rng.integers(0, 300, n), rng.integers(0, 20, n)])
x = rng.normal(size=(n, 4))
demean(x, fe, None, backend="numba")  # threaded (240,000 cells)
demean(x[:, :1].copy(), fe, None, backend="numba")  # serial
kernels.scatter_add(x, fe.codes[:, 0], 300, backend="numba")
print(json.dumps({k: sum(getattr(kernels, k).stats.cache_misses.values())
                  for k in ("_demean_cols", "_demean_cols_serial", "_scatter")}))
"""


def test_compiled_kernels_load_from_the_disk_cache_in_a_new_process() -> None:
    """A second process compiles nothing: the kernels were closures before, keyed on a pickled
    dispatcher that differs per process, so every process recompiled them (3-11 s each)."""
    import json
    import os
    import subprocess
    import sys

    cache = os.path.join(os.path.dirname(kernels.__file__), "__pycache__")
    if not os.access(os.path.dirname(cache), os.W_OK):
        pytest.skip("the package folder is read-only: numba cannot write its cache there")
    for k in ("_demean_cols", "_demean_cols_serial", "_scatter", "_converge", "_sweep"):
        assert getattr(kernels, k).py_func.__closure__ is None, k
    env = {**os.environ, "TRADEIMPACT_KERNELS": "numba"}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _CACHE_PROBE], capture_output=True, text=True, check=True,
                env=env,
            ).stdout.strip().splitlines()[-1]
        )
        for _ in range(2)
    ]  # fmt: skip
    assert runs[1] == {"_demean_cols": 0, "_demean_cols_serial": 0, "_scatter": 0}


def test_blas_threads_limits_then_restores_the_thread_counts() -> None:
    controls = kernels._openblas_controls()
    if not controls:
        pytest.skip("no OpenBLAS with a thread-count setter is loaded in this process")
    before = [get() for _, get in controls]
    with kernels.blas_threads(1):
        assert [get() for _, get in controls] == [1] * len(controls)
    assert [get() for _, get in controls] == before
    with pytest.raises(RuntimeError), kernels.blas_threads(1):
        raise RuntimeError("restored on the way out")
    assert [get() for _, get in controls] == before


def test_fit_with_one_blas_thread_equals_the_threaded_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small-fit rule (one BLAS thread) changes no number beyond rounding: a 1e5 x 12 fit
    with the rule forced off, then on, equal to 1e-10 (coefficients, CR1 covariance)."""
    from tradeimpact.models import linear

    rng = np.random.default_rng(21)
    n, k = 100_000, 12
    unit, t = rng.integers(0, 900, n), rng.integers(0, 60, n)
    fe = FixedEffects.from_columns([unit, t])
    x = rng.normal(size=(n, k)) + 0.01 * unit[:, None]
    y = x @ rng.normal(size=k) + 0.02 * unit + rng.normal(size=n)
    from tradeimpact.core.covariance import VcovSpec

    spec = VcovSpec("CR1", clusters=[unit], cluster_names=["unit"])
    names = [f"x{j}" for j in range(k)]
    monkeypatch.setattr(linear, "SERIAL_BLAS_MAX_CELLS", 0)
    threaded = linear.fit_feols(y, x, names, fe=fe, vcov=spec)
    monkeypatch.setattr(linear, "SERIAL_BLAS_MAX_CELLS", n * k)
    serial = linear.fit_feols(y, x, names, fe=fe, vcov=spec)
    np.testing.assert_allclose(serial.beta, threaded.beta, rtol=RTOL)
    np.testing.assert_allclose(serial.cov_matrix, threaded.cov_matrix, rtol=RTOL)
    # and the fit is right: the coefficients equal the within regression by lstsq
    xd, yd = demean(x, fe, None, tol=1e-12), demean(y, fe, None, tol=1e-12)
    np.testing.assert_allclose(serial.beta, np.linalg.lstsq(xd, yd, rcond=None)[0], rtol=1e-8)
