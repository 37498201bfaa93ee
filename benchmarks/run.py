"""Run the benchmarks and write ``reports/benchmarks.md`` and ``reports/benchmarks.json``.

``python -m benchmarks.run`` (what ``nox -s bench`` runs) measures, in one run on this machine:

1. ingest of generated Comtrade v1 CSV (1M, 10M rows) and JSON (1M rows) into the store, beside
   pandas ``read_csv`` + ``to_parquet`` and polars ``scan_csv(...).sink_parquet(...)``;
   ``--full`` adds 10M-row JSON and the 50M-row CSV memory check (``--memory-check`` adds only the
   latter: the 10M-row JSON baselines hold every record in memory);
2. a linear event study with unit (importer x product) and month fixed effects on 1e5, 1e6 and
   1e7 rows beside pyfixest ``feols`` and linearmodels ``PanelOLS``;
3. PPML with three high-dimensional fixed effects (AGTPA sample; a generated 1e6-row panel)
   beside pyfixest ``fepois``;
4. randomization inference with 999 placebo assignments on a 1e5-row panel, relative to one fit,
   beside pyfixest's ``ritest``;
5. ``nox -s report``'s build end to end.

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

    @property
    def key(self) -> str:
        return self.group or self.task


def plan(full: bool, quick: bool, memory_check: bool = False) -> list[Case]:
    ingest_goals = [
        ("pandas", "tradeimpact", 5.0, ">=", "speed-up over pandas >= 5x"),
        ("polars", "tradeimpact", 0.7, ">=", "speed vs raw polars pipeline >= 0.7x"),
    ]
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
                ingest_goals,
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
                ingest_goals,
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
                memory_goal_mib=4096.0,
                group="ingest_memory",
            )
        )
    for n in es_sizes:
        impls = ["tradeimpact", "pyfixest"] + (["linearmodels"] if n <= 1_000_000 or full else [])
        goal = (
            [("tradeimpact", "pyfixest", 1.5, "<=", "time / pyfixest <= 1.5 (at >= 1e6 rows)")]
            if n >= 1_000_000
            else []
        )
        cases.append(
            Case(
                "event_study",
                f"event study, unit + month FE, {n:,} rows",
                {"rows": n, "reps": 3 if n <= 1_000_000 else 2},
                impls,
                goal,
            )
        )
    ppml_goal = [("tradeimpact", "pyfixest", 2.0, "<=", "time / pyfixest <= 2")]
    cases.append(
        Case(
            "ppml",
            "PPML, AGTPA 1986-2006 (3 HDFE)",
            {"data": "agtpa", "reps": 3},
            ["tradeimpact", "pyfixest"],
            ppml_goal,
        )
    )
    n_ppml = 100_000 if quick else 1_000_000
    cases.append(
        Case(
            "ppml",
            f"PPML, generated {n_ppml:,} rows (3 HDFE)",
            {"data": "generated", "rows": n_ppml, "reps": 3},
            ["tradeimpact", "pyfixest"],
            ppml_goal,
        )
    )
    cases.append(
        Case(
            "ri",
            "randomization inference, 999 placebos, 1e5 rows",
            {"rows": 100_000, "placebos": 999, "reps": 3},
            ["tradeimpact_one_fit", "tradeimpact_999", "pyfixest_ritest_999"],
            [
                (
                    "tradeimpact_999",
                    "tradeimpact_one_fit",
                    10.0,
                    "<=",
                    "999 placebos <= 10x one fit",
                ),
                ("tradeimpact_999", "pyfixest_ritest_999", 1.0, "<=", "<= pyfixest ritest (info)"),
            ],
        )
    )
    cases.append(
        Case(
            "report", "nox -s report build, shipped data", {"reps": 1, "warmup": 0}, ["tradeimpact"]
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
    return sorted(by_label.values(), key=lambda r: rank.get(r["label"], len(rank)))


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def render(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {info['cpus']} CPUs, {info['memory_mib']:,} MiB memory; {info['platform']}; "
        f"threads per worker: {info.get('threads', 'machine default')}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        f"Load average (1 min) when the run started: {info.get('load_average_1min', '-')} "
        "(a shared machine: compare the ratios, measured back to back, more than the times).",
        "All inputs are SYNTHETIC (generated, seeded) except the AGTPA sample. Times are medians of the",
        "timed repetitions after a warm-up, each implementation in its own process; peak memory is that",
        "process's maximum resident set (it includes the inputs it holds).",
        "",
        "| case | implementation | median s | peak MiB | rows/s |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        for m in r["measurements"]:
            if "error" in m:
                lines.append(f"| {r['label']} | {m['impl']} | failed: {m['error']} | | |")
                continue
            rps = _fmt(r["rows"] / m["median"], ",.0f") if r.get("rows") else "-"
            lines.append(
                f"| {r['label']} | {m['impl']} | {m['median']:.3f} | {m['peak_rss_mib']:,.0f} | {rps} |"
            )
    lines += ["", "## Goals", "", "| case | goal | measured | met |", "|---|---|---:|---|"]
    for r in results:
        for g in r["goals"]:
            lines.append(f"| {r['label']} | {g['text']} | {_fmt(g['value'], '.2f')} | {g['met']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--full",
        action="store_true",
        help="add 10M-row JSON, 1e7 linearmodels and the 50M-row memory check",
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
        help="comma-separated: ingest_csv,ingest_json,ingest_memory,event_study,ppml,ri,report",
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
    args = ap.parse_args(argv)
    only = {t for t in args.only.split(",") if t}
    if args.threads:
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    info = machine()
    info["threads"] = args.threads or "machine default"
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
        goals: list[dict[str, Any]] = []
        for num, den, target, direction, text in case.goals:
            a, b = meas.get(num, {}), meas.get(den, {})
            if "median" in a and "median" in b:
                value = a["median"] / b["median"]
                met = value >= target if direction == ">=" else value <= target
                goals.append({"text": text, "value": value, "met": "yes" if met else "NO"})
            else:
                failed = [f"{k}: {m['error']}" for k, m in ((num, a), (den, b)) if "error" in m]
                met = "not measured" + (f" ({'; '.join(failed)})" if failed else "")
                goals.append({"text": text, "value": None, "met": met})
        if case.memory_goal_mib is not None:
            peak = meas.get("tradeimpact", {}).get("peak_rss_mib")
            goals.append(
                {
                    "text": f"peak memory <= {case.memory_goal_mib:,.0f} MiB",
                    "value": peak,
                    "met": "not measured"
                    if peak is None
                    else ("yes" if peak <= case.memory_goal_mib else "NO"),
                }
            )
        results.append(
            {
                "task": case.task,
                "label": case.label,
                "rows": case.rows,
                "params": case.params,
                "measurements": list(meas.values()),
                "goals": goals,
            }
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.update and (out / "benchmarks.json").exists():
        results = merge(json.loads((out / "benchmarks.json").read_text())["results"], results)
    (out / "benchmarks.json").write_text(
        json.dumps({"machine": info, "results": results}, indent=2, sort_keys=True) + "\n"
    )
    (out / "benchmarks.md").write_text(render(results, info))
    print(f"wrote {out / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
