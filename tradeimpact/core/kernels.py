"""Compiled kernels (numba, optional) for the loops numpy cannot fuse, beside their numpy twins.

Three hot loops of the estimators are scatter/gather passes over integer codes that numpy can
only run as several full passes with temporaries (``bincount``, ``take``, ``add.at``):

* the alternating-projection sweeps of :func:`tradeimpact.core.fixed_effects.demean` (group sums
  by integer codes, then the group means subtracted, for every grouping; with Irons-Tuck
  acceleration), run here column by column in parallel (``numba.prange`` over the columns);
* the scatter-add of scores into cluster sums (:func:`cluster_sums` in
  :mod:`tradeimpact.core.covariance`, ``sum_{i in g} x_i r_i`` without forming the ``n x k`` score
  matrix);
* the bootstrap's cluster sums (the same kernel, :mod:`tradeimpact.inference.wild_bootstrap`).

Both paths do the same floating-point operations in the same order (each group sum is accumulated
row by row, as ``numpy.bincount`` and ``numpy.add.at`` do; no fast-math, so no re-association or
fused multiply-adds), except the two inner products of the Irons-Tuck step, which numpy takes
from BLAS: the results agree to rounding (``tests/test_core_kernels.py`` asserts 1e-10 relative on
every number of a fit).

Backend: :func:`backend` is ``"numba"`` when numba imports (the ``fast`` extra) and ``"numpy"``
otherwise; the environment variable ``TRADEIMPACT_KERNELS=numpy`` (or :func:`set_backend`, or a
``backend=`` argument where offered) selects the numpy path. numba's thread count is its own
(``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``; the benchmark's ``--threads`` sets both).
Everything is float64 (the codes are int32 or int64 as given).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Backend",
    "backend",
    "blas_threads",
    "demean_columns",
    "have_numba",
    "resolve_backend",
    "scatter_add",
    "set_backend",
    "wild_quadratics",
]

FloatArray = npt.NDArray[np.float64]
Backend = Literal["numba", "numpy"]

_numba: Any
try:  # optional dependency (the "fast" extra)
    import numba as _numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    _numba = None
    _HAVE_NUMBA = False

_choice: str = os.environ.get("TRADEIMPACT_KERNELS", "auto").strip().lower() or "auto"


def have_numba() -> bool:
    """True when numba is importable (the compiled kernels can run)."""
    return _HAVE_NUMBA


def set_backend(name: str) -> None:
    """Select the kernels: ``"numba"``, ``"numpy"`` or ``"auto"`` (numba when available).

    Raises
    ------
    ValueError
        An unknown name, or ``"numba"`` without numba installed.
    """
    global _choice
    resolve_backend(name)
    _choice = name


def resolve_backend(name: str | None = None) -> Backend:
    """The backend a call runs on: ``name`` (``None``: the process default, :func:`backend`)."""
    choice = _choice if name is None else str(name).strip().lower()
    if choice == "auto":
        return "numba" if _HAVE_NUMBA else "numpy"
    if choice == "numpy":
        return "numpy"
    if choice == "numba":
        if not _HAVE_NUMBA:
            raise ValueError(
                "backend 'numba' needs numba (pip install 'tradeimpact[fast]'); "
                "use 'numpy' or 'auto'"
            )
        return "numba"
    raise ValueError(f"kernel backend must be 'auto', 'numba' or 'numpy', not {name!r}")


def backend() -> Backend:
    """The process default backend (``TRADEIMPACT_KERNELS`` / :func:`set_backend`)."""
    return resolve_backend(None)


# ---------------------------------------------------------------------------------------------
# BLAS threads
# ---------------------------------------------------------------------------------------------
#: (setter, getter) symbol pairs of the OpenBLAS builds numpy and scipy ship (and a plain one)
_OPENBLAS_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_blas_libs: dict[str, tuple[Any, Any] | None] = {}
_blas_scan_modules = -1


def _openblas_controls() -> list[tuple[Any, Any]]:
    """(set, get) thread-count functions of every OpenBLAS loaded in this process.

    Found in ``/proc/self/maps`` (Linux; elsewhere none are found and :func:`blas_threads` does
    nothing); rescanned only when modules were imported since the last scan (scipy loads its
    own OpenBLAS).
    """
    global _blas_scan_modules
    if len(sys.modules) != _blas_scan_modules:
        _blas_scan_modules = len(sys.modules)
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
                paths = {ln.split()[-1] for ln in fh if "openblas" in ln.lower() and "/" in ln}
        except OSError:
            paths = set()
        for path in paths - set(_blas_libs):
            found = None
            try:
                lib = ctypes.CDLL(path)
                for set_name, get_name in _OPENBLAS_SYMBOLS:
                    if hasattr(lib, set_name) and hasattr(lib, get_name):
                        setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                        setter.argtypes, setter.restype = [ctypes.c_int], None
                        getter.argtypes, getter.restype = [], ctypes.c_int
                        found = (setter, getter)
                        break
            except OSError:
                found = None
            _blas_libs[path] = found
    return [c for c in _blas_libs.values() if c is not None]


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` OpenBLAS threads, then restore each library's count.

    For small problems: a BLAS call on a few million cells takes milliseconds, and OpenBLAS's
    worker threads, which spin after each call, cost more than they save when another process
    holds the other cores (the 1e5-row event study ran 0.46-0.74 s under load with the default
    threads, 0.07-0.12 s with one). The numbers are the same: OpenBLAS splits a product's rows
    and columns among threads, never the inner sum, so every entry is the same dot product.
    """
    ctl = _openblas_controls()
    before = [get() for _, get in ctl]
    try:
        for (setter, _), b in zip(ctl, before, strict=True):
            if b > n:
                setter(int(n))
        yield
    finally:
        for (setter, _), b in zip(ctl, before, strict=True):
            if b > n:
                setter(int(b))


