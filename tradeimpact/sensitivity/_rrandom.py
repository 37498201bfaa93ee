"""R's default random number stream (Mersenne-Twister, ``set.seed``, inversion ``rnorm``).

HonestDiD's least-favourable critical value and its folded-normal quantile are Monte Carlo
quantities computed in R after ``set.seed(0)``. Reproducing that exact stream makes our
intervals agree with the R package's to the printed digit instead of to simulation error.

R's seeding (``src/main/RNG.c``): ``seed`` is scrambled 50 times by ``seed = 69069 seed + 1``
(32-bit), then 625 further values fill the generator (the first is the position, reset to 624).
``unif_rand`` is the Mersenne-Twister output times ``2.328306437080797e-10`` kept inside (0, 1);
``norm_rand`` (INVERSION) is ``qnorm((floor(2^27 u1) + u2) / 2^27)``. numpy's ``MT19937`` produces
the same 32-bit outputs once given the same state. Checked against R's ``set.seed(0); rnorm(5)``
in ``tests/test_honestdid.py``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

FloatArray = npt.NDArray[np.float64]

_I2_32M1 = 2.328306437080797e-10
_BIG = 134217728.0  # 2^27


class RRandom:
    """R's ``set.seed(seed)`` stream: :meth:`runif` and :meth:`rnorm` as R draws them."""

    def __init__(self, seed: int) -> None:
        s = int(seed) & 0xFFFFFFFF
        for _ in range(50):
            s = (69069 * s + 1) & 0xFFFFFFFF
        key = np.empty(625, dtype=np.uint32)
        for j in range(625):
            s = (69069 * s + 1) & 0xFFFFFFFF
            key[j] = s
        self._bg = np.random.MT19937(0)
        self._bg.state = {"bit_generator": "MT19937", "state": {"key": key[1:], "pos": 624}}

    def runif(self, n: int) -> FloatArray:
        """``runif(n)``."""
        u = self._bg.random_raw(n).astype(np.float64) * 2.3283064365386963e-10
        u[u <= 0.0] = 0.5 * _I2_32M1
        u[1.0 - u <= 0.0] = 1.0 - 0.5 * _I2_32M1
        return np.asarray(u, dtype=np.float64)

    def rnorm(self, n: int) -> FloatArray:
        """``rnorm(n)`` (inversion: two uniforms per normal)."""
        u = self.runif(2 * n).reshape(n, 2)
        return np.asarray(ndtri((np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG), dtype=np.float64)


def rmvnorm(n: int, sigma: FloatArray, rng: RRandom) -> FloatArray:
    """``mvtnorm::rmvnorm(n, sigma = sigma)`` (method "eigen"): rows are draws.

    ``R = V diag(sqrt(max(lambda, 0))) V'`` is the symmetric square root, so it does not depend
    on the signs of the eigenvectors; the normals fill the ``n x p`` matrix by row.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    p = sigma.shape[0]
    vals, vecs = np.linalg.eigh(sigma)
    root = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    z = rng.rnorm(n * p).reshape(n, p)
    return np.asarray(z @ root, dtype=np.float64)
