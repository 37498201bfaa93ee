"""Run the benchmarks and write ``reports/benchmarks.md`` and ``reports/benchmarks.json``.

``python -m benchmarks.run`` (what ``nox -s bench`` runs) measures, in one run on this machine:

1. ingest of generated Comtrade v1 CSV (1M, 10M rows), a bulk file (gzip tab-separated, 1M rows)
   and JSON (1M rows) into the store, beside pandas ``read_csv`` + ``to_parquet`` and polars
   ``scan_csv(...).sink_parquet(...)`` (``read_csv`` + ``write_parquet`` for the gzip file);
   ``--full`` adds 10M-row JSON and the 50M-row CSV memory check (``--memory-check`` adds only the
   latter: the 10M-row JSON baselines hold every record in memory);
2. a linear event study with unit (importer x product) and month fixed effects on 1e5, 1e6 and
   1e7 rows beside pyfixest ``feols`` and linearmodels ``PanelOLS``;
3. PPML with three high-dimensional fixed effects (AGTPA sample; a generated 1e6-row panel)
   beside pyfixest ``fepois``;
4. randomization inference with 999 placebo assignments on 1e5- and 1e6-row panels, relative to
   one fit (beside pyfixest's ``ritest`` at 1e5);
5. the wild cluster bootstrap (B = 9,999) on 1e6 rows in 10,000 clusters (time, peak memory);
6. ``nox -s report``'s build end to end.

The report lists every goal of issue 16 with its measured ratio (or time, or peak memory) and
met / NO, and each goal not measured in this run with the reason; the machine's load average at
the start and end of the run and of each measurement.

Each (task, implementation) runs in a fresh subprocess (its own peak memory), with a warm-up and
several timed repetitions; the table gives medians and the ratios the goals are stated in.
``--quick`` runs small sizes only (a smoke run); ``--only ingest,ppml`` selects tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import data

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    task: str
    label: str
    params: dict[str, Any]
    impls: list[str]
    #: (numerator impl, denominator impl, goal, direction, text): ratio = t_num / t_den
    goals: list[tuple[str, str, float, str, str]] = field(default_factory=list)
    rows: int | None = None
    memory_goal_mib: float | None = None
    #: the name ``--only`` selects the case by (default: the worker task)
    group: str = ""
    #: peak memory goal as a multiple of the fitted design (``design_mib`` from the worker)
    memory_goal_design: float | None = None
    #: wall-time goal in seconds (median of ``time_goal_impl``)
    time_goal_s: float | None = None
    time_goal_impl: str = "tradeimpact"
    #: an implementation deliberately not run, and why (shown in the report)
    not_run: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.group or self.task


def plan(full: bool, quick: bool, memory_check: bool = False) -> list[Case]:
    # issue 16: CSV (and the bulk files) within 0.8x of the raw polars pipeline on the same
    # file (validation costs at most a quarter); JSON >= 3x pandas
    csv_goals = [("polars", "tradeimpact", 0.8, ">=", "speed vs raw polars pipeline >= 0.8x")]
    json_goals = [("pandas", "tradeimpact", 3.0, ">=", "speed-up over pandas >= 3x")]
    sizes_csv = [100_000] if quick else [1_000_000, 10_000_000]
    sizes_json = [100_000] if quick else ([1_000_000, 10_000_000] if full else [1_000_000])
    es_sizes = [100_000] if quick else [100_000, 1_000_000, 10_000_000]
    cases: list[Case] = []
    for n in sizes_csv:
        cases.append(
            Case(
                "ingest_csv",
                f"Comtrade v1 CSV, {n:,} rows",
                {"rows": n, "reps": 3 if n <= 1_000_000 else 2},
                ["pandas", "polars", "tradeimpact"],
                csv_goals,
                rows=n,
            )
        )
    for n in [100_000] if quick else [1_000_000]:
        cases.append(
            Case(
                "ingest_bulk",
                f"Comtrade bulk file (gzip tab-separated), {n:,} rows",
                {"rows": n, "reps": 3},
                ["polars", "tradeimpact"],
                csv_goals,
                rows=n,
            )
        )
    for n in sizes_json:
        cases.append(
            Case(
                "ingest_json",
                f"Comtrade v1 JSON, {n:,} rows",
                {"rows": n, "reps": 3 if n <= 1_000_000 else 1},
                ["pandas", "polars", "tradeimpact"],
                json_goals,
                rows=n,
            )
        )
    if full or memory_check:
        cases.append(
            Case(
                "ingest_csv",
                "Comtrade v1 CSV, 50,000,000 rows (memory)",
                {"rows": 50_000_000, "reps": 1, "warmup": 0},
                ["tradeimpact"],
                [],
                rows=50_000_000,
                memory_goal_mib=2048.0,
                group="ingest_memory",
            )
        )
    for n in es_sizes:
        impls = ["tradeimpact", "pyfixest"] + (["linearmodels"] if full else [])
        cases.append(
            Case(
                "event_study",
                f"event study, unit + month FE, {n:,} rows",
                # 1e7: one timed fit, no warm-up (the compiled kernels load from numba's cache)
                ({"rows": n, "reps": 3} if n <= 1_000_000 else {"rows": n, "reps": 1, "warmup": 0})
                # at 1e7 every process is capped at 20 GiB of address space: pyfixest peaks at
                # 12.3 GiB resident there (73 s on this 2-core machine; under a 12 GiB cap its
                # allocation failed), and on a machine short of memory the cap makes it fail
                # alone instead of the out-of-memory killer taking another process
                | ({"as_limit_mib": 20_480} if n >= 10_000_000 else {}),
                impls,
                [("tradeimpact", "pyfixest", 0.8, "<=", "time / pyfixest <= 0.8")],
                rows=n,
                memory_goal_design=2.5 if n >= 10_000_000 else None,
                not_run=(
                    {}
                    if full
                    else {
                        "linearmodels": "runs with --full (PanelOLS: 34 s at 1e5 rows; info only)"
                    }
                ),
            )
        )
    # two rows, both with the goal: our default runs ppmlhdfe's separation checks (fe, simple,
    # relu), pyfixest's fepois only the fe check; tradeimpact_fe_check runs what pyfixest runs
    ppml_goal = [
        (
            "tradeimpact",
            "pyfixest",
            0.8,
            "<=",
            "time / pyfixest <= 0.8 (our default: separation checks fe + simple + relu, as "
            "ppmlhdfe; pyfixest's default: fe only)",
        ),
        (
            "tradeimpact_fe_check",
            "pyfixest",
            0.8,
            "<=",
            "time / pyfixest <= 0.8, like for like (ours with separation=('fe',), "
            "pyfixest's default check)",
        ),
    ]
    ppml_impls = ["tradeimpact", "tradeimpact_fe_check", "pyfixest"]
    cases.append(
        Case(
            "ppml",
            "PPML, AGTPA 1986-2006 (3 HDFE)",
            {"data": "agtpa", "reps": 3},
            ppml_impls,
            ppml_goal,
        )
    )
    n_ppml = 100_000 if quick else 1_000_000
    cases.append(
        Case(
            "ppml",
            f"PPML, generated {n_ppml:,} rows (3 HDFE)",
            {"data": "generated", "rows": n_ppml, "reps": 3},
            ppml_impls,
            ppml_goal,
        )
    )
    if full:
        n_big = data.ppml_panel_rows(10_000_000)  # 316 countries x 316 x 100 years
        cases.append(
            Case(
                "ppml",
                f"PPML, generated {n_big:,} rows (about 1e7; 3 HDFE)",
                {"data": "generated", "rows": 10_000_000, "reps": 1},
                ppml_impls,
                ppml_goal,
                rows=n_big,
            )
        )
    ri_sizes = [100_000] if quick else [100_000, 1_000_000]
    for n in ri_sizes:
        cases.append(
            Case(
                "ri",
                f"randomization inference, 999 placebos, {n:,} rows",
                {"rows": n, "placebos": 999, "reps": 3 if n <= 100_000 else 2},
                ["tradeimpact_one_fit", "tradeimpact_999"]
                + (["pyfixest_ritest_999"] if n <= 100_000 and full else []),
                [
                    (
                        "tradeimpact_999",
                        "tradeimpact_one_fit",
                        2.0,
                        "<=",
                        "999 placebos <= 2x one fit" + (" (goal at 1e6; info)" if n < 1e6 else ""),
                    )
                ]
                + (
                    [
                        (
                            "tradeimpact_999",
                            "pyfixest_ritest_999",
                            1.0,
                            "<=",
                            "<= pyfixest ritest (info)",
                        )
                    ]
                    if n <= 100_000 and full
                    else []
                ),
                rows=n,
                not_run=(
                    {}
                    if n <= 100_000 and full
                    else {
                        "pyfixest_ritest_999": "999 full refits (about 95 s at 1e5 rows): runs "
                        "with --full, at 1e5 rows only"
                    }
                ),
            )
        )
    n_wild = 100_000 if quick else 1_000_000
    cases.append(
        Case(
            "wild",
            f"wild cluster bootstrap, {n_wild:,} rows, {n_wild // 100:,} clusters, B = 9,999",
            {"rows": n_wild, "clusters": n_wild // 100, "B": 9999, "reps": 1},
            ["tradeimpact_one_fit", "tradeimpact"],
            [("tradeimpact", "tradeimpact_one_fit", float("inf"), "<=", "time / one fit (info)")],
            rows=n_wild,
            memory_goal_mib=2048.0,
            time_goal_s=30.0,
            not_run={
                "pyfixest_wildboottest": "wildboottest holds all G x B draws and an n x G matrix "
                "(10,000 clusters: tens of GiB; out of memory in issue 16): not run on a shared "
                "machine"
            },
        )
    )
    cases.append(
        Case(
            "report",
            "nox -s report build, shipped data",
            {"reps": 1, "warmup": 0},
            ["tradeimpact"],
            time_goal_s=30.0,
        )
    )
    return cases


def measure(case: Case, impl: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.worker", case.task, impl, json.dumps(case.params)]
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"impl": impl, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode < 0:
        sig = -done.returncode
        why = " (SIGKILL: most likely the out-of-memory killer)" if sig == 9 else ""
        cap = case.params.get("as_limit_mib")
        if sig == 6 and cap:
            why = f" (SIGABRT: an allocation failed under the {cap:,} MiB address-space cap)"
        return {"impl": impl, "error": f"killed by signal {sig}{why}"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"impl": impl, "error": tail[:300]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def prepare(case: Case, timeout: float) -> str | None:
    """Generate the case's input file in a process of its own; the error text if that failed."""
    cmd = [sys.executable, "-m", "benchmarks.worker", "prepare", case.task, json.dumps(case.params)]
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"generating the input timed out after {timeout:.0f} s"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"generating the input failed: {tail[:300]}"
    return None


