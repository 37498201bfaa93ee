"""Monte Carlo size and power of the one-treated-unit tests (issue 10); SYNTHETIC data, seeded.

Design (MacKinnon & Webb 2020 style, as in issue 10): 20 units x 60 periods, unit 0 treated from
period 30, unit and period effects N(0, 1), AR(1) errors ``e_it = 0.5 e_i,t-1 + sigma_i u_it``
(stationary start), ``sigma_i = 1`` for the controls and ``ratio`` for the treated unit (3, 2, 1,
1/3). Effects 0 (size) and 1 and 3 *control standard deviations* (the controls' stationary error
s.d., ``1 / sqrt(1 - 0.5^2)``) for power. Tests at 5%, two-sided:

* ``cr1``: CR1 t-test clustered by unit, t(G-1), fixest small-sample factor (``did()``'s default
  analytic test);
* ``ri_beta``: coefficient randomization inference (``inference="ri"``), all 20 assignments;
* ``ri_t_pre_sd`` (the headline, ``inference="ri_t"``): studentized RI, each assignment's
  estimate over its own pre-period residual s.d.;
* ``ri_t_cr1``: studentized RI over each assignment's own CR1 standard error (MacKinnon-Webb's RI-t);
* ``conley_taber``: Conley-Taber (2011), symmetric rule;
* ``ct_fp_group_size``: Ferman-Pinto (2019) with ``var(W|M) = A + B/M``; every unit is one
  aggregate observation per cell (equal ``M``), so it is Conley-Taber's test (the same decisions);
* ``ct_fp_pre_period``: Ferman-Pinto with each group's pre-period variance;
* ``wild``: restricted wild cluster bootstrap-t (Rademacher, B = 999), CR1 t.

Every statistic is computed from closed forms of the balanced two-way design (vectorised over
replications; the formulas are in :func:`statistics`); ``tests/test_few_treated_monte_carlo.py``
checks them against the public functions (``did``, ``randomization_inference``,
``studentized_randomization_inference``, ``conley_taber_panel``) draw by draw.

``python -m benchmarks.size [--reps 5000] [--seed 20260106] [--out reports]`` writes
``reports/size.md`` and ``reports/size.json`` (deterministic given the seed); ``nox -s size``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

N_UNITS, N_TIME, EVENT, RHO = 20, 60, 30, 0.5
SETTINGS: dict[str, float] = {
    "treated 3x noisier": 3.0,
    "treated 2x noisier": 2.0,
    "equal noise": 1.0,
    "treated 1/3 as noisy": 1.0 / 3.0,
}
EFFECTS = (0.0, 1.0, 3.0)  # in control standard deviations
CONTROL_SD = 1.0 / math.sqrt(1.0 - RHO**2)
WILD_B = 999
METHODS: dict[str, str] = {
    "cr1": "CR1 t-test, t(G-1) (did() analytic)",
    "ri_beta": "coefficient RI (inference='ri')",
    "ri_t_pre_sd": "studentized RI, own pre-period s.d. (headline; inference='ri_t')",
    "ri_t_cr1": "studentized RI, own CR1 s.e. (scale='cr1', MacKinnon-Webb RI-t)",
    "conley_taber": "Conley-Taber (2011), symmetric",
    "ct_fp_group_size": "Ferman-Pinto, var A + B/M (equal M here)",
    "ct_fp_pre_period": "Ferman-Pinto, pre-period variance",
    "wild": f"wild cluster bootstrap-t, restricted, Rademacher, B={WILD_B}",
}
SAME_TEST = {
    "conley_taber": "ri_beta",
    "ct_fp_group_size": "conley_taber",
    "ri_t_cr1": "ri_beta",
    "ct_fp_pre_period": "ri_t_pre_sd",
}


def simulate(reps: int, ratio: float, effect: float, rng: np.random.Generator) -> FloatArray:
    """SYNTHETIC outcomes, shape ``(reps, N_UNITS, N_TIME)``; unit 0 treated from ``EVENT``."""
    sigma = np.ones(N_UNITS)
    sigma[0] = ratio
    u = rng.normal(size=(reps, N_UNITS, N_TIME)) * sigma[None, :, None]
    e = np.empty_like(u)
    e[:, :, 0] = u[:, :, 0] / math.sqrt(1.0 - RHO**2)
    for t in range(1, N_TIME):
        e[:, :, t] = RHO * e[:, :, t - 1] + u[:, :, t]
    a_i = rng.normal(size=(reps, N_UNITS, 1))
    g_t = rng.normal(size=(reps, 1, N_TIME))
    y = a_i + g_t + e
    y[:, 0, EVENT:] += effect * CONTROL_SD
    return np.asarray(y, dtype=np.float64)


def _rank_p(stat: FloatArray) -> FloatArray:
    """``#{i : |s_i| >= |s_0|} / N`` per replication (ties within 1e-9 against the null)."""
    a = np.abs(stat)
    tol = 1e-9 * np.maximum(1.0, a[:, :1])
    return np.asarray((a >= a[:, :1] - tol).sum(axis=1) / a.shape[1], dtype=np.float64)


