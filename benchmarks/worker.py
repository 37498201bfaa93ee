"""One benchmark measurement in a fresh process: ``python -m benchmarks.worker TASK IMPL PARAMS``.

``python -m benchmarks.worker prepare TASK PARAMS`` only writes the task's generated input file.

Runs ``warmup`` untimed calls, then ``reps`` timed calls, and prints one JSON line with the wall
times (seconds), the peak resident set size of this process (MiB, ``ru_maxrss``, which includes
the inputs the task builds in memory) and task-specific extras.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks import data

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

Setup = Callable[[dict[str, Any]], Callable[[], Any]]
TASKS: dict[tuple[str, str], Setup] = {}


def task(name: str, impl: str) -> Callable[[Setup], Setup]:
    def register(fn: Setup) -> Setup:
        TASKS[(name, impl)] = fn
        return fn

    return register


# --------------------------------------------------------------------------- ingest
_CSV_TYPES = {"cmdCode": str, "period": str, "mosCode": str}


def _tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tradeimpact-bench-"))


@task("ingest_csv", "pandas")
def _ingest_csv_pandas(p: dict[str, Any]) -> Callable[[], Any]:
    import pandas as pd

    src = data.comtrade_csv(p["rows"])
    out = _tmpdir()

    def run() -> None:
        pd.read_csv(src, dtype=_CSV_TYPES).to_parquet(out / "flows.parquet")

    return run


@task("ingest_csv", "polars")
def _ingest_csv_polars(p: dict[str, Any]) -> Callable[[], Any]:
    src = data.comtrade_csv(p["rows"])
    out = _tmpdir()
    overrides = {k: pl.String for k in _CSV_TYPES}

    def run() -> None:
        pl.scan_csv(src, schema_overrides=overrides).sink_parquet(out / "flows.parquet")

    return run


@task("ingest_csv", "tradeimpact")
def _ingest_csv_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.store import FlowStore

    src = data.comtrade_csv(p["rows"])

    def run() -> Any:
        root = _tmpdir()
        try:
            report = FlowStore(root).ingest([src])
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return report

    return run


@task("ingest_bulk", "polars")
def _ingest_bulk_polars(p: dict[str, Any]) -> Callable[[], Any]:
    src = data.comtrade_bulk(p["rows"])
    out = _tmpdir()
    overrides = {k: pl.String for k in _CSV_TYPES}

    def run() -> None:
        # polars reads a gzip file by decompressing it into memory, as the reader does
        pl.read_csv(src, separator="\t", schema_overrides=overrides).write_parquet(
            out / "flows.parquet"
        )

    return run


@task("ingest_bulk", "tradeimpact")
def _ingest_bulk_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.store import FlowStore

    src = data.comtrade_bulk(p["rows"])

    def run() -> Any:
        root = _tmpdir()
        try:
            return FlowStore(root).ingest([src])
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return run


@task("ingest_json", "pandas")
def _ingest_json_pandas(p: dict[str, Any]) -> Callable[[], Any]:
    import pandas as pd

    src = data.comtrade_json(p["rows"])
    out = _tmpdir()

    def run() -> None:
        with src.open(encoding="utf-8") as fh:
            records = json.load(fh)["data"]
        frame = pd.DataFrame.from_records(records)
        frame.to_parquet(out / "flows.parquet")

    return run


@task("ingest_json", "polars")
def _ingest_json_polars(p: dict[str, Any]) -> Callable[[], Any]:
    src = data.comtrade_json(p["rows"])
    out = _tmpdir()

    def run() -> None:
        frame = pl.read_json(src).select(pl.col("data").explode()).unnest("data")
        frame.write_parquet(out / "flows.parquet")

    return run


@task("ingest_json", "tradeimpact")
def _ingest_json_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.store import FlowStore

    src = data.comtrade_json(p["rows"])

    def run() -> Any:
        root = _tmpdir()
        try:
            return FlowStore(root).ingest([src])
        finally:
            shutil.rmtree(root, ignore_errors=True)

    return run


# --------------------------------------------------------------------------- event study
WINDOW = (-12, 12)


def _binned(frame: pl.DataFrame) -> pl.DataFrame:
    """Event time clipped to the window (endpoints binned); never-treated at the reference -1."""
    lo, hi = WINDOW
    return frame.with_columns(
        pl.when(pl.col("treated") == 1)
        .then(pl.col("rel").clip(lo - 1, hi + 1))
        .otherwise(-1)
        .alias("relb")
    )


@task("event_study", "tradeimpact")
def _es_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.models import event_study

    frame = data.event_panel(p["rows"]).with_columns(
        pl.when(pl.col("treated") == 1).then(pl.col("rel")).otherwise(None).alias("event_time"),
        # tradeimpact takes the outcome in levels and logs it (outcome="log"): log(v) == y
        pl.col("y").exp().alias("v"),
    )

    def run() -> Any:
        return event_study(
            frame,
            "v",
            "unit",
            "month",
            event_time="event_time",
            outcome="log",
            window=WINDOW,
            ref=-1,
            endpoints="bin",
            fe=["unit", "month"],
            vcov={"CR1": "unit"},
        )

    return run


@task("event_study", "pyfixest")
def _es_pyfixest(p: dict[str, Any]) -> Callable[[], Any]:
    import pyfixest as pf

    frame = _binned(data.event_panel(p["rows"])).to_pandas()

    def run() -> Any:
        return pf.feols(
            "y ~ i(relb, ref=-1) | unit + month", data=frame, vcov={"CRV1": "unit"}
        ).coef()

    return run


@task("event_study", "linearmodels")
def _es_linearmodels(p: dict[str, Any]) -> Callable[[], Any]:
    from linearmodels.panel import PanelOLS

    frame = _binned(data.event_panel(p["rows"]))
    lo, hi = WINDOW
    dummies = [
        pl.when(pl.col("relb") == k).then(1.0).otherwise(0.0).alias(f"rel_{k + 100}")
        for k in range(lo - 1, hi + 2)
        if k != -1
    ]
    pdf = frame.with_columns(dummies).to_pandas().set_index(["unit", "month"])
    cols = [c for c in pdf.columns if c.startswith("rel_")]

    def run() -> Any:
        mod = PanelOLS(pdf["y"], pdf[cols], entity_effects=True, time_effects=True)
        return mod.fit(cov_type="clustered", cluster_entity=True).params

    return run


# --------------------------------------------------------------------------- PPML
def _agtpa() -> pl.DataFrame:
    path = SHARED / "validation" / "agtpa_gravity" / "agtpa_applications.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is absent (../shared is not on this machine)")
    frame = pl.read_csv(path).filter(
        pl.col("year").cast(pl.Int64).is_in(list(range(1986, 2007, 4)))
    )
    return frame.with_columns(
        pl.concat_str(["exporter", "year"], separator="_").alias("exp_year"),
        pl.concat_str(["importer", "year"], separator="_").alias("imp_year"),
    )


def _ppml_data(p: dict[str, Any]) -> tuple[pl.DataFrame, str, list[str], list[str]]:
    if p["data"] == "agtpa":
        return _agtpa(), "trade", ["rta"], ["exp_year", "imp_year", "pair_id"]
    return data.ppml_panel(p["rows"]), "trade", ["x", "rta"], ["exp_year", "imp_year", "pair"]


@task("ppml", "tradeimpact")
def _ppml_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    """Our default: ppmlhdfe's separation checks (fe, simple, relu)."""
    return _ppml_ours(p, ("fe", "simple", "relu"))