def machine() -> dict[str, Any]:
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) // 1024
    except OSError:
        pass
    import numpy
    import polars

    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "polars": polars.__version__,
    }
    for mod in ("pandas", "pyfixest", "linearmodels"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = "absent"
    return {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "memory_mib": mem,
        "platform": platform.platform(),
        "versions": versions,
    }


#: Thread-count variables set by ``--threads`` (same value for every implementation).
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "POLARS_MAX_THREADS",
)


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Old results with the re-measured cases (same label) replaced, new ones in plan order."""
    order = [c.label for c in plan(True, False, True)] + [c.label for c in plan(False, True)]
    by_label = {r["label"]: r for r in old}
    by_label.update({r["label"]: r for r in new})
    rank = {label: i for i, label in enumerate(dict.fromkeys(order))}
    # a case no longer in the plan (renamed or removed) is dropped, not shown stale
    return sorted(
        (r for r in by_label.values() if r["label"] in rank), key=lambda r: rank[r["label"]]
    )


def regoal(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result's goals evaluated again from its measurements with the current plan's goals
    (results kept from an earlier run by ``--update`` show today's goals, not those of then)."""
    cases = {c.label: c for c in [*plan(True, False, True), *plan(False, True)]}
    out = []
    for r in results:
        case = cases.get(r["label"])
        if case is not None:
            meas = {m["impl"]: m for m in r["measurements"]}
            r = {**r, "goals": evaluate(case, meas), "not_run": dict(case.not_run)}
        out.append(r)
    return out


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def evaluate(case: Case, meas: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every goal of ``case`` with its measured value and ``yes`` / ``NO`` / ``not measured (why)``."""

    def failed(*impls: str) -> str:
        why = [f"{k}: {meas[k]['error']}" for k in impls if "error" in meas.get(k, {})]
        why += [f"{k}: not run ({case.not_run[k]})" for k in impls if k in case.not_run]
        return "not measured" + (f" ({'; '.join(why)})" if why else "")

    goals: list[dict[str, Any]] = []
    for num, den, target, direction, text in case.goals:
        a, b = meas.get(num, {}), meas.get(den, {})
        if "median" in a and "median" in b:
            value = a["median"] / b["median"]
            met = value >= target if direction == ">=" else value <= target
            info = target in (float("inf"), 0.0)
            goals.append(
                {
                    "text": text,
                    "value": value,
                    "unit": "x",
                    "met": "info" if info else ("yes" if met else "NO"),
                }
            )
        else:
            goals.append({"text": text, "value": None, "unit": "x", "met": failed(num, den)})
    main = meas.get(case.time_goal_impl, {})
    if case.time_goal_s is not None:
        t = main.get("median")
        goals.append(
            {
                "text": f"time <= {case.time_goal_s:g} s",
                "value": t,
                "unit": "s",
                "met": failed(case.time_goal_impl)
                if t is None
                else ("yes" if t <= case.time_goal_s else "NO"),
            }
        )
    peak = main.get("peak_rss_mib")
    if case.memory_goal_mib is not None:
        goals.append(
            {
                "text": f"peak memory <= {case.memory_goal_mib:,.0f} MiB",
                "value": peak,
                "unit": "MiB",
                "met": failed(case.time_goal_impl)
                if peak is None
                else ("yes" if peak <= case.memory_goal_mib else "NO"),
            }
        )
    if case.memory_goal_design is not None:
        design = main.get("design_mib")
        text = f"peak memory <= {case.memory_goal_design:g}x the design matrix" + (
            f" ({design:,.0f} MiB: {case.memory_goal_design * design:,.0f} MiB)" if design else ""
        )
        if peak is None or not design:
            goals.append({"text": text, "value": None, "unit": "x", "met": failed("tradeimpact")})
        else:
            ratio = peak / design
            met = "yes" if ratio <= case.memory_goal_design else "NO"
            goals.append({"text": text, "value": ratio, "unit": "x", "met": met})
    return goals


def skipped_cases(
    done: set[str], only: set[str], full: bool, quick: bool, memory_check: bool
) -> list[dict[str, Any]]:
    """The cases of the full plan with no result, each goal marked not measured with the reason."""
    out = []
    run_plan = {c.label for c in plan(full, quick, memory_check)}
    for case in plan(True, False, True):
        if case.label in done:
            continue
        if quick:
            why = "a --quick run (small sizes only)"
        elif case.label not in run_plan:
            why = "runs with --full" + (" or --memory-check" if case.group else "")
        elif only and case.key not in only:
            why = f"not selected in this run (--only {','.join(sorted(only))})"
        else:
            why = "no result"
        goals = [{"text": t, "value": None, "unit": "x", "met": f"not measured: {why}"}
                 for *_, t in case.goals]  # fmt: skip
        for flag, text in (
            (case.time_goal_s, f"time <= {case.time_goal_s or 0:g} s"),
            (case.memory_goal_mib, f"peak memory <= {case.memory_goal_mib or 0:,.0f} MiB"),
            (
                case.memory_goal_design,
                f"peak memory <= {case.memory_goal_design or 0:g}x the design matrix",
            ),
        ):
            if flag is not None:
                goals.append(
                    {"text": text, "value": None, "unit": "", "met": f"not measured: {why}"}
                )
        out.append({"label": case.label, "task": case.task, "goals": goals, "reason": why})
    return out


def _value(g: dict[str, Any]) -> str:
    if g["value"] is None:
        return "-"
    unit = g.get("unit", "")
    if unit == "s":
        return f"{g['value']:.2f} s"
    if unit == "MiB":
        return f"{g['value']:,.0f} MiB"
    return f"{g['value']:.2f}x" if unit == "x" else f"{g['value']:,.2f}"


def render(
    results: list[dict[str, Any]],
    info: dict[str, Any],
    skipped: list[dict[str, Any]] | None = None,
) -> str:
    load_s, load_e = info.get("load_start"), info.get("load_end")

    def loads(v: Any) -> str:
        return "-" if not v else " / ".join(f"{x:.2f}" for x in v)

    lines = [
        "# Benchmarks",
        "",
        f"Machine: {info['cpus']} CPUs, {info['memory_mib']:,} MiB memory; {info['platform']}; "
        f"threads per worker: {info.get('threads', 'machine default')}; kernels: "
        f"{info.get('kernels', '-')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        f"Load average (1 / 5 / 15 min) at the start of the run: {loads(load_s)}; at the end: "
        f"{loads(load_e)} (a shared machine: compare the ratios, measured back to back, more than "
        "the times; each row gives the 1-min load when its process started and ended).",
        "All inputs are SYNTHETIC (generated, seeded) except the AGTPA sample. Times are medians of the",
        "timed repetitions after a warm-up, each implementation in its own process; peak memory is that",
        "process's maximum resident set (it includes the inputs it holds).",
        "",
        "| case | implementation | median s | peak MiB | load start / end | rows/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for m in r["measurements"]:
            if "error" in m:
                lines.append(f"| {r['label']} | {m['impl']} | failed: {m['error']} | | | |")
                continue
            rps = _fmt(r["rows"] / m["median"], ",.0f") if r.get("rows") else "-"
            load = f"{m['load_start']:.2f} / {m['load_end']:.2f}" if "load_start" in m else "-"
            lines.append(
                f"| {r['label']} | {m['impl']} | {m['median']:.3f} | {m['peak_rss_mib']:,.0f} | "
                f"{load} | {rps} |"
            )
        for impl, why in r.get("not_run", {}).items():
            lines.append(f"| {r['label']} | {impl} | not run: {why} | | | |")
    lines += [
        "",
        "## Goals (issue 16)",
        "",
        "Ratios are tradeimpact's median time over the peer's, measured in the same run.",
        "",
        "| case | goal | measured | met |",
        "|---|---|---:|---|",
    ]
    for r in [*results, *(skipped or [])]:
        for g in r["goals"]:
            lines.append(f"| {r['label']} | {g['text']} | {_value(g)} | {g['met']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--full",
        action="store_true",
        help="add 10M-row JSON, 1e7 linearmodels, 1e7 PPML and the 50M-row memory check",
    )
    ap.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    ap.add_argument(
        "--memory-check",
        action="store_true",
        help="add the 50M-row CSV ingest memory check (alone: --only ingest_memory)",
    )
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated: ingest_csv,ingest_bulk,ingest_json,ingest_memory,event_study,ppml,ri,wild,"
        "report",
    )
    ap.add_argument("--out", default=str(REPO / "reports"), help="folder for benchmarks.md/.json")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per measurement")
    ap.add_argument(
        "--update",
        action="store_true",
        help="keep the other cases of an existing benchmarks.json in --out (re-run only --only)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="cap BLAS/OpenMP/numba/polars threads of every worker alike (0: machine default)",
    )
    ap.add_argument(
        "--render",
        action="store_true",
        help="only write benchmarks.md again from --out's benchmarks.json (today's goals)",
    )
    args = ap.parse_args(argv)
    only = {t for t in args.only.split(",") if t}
    if args.render:
        stored = json.loads((Path(args.out) / "benchmarks.json").read_text())
        results = regoal(stored["results"])
        skipped = skipped_cases({r["label"] for r in results}, set(), False, False, False)
        stored.update(results=results, not_measured=skipped)
        (Path(args.out) / "benchmarks.json").write_text(
            json.dumps(stored, indent=2, sort_keys=True) + "\n"
        )
        (Path(args.out) / "benchmarks.md").write_text(render(results, stored["machine"], skipped))
        return
    if args.threads:
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    info = machine()
    info["threads"] = args.threads or "machine default"
    info["load_start"] = [round(x, 2) for x in os.getloadavg()]
    try:
        from tradeimpact.core.kernels import backend

        info["kernels"] = backend()
    except ImportError:
        info["kernels"] = "-"
    results = []
    for case in plan(args.full, args.quick, args.memory_check):
        if only and case.key not in only:
            continue
        print(f"== {case.label}", flush=True)
        meas: dict[str, dict[str, Any]] = {}
        prep = prepare(case, args.timeout)
        for impl in case.impls:
            m = measure(case, impl, args.timeout) if prep is None else {"impl": impl, "error": prep}
            meas[impl] = m
            print(f"   {impl}: {m.get('median', m.get('error'))}", flush=True)
        results.append(
            {
                "task": case.task,
                "label": case.label,
                "rows": case.rows,
                "params": case.params,
                "measurements": list(meas.values()),
                "not_run": dict(case.not_run),
                "goals": evaluate(case, meas),
            }
        )
    info["load_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.update and (out / "benchmarks.json").exists():
        results = regoal(
            merge(json.loads((out / "benchmarks.json").read_text())["results"], results)
        )
    skipped = skipped_cases(
        {r["label"] for r in results}, only, args.full, args.quick, args.memory_check
    )
    (out / "benchmarks.json").write_text(
        json.dumps(
            {"machine": info, "results": results, "not_measured": skipped},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    (out / "benchmarks.md").write_text(render(results, info, skipped))
    print(f"wrote {out / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