# ---------------------------------------------------------------------------------------------
# numba kernels (compiled lazily, cached on disk)
# ---------------------------------------------------------------------------------------------
# below this many cells (rows x columns) `demean_columns` skips the thread pool
_PARALLEL_MIN_CELLS = 200_000

# The kernels are module-level functions, compiled lazily on first call and cached on disk
# (numba's cache=True). They were closures inside a factory before: numba keys a closure's cache
# entry on its pickled cell contents, and a pickled dispatcher carries a per-process id, so every
# process missed the cache and recompiled (3-11 s per process; 34 stale entries after a morning).
if _HAVE_NUMBA:
    _njit = _numba.njit
    _prange = _numba.prange
else:  # pragma: no cover - without numba the kernels stay plain functions and are never called

    def _njit(*args: Any, **kwargs: Any) -> Any:
        return lambda fn: fn

    _prange = range


@_njit(cache=True, nogil=True)
def _sweep(col, codes, offsets, inv_w, w, has_w, sums, prev, mid, mode, coef):  # type: ignore[no-untyped-def]
    """One sweep ``x <- x - P_g x`` over every grouping, in place; the largest step.

    Fused: before the first grouping's sums, ``mode`` 1 copies ``col`` to ``prev``, 2 to
    ``mid``, 3 applies the Irons-Tuck step ``col -= coef (col - mid)`` first then copies to
    ``prev``; each grouping's subtraction is fused with the next grouping's accumulation.
    """
    n = col.shape[0]
    n_g = codes.shape[0]
    biggest = 0.0
    s0 = offsets[0]
    e0 = offsets[1]
    for q in range(s0, e0):
        sums[q] = 0.0
    c0 = codes[0]
    for i in range(n):
        v = col[i]
        if mode == 3:
            v = v - coef * (v - mid[i])
            col[i] = v
            prev[i] = v
        elif mode == 1:
            prev[i] = v
        elif mode == 2:
            mid[i] = v
        if has_w:
            sums[s0 + c0[i]] += v * w[i]
        else:
            sums[s0 + c0[i]] += v
    for g in range(n_g):
        s = offsets[g]
        e = offsets[g + 1]
        for q in range(s, e):
            m = sums[q] * inv_w[q]
            sums[q] = m
            a = abs(m)
            if a > biggest:
                biggest = a
        cg = codes[g]
        if g + 1 < n_g:
            s1 = offsets[g + 1]
            e1 = offsets[g + 2]
            for q in range(s1, e1):
                sums[q] = 0.0
            c1 = codes[g + 1]
            for i in range(n):
                v = col[i] - sums[s + cg[i]]
                col[i] = v
                if has_w:
                    sums[s1 + c1[i]] += v * w[i]
                else:
                    sums[s1 + c1[i]] += v
        else:
            for i in range(n):
                col[i] = col[i] - sums[s + cg[i]]
    return biggest