def statistics(y: FloatArray, rng: np.random.Generator) -> dict[str, FloatArray]:
    """P-values of every method for each replication (``y``: ``(reps, N, T)``, unit 0 treated).

    Balanced two-way closed forms: ``q_t = post_t - mean(post)``, ``Q = sum q^2``, ``D_i =
    sum_t q_t y_it - mean_j sum_t q_t y_jt``; the placebo estimate of unit ``i`` is
    ``beta_i = D_i / ((1 - 1/N) Q)`` and its CR1 cluster scores are
    ``(delta_gi - 1/N) (D_g - beta_i (delta_gi - 1/N) Q)``. Pre-period residuals are those of the
    two-way fit on periods ``< EVENT``; ``sigma_i`` their root mean square per unit.
    """
    _, n_u, n_t = y.shape
    post = (np.arange(n_t) >= EVENT).astype(float)
    q = post - post.mean()
    big_q = float(q @ q)
    delta = y @ q
    d = delta - delta.mean(axis=1, keepdims=True)  # (reps, N)
    den = (1 - 1 / n_u) * big_q
    beta = d / den
    n = n_u * n_t
    k_fix = n_u / (n_u - 1) * (n - 1) / (n - 1 - n_t)
    lev = np.eye(n_u) - 1.0 / n_u  # (i assigned, g cluster): delta_gi - 1/N
    # CR1 variance of every assignment: scores (reps, i, g)
    scores = lev[None] * (d[:, None, :] - beta[:, :, None] * lev[None] * big_q)
    var_cr1 = k_fix * (scores**2).sum(axis=2) / den**2
    t_cr1 = beta / np.sqrt(var_cr1)
    out: dict[str, FloatArray] = {}
    out["cr1"] = 2 * stats.t.sf(np.abs(t_cr1[:, 0]), n_u - 1)
    out["ri_beta"] = _rank_p(beta)
    out["ri_t_cr1"] = _rank_p(t_cr1)
    # pre-period two-way residuals
    yp = y[:, :, :EVENT]
    e = yp - yp.mean(axis=2, keepdims=True) - yp.mean(axis=1, keepdims=True)
    e = e + yp.mean(axis=(1, 2), keepdims=True)
    s2 = (e**2).mean(axis=2)  # (reps, N)
    out["ri_t_pre_sd"] = _rank_p(beta / np.sqrt(s2))
    # Conley-Taber: W_l(0) = sum_t d~_0t y~_lt / sum d~^2 = beta_l; p = (1 + #) / (1 + N0)
    a = np.abs(beta)
    tol = 1e-9 * np.maximum(1.0, a[:, :1])
    out["conley_taber"] = (1 + (a[:, 1:] >= a[:, :1] - tol).sum(axis=1)) / n_u
    out["ct_fp_group_size"] = out["conley_taber"].copy()  # equal M: factors are all 1
    fp = a[:, 1:] * np.sqrt(s2[:, :1] / s2[:, 1:])
    out["ct_fp_pre_period"] = (1 + (fp >= a[:, :1] - tol).sum(axis=1)) / n_u
    out["wild"] = _wild(d, t_cr1[:, 0], big_q, den, k_fix, rng)
    return out


def _wild(
    d: FloatArray,
    t0: FloatArray,
    big_q: float,
    den: float,
    k_fix: float,
    rng: np.random.Generator,
) -> FloatArray:
    """Restricted WCR bootstrap-t p-values: ``y* = v_g e~`` with ``e~`` the FE-only residuals."""
    reps, n_u = d.shape
    p = np.empty(reps)
    v = rng.choice([-1.0, 1.0], size=(WILD_B, n_u))
    for r in range(reps):
        ds = v * d[r][None, :]
        ds = ds - ds.mean(axis=1, keepdims=True)  # (B, N)
        bs = ds[:, 0] / den
        sc = -(1.0 / n_u) * (ds[:, 1:] + bs[:, None] * big_q / n_u)
        vs = k_fix * (sc**2).sum(axis=1) / den**2
        ts = bs / np.sqrt(vs)
        p[r] = float(np.mean(np.abs(ts) >= abs(t0[r]) - 1e-12))
    return p