@task("ppml", "tradeimpact_fe_check")
def _ppml_tradeimpact_fe_check(p: dict[str, Any]) -> Callable[[], Any]:
    """Like for like with pyfixest's fepois default (``separation_check=["fe"]``)."""
    return _ppml_ours(p, ("fe",))


def _ppml_ours(p: dict[str, Any], separation: tuple[str, ...]) -> Callable[[], Any]:
    from tradeimpact.models.ppml import ppml

    frame, y, x, fe = _ppml_data(p)
    cluster = fe[-1]

    def run() -> Any:
        return ppml(frame, y, x, fe, vcov={"CR1": cluster}, separation=separation).params

    return run


@task("ppml", "pyfixest")
def _ppml_pyfixest(p: dict[str, Any]) -> Callable[[], Any]:
    import pyfixest as pf

    frame, y, x, fe = _ppml_data(p)
    pdf = frame.to_pandas()
    formula = f"{y} ~ {' + '.join(x)} | {' + '.join(fe)}"

    def run() -> Any:
        return pf.fepois(formula, data=pdf, vcov={"CRV1": fe[-1]}).coef()

    return run


# --------------------------------------------------------------------------- randomization inference
def _ri_frame(p: dict[str, Any]) -> pl.DataFrame:
    frame = data.event_panel(p["rows"])
    return frame.with_columns(
        ((pl.col("unit") == 0) & (pl.col("post") == 1)).cast(pl.Float64).alias("d")
    )