@_njit(cache=True, nogil=True)
def _converge(col, codes, offsets, inv_w, w, has_w, tol, maxiter, accelerate_after):  # type: ignore[no-untyped-def]
    """Sweeps with Irons-Tuck acceleration until a plain sweep's largest step <= tol*scale.

    The iteration of ``fixed_effects.demean``'s numpy path, operation for operation.
    """
    n = col.shape[0]
    sums = np.empty(offsets[-1], dtype=np.float64)
    if codes.shape[0] == 1:
        _sweep(col, codes, offsets, inv_w, w, has_w, sums, col, col, 0, 0.0)
        return True
    scale = 0.0
    for i in range(n):
        a = abs(col[i])
        if a > scale:
            scale = a
    if scale < 1.0:
        scale = 1.0
    limit = tol * scale
    prev = np.empty(n, dtype=np.float64)
    mid = np.empty(n, dtype=np.float64)
    sweeps = 0
    mode = 1
    coef = 0.0
    while sweeps < maxiter:
        sweeps += 1
        if _sweep(col, codes, offsets, inv_w, w, has_w, sums, prev, mid, mode, coef) <= limit:
            return True
        sweeps += 1
        if _sweep(col, codes, offsets, inv_w, w, has_w, sums, prev, mid, 2, 0.0) <= limit:
            return True
        mode = 1
        if sweeps < 2 * accelerate_after:
            continue
        # col = F(F(x)), mid = F(x), prev = x; d1 = col - mid, d2 = d1 - (mid - prev)
        num = 0.0
        den = 0.0
        for i in range(n):
            d1 = col[i] - mid[i]
            d2 = d1 - (mid[i] - prev[i])
            num += d1 * d2
            den += d2 * d2
        if den > 0.0:
            coef = num / den
            mode = 3  # applied in the next sweep's first pass, before x is saved
    if mode == 3:  # the last step of an unconverged run is still taken, as in numpy
        for i in range(n):
            col[i] = col[i] - coef * (col[i] - mid[i])
    return False


@_njit(cache=True, parallel=True)
def _demean_cols(out, codes, offsets, inv_w, w, has_w, tol, maxiter, accelerate_after):  # type: ignore[no-untyped-def]
    k = out.shape[1]
    ok = np.ones(k, dtype=np.bool_)
    for j in _prange(k):
        ok[j] = _converge(
            out[:, j], codes, offsets, inv_w, w, has_w, tol, maxiter, accelerate_after
        )
    return ok


@_njit(cache=True, nogil=True)
def _demean_cols_serial(out, codes, offsets, inv_w, w, has_w, tol, maxiter, accelerate_after):  # type: ignore[no-untyped-def]
    # the same per-column `_converge` as `_demean_cols`, without the thread pool: each column
    # is an independent, identical sequence of operations, so the bytes agree exactly
    k = out.shape[1]
    ok = np.ones(k, dtype=np.bool_)
    for j in range(k):
        ok[j] = _converge(
            out[:, j], codes, offsets, inv_w, w, has_w, tol, maxiter, accelerate_after
        )
    return ok


@_njit(cache=True, parallel=True)
def _scatter(x, r, has_r, codes, n_groups):  # type: ignore[no-untyped-def]
    n, k = x.shape
    # one contiguous row per column j: the threads never write to the same cache line
    out = np.zeros((k, n_groups), dtype=np.float64)
    for j in _prange(k):
        for i in range(n):
            if has_r:
                out[j, codes[i]] += x[i, j] * r[i]
            else:
                out[j, codes[i]] += x[i, j]
    return out


@_njit(cache=True, parallel=True)
def _wild(vt, p0, p1, z0, z1, has_p):  # type: ignore[no-untyped-def]
    b_n, g_n = vt.shape
    d00 = np.zeros(b_n)
    d01 = np.zeros(b_n)
    d11 = np.zeros(b_n)
    for b in _prange(b_n):
        s00 = 0.0
        s01 = 0.0
        s11 = 0.0
        for g in range(g_n):
            if has_p:
                q0 = vt[b, g] * p0[g] - z0[b, g]
                q1 = vt[b, g] * p1[g] - z1[b, g]
            else:
                q0 = z0[b, g]
                q1 = z1[b, g]
            s00 += q0 * q0
            s01 += q0 * q1
            s11 += q1 * q1
        d00[b] = s00
        d01[b] = s01
        d11[b] = s11
    return d00, d01, d11


def _kernels() -> dict[str, Any]:
    """The compiled kernels by name (numba must be importable)."""
    assert _HAVE_NUMBA
    return {
        "demean": _demean_cols,
        "demean_serial": _demean_cols_serial,
        "scatter": _scatter,
        "wild": _wild,
    }