def run(reps: int, seed: int) -> dict[str, Any]:
    """Rejection rates at 5% for every setting, effect and method (``seed`` fixes everything)."""
    rows = []
    for k, (label, ratio) in enumerate(SETTINGS.items()):
        for j, effect in enumerate(EFFECTS):
            rng = np.random.default_rng([seed, k, j])
            y = simulate(reps, ratio, effect, rng)
            pv = statistics(y, rng)
            rates = {m: float(np.mean(pv[m] <= 0.05 + 1e-12)) for m in METHODS}
            same = {m: bool(np.array_equal(pv[m] <= 0.05, pv[o] <= 0.05))
                    for m, o in SAME_TEST.items()}  # fmt: skip
            rows.append({"setting": label, "ratio": ratio, "effect_sd": effect,
                         "rates": rates, "same_decisions": same})  # fmt: skip
    return {
        "design": {
            "units": N_UNITS,
            "periods": N_TIME,
            "event": EVENT,
            "rho": RHO,
            "replications": reps,
            "seed": seed,
            "level": 0.05,
            "wild_B": WILD_B,
            "control_sd": CONTROL_SD,
        },
        "methods": METHODS,
        "rows": rows,
    }


SEVERAL_TREATED = (2, 3, 4, 5)


def _several_weights(k: int) -> tuple[FloatArray, FloatArray, int]:
    """Weights of every assignment of ``k`` of the units (units ``0..k-1`` actually treated).

    ``pre_var_model``: ``w_i(S)`` = 1/k on ``S``, -1/#controls on the controls, the treated
    units outside ``S`` left out; ``pre_sd``: every unit outside ``S`` a control, scale the
    pooled pre-period variance of ``S``.
    """
    import itertools

    combs = list(itertools.combinations(range(N_UNITS), k))
    treated = set(range(k))
    w_model = np.zeros((N_UNITS, len(combs)))
    w_all = np.full((N_UNITS, len(combs)), -1.0 / (N_UNITS - k))
    for j, c in enumerate(combs):
        ctrl = [
            i for i in range(N_UNITS) if i not in c and not (i in treated and set(c) != treated)
        ]
        w_model[list(c), j] = 1.0 / k
        w_model[ctrl, j] = -1.0 / len(ctrl)
        w_all[list(c), j] = 1.0 / k
    return w_model, w_all, combs.index(tuple(range(k)))


def several_treated(reps: int, seed: int) -> list[dict[str, Any]]:
    """Size at 5% of the studentized headline with ``k`` of 20 treated units (issue 10).

    Closed forms of the balanced two-way design (unit and period effects cancel from every
    contrast and every pre-period residual, so only the AR(1) errors are drawn): ``D_i`` = mean
    post minus mean pre of unit ``i``, ``s_i^2`` its mean squared pre-period two-way residual;
    ``pre_var_model``: ``t_S = sum_i w_i(S) D_i / sqrt(sum_i w_i(S)^2 s_i^2)``, ``pre_sd``:
    ``beta_S / sqrt(mean_{i in S} s_i^2)``; p over all ``C(20, k)`` assignments (the public
    function enumerates them for k <= 4 and draws 999 for k = 5). Checked against
    ``studentized_randomization_inference`` in ``tests/test_studentized_several_treated.py``.
    """
    out = []
    for k in SEVERAL_TREATED:
        w_model, w_all, a = _several_weights(k)
        m_s = (w_all > 0) / k
        for label, ratio in SETTINGS.items():
            rng = np.random.default_rng([seed, 100 + k, round(ratio * 3)])
            sigma = np.ones(N_UNITS)
            sigma[:k] = ratio
            n_model = n_sd = 0
            for start in range(0, reps, 250):
                r = min(250, reps - start)
                u = rng.normal(size=(r, N_UNITS, N_TIME)) * sigma[None, :, None]
                e = np.empty_like(u)
                e[:, :, 0] = u[:, :, 0] / math.sqrt(1.0 - RHO**2)
                for t in range(1, N_TIME):
                    e[:, :, t] = RHO * e[:, :, t - 1] + u[:, :, t]
                d = e[:, :, EVENT:].mean(-1) - e[:, :, :EVENT].mean(-1)
                pre = e[:, :, :EVENT]
                res = pre - pre.mean(2, keepdims=True) - pre.mean(1, keepdims=True)
                s2 = ((res + pre.mean((1, 2), keepdims=True)) ** 2).mean(-1)
                for w, var, key in ((w_model, s2 @ w_model**2, "m"), (w_all, s2 @ m_s, "s")):
                    t_abs = np.abs((d @ w) / np.sqrt(var))
                    rej = int(((t_abs >= t_abs[:, a : a + 1] * (1 - 1e-9)).mean(1) <= 0.05).sum())
                    if key == "m":
                        n_model += rej
                    else:
                        n_sd += rej
            out.append({"treated": k, "setting": label, "ratio": ratio,
                        "level": math.floor(0.05 * w_all.shape[1]) / w_all.shape[1],
                        "pre_var_model": n_model / reps, "pre_sd": n_sd / reps})  # fmt: skip
    return out


