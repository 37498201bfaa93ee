"""Monte Carlo size and power of staggered randomization inference; SYNTHETIC data, seeded.

Design: 30 units x 10 periods, unit and period effects N(0, 1), AR(1) errors
``e_it = 0.5 e_i,t-1 + sigma_i u_it`` (stationary start); 18 units treated in three cohorts of 6
(first treated in periods 4, 6, 8), 12 never treated; the dates are a uniform random permutation
across units (the design the test assumes). Effects: 0 (size) and a constant ``tau`` for power.
Settings of the unit noise ``sigma_i``:

* ``exchangeable``: ``sigma_i ~ U(0.5, 2)`` independent of the dates (the test is exact);
* ``treated 3x noisier``: the dates are handed out at random among the 18 units whose noise is
  3x that of the 12 never-treated ones (the assignment is not exchangeable with the noise);
* ``3 treated 3x noisier``: one unit per cohort (3 treated, 27 never treated), the treated
  units 3x noisier: the few-treated case of issue 10, where the coefficient test over-rejects;
* ``3 treated 1/3 as noisy``: the same with the treated units 1/3 as noisy as the controls.

Tests at 5%, two-sided, ``B`` random assignments plus the actual one
(:func:`tradeimpact.inference.staggered.staggered_randomization_inference`):
``twfe_coef`` (static TWFE coefficient), ``twfe_t`` (over its own CR1 s.e.), ``twfe_t_pre`` (over
its s.e. modelled from the units' pre-period residual variances), ``sunab_coef`` and
``cs_coef`` (Sun-Abraham / Callaway-Sant'Anna simple ATT, refitted per assignment; fewer
replications: they cost two fits per assignment). Reported with the binomial 99% band of 5%.

``python -m benchmarks.size_staggered [--reps 1000] [--refit-reps 100] [--seed 13]
[--out FILE.json]`` prints a Markdown table (deterministic given the seed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tradeimpact.inference.staggered import staggered_randomization_inference

N_UNITS, N_TIME, COHORTS, PER_COHORT, RHO = 30, 10, (4, 6, 8), 6, 0.5
SETTINGS = ("exchangeable", "treated 3x noisier", "3 treated 3x noisier", "3 treated 1/3 as noisy")


def panel(rng: np.random.Generator, tau: float, setting: str) -> pl.DataFrame:
    """One SYNTHETIC panel of the design above."""
    per_cohort = 1 if setting.startswith("3 treated") else PER_COHORT
    n_treated = per_cohort * len(COHORTS)
    dates = np.array([*np.repeat(COHORTS, per_cohort), *[0] * (N_UNITS - n_treated)], float)
    if setting == "exchangeable":
        dates = dates[rng.permutation(N_UNITS)]
        sigma = rng.uniform(0.5, 2.0, N_UNITS)
    else:  # the noisy units get the dates (at random among them); the quiet ones none
        dates[:n_treated] = dates[:n_treated][rng.permutation(n_treated)]
        ratio = 1.0 / 3.0 if setting.endswith("1/3 as noisy") else 3.0
        sigma = np.where(np.arange(N_UNITS) < n_treated, ratio, 1.0)
    e = np.empty((N_UNITS, N_TIME))
    e[:, 0] = rng.normal(size=N_UNITS) / np.sqrt(1 - RHO**2)
    for k in range(1, N_TIME):
        e[:, k] = RHO * e[:, k - 1] + rng.normal(size=N_UNITS)
    unit = np.repeat(np.arange(N_UNITS), N_TIME)
    t = np.tile(np.arange(1, N_TIME + 1), N_UNITS)
    c = np.repeat(dates, N_TIME)
    d = (c > 0) & (t >= c)
    y = (
        rng.normal(size=N_UNITS)[unit]
        + rng.normal(size=N_TIME)[t - 1]
        + (sigma[:, None] * e).ravel()
        + tau * d
    )
    return pl.DataFrame({"unit": unit, "time": t, "cohort": c, "y": y})


TESTS: dict[str, dict[str, Any]] = {
    "twfe_coef": {"estimator": "twfe", "statistic": "coef"},
    "twfe_t": {"estimator": "twfe", "statistic": "t"},
    "twfe_t_pre": {"estimator": "twfe", "statistic": "t_pre"},
    "sunab_coef": {"estimator": "sunab", "statistic": "coef"},
    "cs_coef": {"estimator": "cs", "statistic": "coef"},
}


def run(test: str, setting: str, tau: float, reps: int, n_perm: int, seed: int) -> dict[str, Any]:
    """Rejection rate at 5% over ``reps`` panels, with the seconds per panel."""
    rng = np.random.default_rng([seed, SETTINGS.index(setting), round(tau * 100)])
    rej = 0
    start = time.perf_counter()
    for r in range(reps):
        df = panel(rng, tau, setting)
        res = staggered_randomization_inference(
            df, "y", "unit", "time", "cohort", n_permutations=n_perm, seed=r, **TESTS[test]
        )
        rej += res.pvalue <= 0.05
    secs = (time.perf_counter() - start) / reps
    lo, hi = stats.binom.ppf(0.005, reps, 0.05) / reps, stats.binom.isf(0.005, reps, 0.05) / reps
    return {
        "test": test,
        "setting": setting,
        "tau": tau,
        "reps": reps,
        "B": n_perm,
        "rate": rej / reps,
        "band99": [float(lo), float(hi)],
        "sec_per_panel": secs,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="panels per cell (TWFE tests)")
    ap.add_argument("--refit-reps", type=int, default=100, help="panels per cell (SA, CS)")
    ap.add_argument("--perms", type=int, default=199, help="random assignments per panel")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=SETTINGS)
    ap.add_argument("--tests", nargs="*", default=list(TESTS), choices=list(TESTS))
    args = ap.parse_args(argv)
    rows = []
    print(
        "| setting | test | tau | panels | B | rejections at 5% | binomial 99% band of 5% | time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for setting in args.settings:
        for test in args.tests:
            refit = test in ("sunab_coef", "cs_coef")
            reps = args.refit_reps if refit else args.reps
            perms = min(args.perms, 49) if refit else args.perms
            for tau in (0.0, 1.0):
                rows.append(run(test, setting, tau, reps, perms, args.seed))
                r = rows[-1]
                print(
                    f"| {setting} | {test} | {tau:g} | {r['reps']} | {r['B']} | "
                    f"{100 * r['rate']:.1f}% | [{100 * r['band99'][0]:.1f}, "
                    f"{100 * r['band99'][1]:.1f}]% | {1000 * r['sec_per_panel']:.0f} ms |",
                    flush=True,
                )
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