# ---------------------------------------------------------------------------------------------
# the public entry points (both backends)
# ---------------------------------------------------------------------------------------------
def demean_columns(
    out: FloatArray,
    codes: npt.NDArray[np.integer[Any]],
    sizes: list[int],
    inv_group_w: list[FloatArray],
    weights: FloatArray | None,
    *,
    tol: float,
    maxiter: int,
    accelerate_after: int,
) -> npt.NDArray[np.bool_]:
    """Compiled alternating projections on every column of ``out`` (F-ordered), in place.

    ``codes`` is ``(G, n)`` C-contiguous (one row per grouping), ``inv_group_w[g]`` the inverse
    (weighted) group sizes. Returns per column whether it converged. The numpy path is
    :func:`tradeimpact.core.fixed_effects.demean` itself.
    """
    # Small problems (one column, or few cells) run serially: waking numba's thread pool costs
    # milliseconds per call, more than the sweeps themselves on the case study's many small
    # PPML / placebo fits (38,914 calls in one report build). Columns are independent, so both
    # kernels give the same bytes.
    serial = out.shape[1] < 2 or out.size < _PARALLEL_MIN_CELLS
    kern = _kernels()["demean_serial" if serial else "demean"]
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)
    inv_w = np.concatenate(inv_group_w) if inv_group_w else np.zeros(0)
    has_w = weights is not None
    w = np.ascontiguousarray(weights, dtype=np.float64) if has_w else np.zeros(1)
    ok = kern(out, codes, offsets, inv_w, w, has_w, float(tol), int(maxiter), int(accelerate_after))
    return np.asarray(ok, dtype=bool)


def scatter_add(
    x: npt.ArrayLike,
    codes: npt.NDArray[np.integer[Any]],
    n_groups: int,
    row_weights: npt.ArrayLike | None = None,
    *,
    backend: str | None = None,
) -> FloatArray:
    """Group sums ``out[g, j] = sum_{i: codes_i = g} x_ij r_i`` (``r`` = ``row_weights``, or 1).

    Accumulated row by row in both backends (as ``numpy.add.at``), so the two agree exactly;
    without forming the ``n x k`` product ``x r``. Returns ``(n_groups, k)`` (``(n_groups,)`` for
    a 1-d ``x``).
    """
    arr = np.asarray(x, dtype=np.float64)
    one_d = arr.ndim == 1
    arr = arr.reshape(arr.shape[0], -1)
    r = None if row_weights is None else np.asarray(row_weights, dtype=np.float64).ravel()
    c = np.asarray(codes)
    if resolve_backend(backend) == "numba" and arr.shape[0] > 0:
        xf = arr if arr.flags.f_contiguous else np.asfortranarray(arr)
        res = _kernels()["scatter"](
            xf, np.zeros(1) if r is None else r, r is not None, c, int(n_groups)
        )
        out = np.ascontiguousarray(np.asarray(res, dtype=np.float64).T)
    else:
        out = np.empty((int(n_groups), arr.shape[1]))
        for j in range(arr.shape[1]):
            col = arr[:, j] if r is None else arr[:, j] * r
            out[:, j] = np.bincount(c, weights=col, minlength=int(n_groups))
    return out[:, 0] if one_d else out


def wild_quadratics(
    vt: FloatArray,
    p0: FloatArray,
    p1: FloatArray,
    z0: FloatArray,
    z1: FloatArray,
    has_p: bool,
    *,
    backend: str | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per draw ``b`` the inner products of ``q0_b = p0 o v_b - z0_b`` and ``q1_b`` (the wild
    bootstrap's ``||Q0 v||^2``, ``<Q0 v, Q1 v>``, ``||Q1 v||^2``; ``q_r = z_r`` when ``has_p`` is
    false). ``vt``, ``z0``, ``z1`` are ``(B, G)``: draws as rows.

    The compiled kernel forms no ``B x G`` temporary; the numpy path forms ``q0`` and ``q1``.
    The two sum over clusters in a different order: equal to rounding.
    """
    if resolve_backend(backend) == "numba" and vt.shape[0] and vt.shape[1]:
        d00, d01, d11 = _kernels()["wild"](
            np.ascontiguousarray(vt),
            np.ascontiguousarray(p0, dtype=np.float64),
            np.ascontiguousarray(p1, dtype=np.float64),
            np.ascontiguousarray(z0),
            np.ascontiguousarray(z1),
            bool(has_p),
        )
        return np.asarray(d00), np.asarray(d01), np.asarray(d11)
    q0 = vt * p0 - z0 if has_p else z0
    q1 = vt * p1 - z1 if has_p else z1
    return (
        np.einsum("bg,bg->b", q0, q0),
        np.einsum("bg,bg->b", q0, q1),
        np.einsum("bg,bg->b", q1, q1),
    )