def several_markdown(rows: list[dict[str, Any]], reps: int) -> str:
    """Table of :func:`several_treated` (rejection rates in %)."""
    lines = [
        "## Several treated units (no effect)",
        "",
        f"k of {N_UNITS} units treated, their noise `ratio` x the controls', {reps} replications "
        "per cell; `pre_var_model` is did()'s default headline with 2-5 treated units (t over the "
        "s.e. modelled from each unit's pre-period variance, each placebo estimated without the "
        "treated units outside it), `pre_sd` the one-treated-unit scale; `level` the largest "
        "attainable rejection rate <= 5% of the exact test.",
        "",
        "| treated | setting | level | `pre_var_model` | `pre_sd` |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['treated']} | {r['setting']} | {100 * r['level']:.2f} | "
            f"{100 * r['pre_var_model']:.1f} | {100 * r['pre_sd']:.1f} |"
        )
    return "\n".join([*lines, ""])


def _mc_half_width(rate: float, reps: int) -> float:
    return 1.96 * math.sqrt(max(rate * (1 - rate), 0.05 * 0.95) / reps)


def to_markdown(res: dict[str, Any]) -> str:
    """The size table and the power table, with the Monte Carlo error and the identities."""
    des = res["design"]
    reps = des["replications"]
    meths = list(res["methods"])
    lines = [
        "# Size and power of the one-treated-unit tests (SYNTHETIC Monte Carlo)",
        "",
        f"{des['units']} units x {des['periods']} periods, one treated unit from period "
        f"{des['event']}, unit and period effects, AR(1) errors (rho {des['rho']}), "
        f"{reps} replications per cell, seed {des['seed']}, rejection rate (%) at 5%, two-sided. "
        f"Monte Carlo 95% half-width at 5%: +-{100 * _mc_half_width(0.05, reps):.1f} points. "
        "Generated by `python -m benchmarks.size` (`nox -s size`).",
        "",
        "Methods:",
        "",
        *[f"- `{m}`: {res['methods'][m]}" for m in meths],
        "",
        "## Size (no effect)",
        "",
        "| setting | " + " | ".join(f"`{m}`" for m in meths) + " |",
        "|---|" + "---:|" * len(meths),
    ]
    for row in res["rows"]:
        if row["effect_sd"] == 0:
            lines.append(
                f"| {row['setting']} | "
                + " | ".join(f"{100 * row['rates'][m]:.1f}" for m in meths)
                + " |"
            )
    lines += [
        "",
        "## Power (effect in control standard deviations)",
        "",
        "Power is comparable only between tests that keep their size: the rows of CR1, the "
        "coefficient tests (RI, Conley-Taber) where the treated unit is noisier and the wild "
        "bootstrap (which almost never rejects with one treated cluster) are not power.",
        "",
    ]
    lines += ["| setting | effect | " + " | ".join(f"`{m}`" for m in meths) + " |"]
    lines += ["|---|---:|" + "---:|" * len(meths)]
    for row in res["rows"]:
        if row["effect_sd"] > 0:
            lines.append(
                f"| {row['setting']} | {row['effect_sd']:g} | "
                + " | ".join(f"{100 * row['rates'][m]:.1f}" for m in meths)
                + " |"
            )
    lines += ["", "## The same test under two names", ""]
    for m, o in SAME_TEST.items():
        agree = all(r["same_decisions"][m] for r in res["rows"])
        lines.append(
            f"- `{m}` and `{o}`: {'identical decisions in every replication' if agree else 'differ'}"
            " (one treated unit, balanced panel)."
        )
    lines += [
        "",
        "Why: with one treated unit in a balanced panel Conley-Taber's placebo value of control l "
        "is l's placebo estimate (so CT = coefficient RI), the Ferman-Pinto group-size model is a "
        "constant when every group is one aggregate observation per cell (so it is CT), the "
        "treated cluster's own CR1 score is zero so the CR1 t of an assignment is a monotone "
        "function of |beta| (so RI-t with the CR1 scale = coefficient RI), and rescaling W_l by "
        "s_treated / s_l ranks as beta / s (so Ferman-Pinto's pre-period variant = RI-t with the "
        "own pre-period s.d.).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 5,000 per cell (about 35 s on one core): Monte Carlo half-width +-0.6 points at 5%, well
    # inside the +-1.5 points the headline must meet
    ap.add_argument("--reps", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=20260106)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.reps, args.seed)
    res["several_treated"] = several_treated(args.reps, args.seed)
    text = to_markdown(res) + "\n" + several_markdown(res["several_treated"], args.reps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "size.json").write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    (args.out / "size.md").write_text(text)
    print(text)
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
