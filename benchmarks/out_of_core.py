"""Out-of-core fixed-effects estimation through DuckDB: a 1e8-row SYNTHETIC Parquet panel.

``python -m benchmarks.out_of_core`` (issue 17, item 3):

1. generates ``.bench_data/SYNTHETIC_panel_1e8.parquet`` with DuckDB (out of core; the rows
   never pass through Python) and the first 1e7 rows as ``SYNTHETIC_panel_1e7.parquet``;
2. fits ``y ~ x1 + x2 | unit + period`` with CR1 by unit through the Ibis DuckDB engine
   (``feols(table, ...)``, :mod:`tradeimpact.core.ibis_engine`) on the 1e8 rows, DuckDB run with
   ``memory_limit`` and a temporary folder in ``.bench_data`` so it spills to disk, and on the
   1e7 rows; and the native in-memory fit (polars frame, numpy) on the 1e7 rows;
3. writes wall time, the Python process's peak resident memory (``ru_maxrss``: the DuckDB engine
   runs inside the process, so its memory counts) and the coefficients of each fit to
   ``reports/benchmarks_out_of_core.md`` (and ``.json``), with the machine's load, and deletes
   the generated files (``--keep`` keeps them).

Each fit runs in a fresh subprocess (its own peak memory). The panel: ``2,000,000`` units
(importer x product lines) observed in 50 rows each at a period drawn from 60 months (an
unbalanced, non-nested design: the sweeps do not converge in one), ``x1`` correlated with both
fixed effects, ``y = 1.0 x1 - 0.5 x2 + unit effect + period effect + noise``. SYNTHETIC: no real
trade data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".bench_data"
OUT_MD = REPO / "reports" / "benchmarks_out_of_core.md"
OUT_JSON = REPO / "reports" / "benchmarks_out_of_core.json"
#: the goal of issue 17: the Python process's peak memory on the 1e8-row fit
GOAL_BYTES = 2 * 1024**3
#: DuckDB's memory limit in the out-of-core fit (it spills to its temporary folder beyond it)
DUCKDB_MEMORY = "1GB"
ROWS_PER_UNIT = 50


def _generate(path: Path, rows: int, threads: int) -> None:
    """The SYNTHETIC panel as one Parquet file, written by DuckDB from ``range(rows)``."""
    import duckdb

    con = duckdb.connect(
        config={
            "memory_limit": DUCKDB_MEMORY,
            "threads": threads,
            "temp_directory": str(DATA / "duckdb_tmp"),
            "preserve_insertion_order": False,
        }
    )
    # hash(i, salt) / 2^64 is a deterministic uniform in [0, 1); two of them make a normal
    # (Box-Muller). The unit and period effects are functions of the labels (no lookup table).
    u = "((hash(i, {s}) % 1000000007)::DOUBLE + 0.5) / 1000000007.0"
    normal = (
        f"sqrt(-2 * ln({u.format(s=1)})) * cos(2 * pi() * {u.format(s=2)})",
        f"sqrt(-2 * ln({u.format(s=3)})) * cos(2 * pi() * {u.format(s=4)})",
        f"sqrt(-2 * ln({u.format(s=5)})) * cos(2 * pi() * {u.format(s=6)})",
    )
    con.execute(
        f"""
        COPY (
          WITH base AS (
            SELECT i,
                   (i // {ROWS_PER_UNIT})::INTEGER AS unit,
                   ((hash(i, 7) % 60) + ((i // {ROWS_PER_UNIT}) % 7))::SMALLINT AS period
            FROM range({rows}) t(i)
          ), draws AS (
            SELECT unit, period,
                   {normal[0]} AS e1, {normal[1]} AS e2, {normal[2]} AS e3,
                   sin(unit * 0.7) AS fe_u, cos(period * 0.3) AS fe_t
            FROM base
          )
          SELECT unit, period,
                 e1 + 0.5 * fe_u + 0.3 * fe_t AS x1,
                 e2 AS x2,
                 1.0 * (e1 + 0.5 * fe_u + 0.3 * fe_t) - 0.5 * e2 + fe_u + fe_t + e3 AS y
          FROM draws
        ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """
    )
    con.close()


def _fit(kind: str, path: str, threads: int) -> dict[str, Any]:
    """One fit in this process (called in a subprocess); its time, peak memory and estimates."""
    import numpy as np

    from tradeimpact.models.linear import feols

    t0 = time.perf_counter()
    if kind == "memory":
        import polars as pl

        frame = pl.read_parquet(path)
        res = feols(frame, "y", ["x1", "x2"], fe=["unit", "period"], vcov={"CRV1": "unit"})
    else:
        import ibis

        con = ibis.duckdb.connect(
            memory_limit=DUCKDB_MEMORY,
            threads=threads,
            temp_directory=str(DATA / "duckdb_tmp"),
        )
        table = con.read_parquet(path)
        res = feols(table, "y", ["x1", "x2"], fe=["unit", "period"], vcov={"CRV1": "unit"})
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {
        "kind": kind,
        "path": Path(path).name,
        "nobs": res.nobs,
        "wall_s": wall,
        "peak_bytes": peak,
        "coef": [float(v) for v in res.beta],
        "se": [float(v) for v in np.asarray(res.std_errors)],
        "names": list(res.names),
        "sweeps": res.extra.get("demean", {}).get("sweeps"),
    }


def _run_child(kind: str, path: Path, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.out_of_core", "--child", kind, str(path),
         "--threads", str(threads)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{kind} fit on {path.name} failed:\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _gib(b: float) -> str:
    return f"{b / 1024**3:.2f} GiB"


def _report(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Out-of-core estimation through DuckDB (SYNTHETIC panel)",
        "",
        "Generated by `python -m benchmarks.out_of_core` (issue 17, item 3). Model: "
        "`y ~ x1 + x2 | unit + period`, CR1 clustered by unit, on a SYNTHETIC Parquet panel "
        f"({ROWS_PER_UNIT} rows per unit, periods drawn from 60 months: unbalanced, so the "
        "alternating projections need several sweeps). `engine` fits are `feols(table, ...)` "
        "on an Ibis DuckDB table read from the Parquet file (DuckDB `memory_limit` "
        f"{DUCKDB_MEMORY}, spilling to a temporary folder; threads {meta['threads']}); "
        "`memory` is the native fit on a polars frame read from the same file. Peak memory is "
        "the Python process's peak resident set (`ru_maxrss`; DuckDB runs inside it). Each fit "
        "ran in its own process.",
        "",
        f"Machine: {meta['machine']}; load average before {meta['load_before']}, after "
        f"{meta['load_after']} (other processes shared the 2 cores: times are indicative, "
        "ratios within this run are the comparison).",
        "",
        "| fit | rows | wall time (s) | peak memory | sweeps (y, x1, x2) | x1 | se(x1) | x2 | se(x2) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        sw = r["sweeps"]
        sweeps = "-" if not sw else ", ".join(str(sw[k]) for k in ("y", "x1", "x2"))
        lines.append(
            f"| {r['kind']} | {r['nobs']:,} | {r['wall_s']:.1f} | {_gib(r['peak_bytes'])} | "
            f"{sweeps} | {r['coef'][0]:.6f} | {r['se'][0]:.2e} | {r['coef'][1]:.6f} | "
            f"{r['se'][1]:.2e} |"
        )
    big = results[0]  # the engine fit on the large panel
    lines += [
        "",
        f"Goal (issue 17): the {big['nobs']:,}-row fit's peak memory below {_gib(GOAL_BYTES)}: "
        f"{_gib(big['peak_bytes'])}, **{'met' if big['peak_bytes'] < GOAL_BYTES else 'NO'}**.",
    ]
    pair = [r for r in results if r["nobs"] == results[-1]["nobs"]]
    if len(pair) == 2:
        e, m = (next(r for r in pair if r["kind"] == k) for k in ("engine", "memory"))
        diff = max(abs(a - b) for a, b in zip(e["coef"], m["coef"], strict=True))
        sed = max(abs(a / b - 1) for a, b in zip(e["se"], m["se"], strict=True))
        lines.append(
            f"At {m['nobs']:,} rows the engine and the in-memory fit agree to {diff:.1e} "
            f"(coefficients, absolute) and {sed:.1e} (standard errors, relative); the engine "
            f"took {e['wall_s'] / m['wall_s']:.1f}x the in-memory wall time with "
            f"{e['peak_bytes'] / m['peak_bytes']:.2f}x its peak memory."
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--memory-rows", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the generated Parquet files")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_fit(args.child[0], args.child[1], args.threads)))
        return 0
    DATA.mkdir(exist_ok=True)
    free = shutil.disk_usage(DATA).free
    need = args.rows * 40  # about 3 GB of Parquet per 1e8 rows, and DuckDB's spill
    if free < need:
        raise SystemExit(f"{DATA}: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
    big = DATA / f"SYNTHETIC_panel_{args.rows:.0e}.parquet".replace("+", "")
    small = DATA / f"SYNTHETIC_panel_{args.memory_rows:.0e}.parquet".replace("+", "")
    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    try:
        t0 = time.perf_counter()
        _generate(big, args.rows, args.threads)
        gen_s = time.perf_counter() - t0
        _generate(small, args.memory_rows, args.threads)
        results = [
            _run_child("engine", big, args.threads),
            _run_child("engine", small, args.threads),
            _run_child("memory", small, args.threads),
        ]
    finally:
        if not args.keep:
            for p in (big, small):
                p.unlink(missing_ok=True)
            shutil.rmtree(DATA / "duckdb_tmp", ignore_errors=True)
    meta = {
        "machine": f"{platform.platform()}, {os.cpu_count()} cores",
        "threads": args.threads,
        "load_before": load_before,
        "load_after": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "generate_s": gen_s,
    }
    OUT_MD.write_text(_report(results, meta), encoding="utf-8")
    OUT_JSON.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(OUT_MD.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