@task("ri", "tradeimpact_one_fit")
def _ri_one_fit(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.models.linear import feols

    frame = _ri_frame(p)

    def run() -> Any:
        return feols(frame, "y", ["d"], fe=["unit", "month"], vcov={"CR1": "unit"}).params

    return run


@task("ri", "tradeimpact_999")
def _ri_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.inference.randomization import randomization_inference

    frame = _ri_frame(p)

    def run() -> Any:
        return randomization_inference(
            frame,
            "y",
            "unit",
            "month",
            treated=0,
            post="post",
            max_exact=0,
            n_permutations=p["placebos"],
            seed=1,
        )

    return run


@task("ri", "pyfixest_ritest_999")
def _ri_pyfixest(p: dict[str, Any]) -> Callable[[], Any]:
    import pyfixest as pf

    pdf = _ri_frame(p).to_pandas()

    def run() -> Any:
        # no spaces around "+": pyfixest 0.60 ritest splits the fixed effects on "+" verbatim
        fit = pf.feols("y ~ d | unit+month", data=pdf)
        # pyfixest permutes `d` across rows (its cluster-level permutation needs a treatment
        # constant within unit, which treated x post is not): the same 999 refits of the model,
        # a different assignment scheme; reported for the computational cost only.
        return fit.ritest(resampvar="d", reps=p["placebos"], rng=np.random.default_rng(1))

    return run


# --------------------------------------------------------------------------- wild cluster bootstrap
def _wild_frame(p: dict[str, Any]) -> pl.DataFrame:
    """DiD panel of ``rows`` rows with ``clusters`` units (one cluster each): treated x post."""
    frame = data.event_panel(p["rows"], n_months=max(2, p["rows"] // p["clusters"]))
    return frame.with_columns((pl.col("treated") * pl.col("post")).cast(pl.Float64).alias("d"))


@task("wild", "tradeimpact_one_fit")
def _wild_one_fit(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.models.linear import feols

    frame = _wild_frame(p)

    def run() -> Any:
        return feols(frame, "y", ["d"], fe=["unit", "month"], vcov={"CR1": "unit"}).params

    return run


@task("wild", "tradeimpact")
def _wild_tradeimpact(p: dict[str, Any]) -> Callable[[], Any]:
    from tradeimpact.inference.wild_bootstrap import wild_cluster_bootstrap
    from tradeimpact.models.linear import feols

    frame = _wild_frame(p)

    def run() -> Any:
        fit = feols(frame, "y", ["d"], fe=["unit", "month"], vcov={"CR1": "unit"})
        return wild_cluster_bootstrap(fit, param="d", B=p["B"], seed=1).pvalue

    return run


# --------------------------------------------------------------------------- the report
@task("report", "tradeimpact")
def _report(p: dict[str, Any]) -> Callable[[], Any]:
    def run() -> None:
        out = _tmpdir()
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tradeimpact.report.build",
                    "--data",
                    str(REPO / "data_raw"),
                    "--out",
                    str(out),
                ],
                check=True,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
            )
        finally:
            shutil.rmtree(out, ignore_errors=True)

    return run


#: Generated input files of each task (made by ``prepare`` in a process of their own, so that the
#: generator's memory never counts in a measured process's peak).
INPUTS: dict[str, Callable[[int], Path]] = {
    "ingest_csv": data.comtrade_csv,
    "ingest_json": data.comtrade_json,
    "ingest_bulk": data.comtrade_bulk,
}


def prepare(name: str, params: dict[str, Any]) -> None:
    """Write (once, cached) the input file a task reads."""
    make = INPUTS.get(name)
    if make is not None:
        make(int(params["rows"]))


def main(argv: list[str]) -> None:
    if argv[0] == "prepare":
        prepare(argv[1], json.loads(argv[2]))
        return
    name, impl, params_json = argv
    params = json.loads(params_json)
    threads = _apply_threads()
    if params.get("as_limit_mib"):
        # a cap on the address space: a peer that would exhaust the shared machine's memory fails
        # with MemoryError in its own process instead of waking the out-of-memory killer
        cap = int(params["as_limit_mib"]) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    run = TASKS[(name, impl)](params)
    load_start = os.getloadavg()[0]
    out = None
    for _ in range(params.get("warmup", 1)):
        out = None  # the previous result is freed before the next call (it counts in no peak)
        out = run()
    times = []
    for _ in range(params.get("reps", 3)):
        out = None
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    record: dict[str, Any] = {
        "task": name,
        "impl": impl,
        "params": params,
        "times": times,
        "median": float(np.median(times)),
        "peak_rss_mib": max(self_kib, child_kib) / 1024,
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "threads": threads,
    }
    # the size of the dense design (n x k float64) of a fitted tradeimpact model: the unit of
    # the event study's memory goal
    if out is not None and hasattr(out, "nobs") and hasattr(out, "names"):
        record["design_mib"] = int(out.nobs) * len(out.names) * 8 / 2**20
    print(json.dumps(record))


def _apply_threads() -> int | str:
    """numba's thread count from ``NUMBA_NUM_THREADS`` (set by ``run.py --threads``).

    numba reads the variable when it starts its thread pool; it is set here as well so that a
    thread count below the machine's is applied even where numba's pool is already up.
    """
    want = os.environ.get("NUMBA_NUM_THREADS")
    try:
        import numba
    except ImportError:
        return want or "machine default"
    if want:
        numba.set_num_threads(min(int(want), numba.config.NUMBA_NUM_THREADS))
    return int(numba.get_num_threads())


if __name__ == "__main__":
    main(sys.argv[1:])
