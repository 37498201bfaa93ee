"""feols / did / event_study on an Ibis table computed by its engine (issue 17).

Reference: the native in-memory fit on the same rows (itself tested against pyfixest and
linearmodels in test_did.py, test_cluster.py, test_formula.py). Tolerance 1e-8: both demean to
``fixef_tol = 1e-10`` of each column's scale with the same iterates, so they differ by rounding
(the engine's sums run in another order). DuckDB: 1e6 rows, 2 fixed effects, CR1 as issue 17
asks, and smaller panels for the other options. PySpark in local mode: test_ibis_spark.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

ibis = pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from tradeimpact.core.collinearity import CollinearityWarning  # noqa: E402
from tradeimpact.core.fixed_effects import FixedEffects, NotConvergedWarning, demean  # noqa: E402
from tradeimpact.errors import ModelSpecError  # noqa: E402
from tradeimpact.models.formula import feols as feols_formula  # noqa: E402
from tradeimpact.models.linear import feols  # noqa: E402

TOL = 1e-8


def panel(n: int, seed: int = 0, units: int | None = None) -> pl.DataFrame:
    """A SYNTHETIC unbalanced panel: unit and period effects correlated with x1, some gaps."""
    rng = np.random.default_rng(seed)
    units = units or max(n // 20, 10)
    unit = rng.integers(0, units, n)
    period = (rng.integers(0, 25, n) + unit % 5).astype(np.int64)
    fe_u = np.sin(unit * 0.37)
    fe_t = np.cos(period * 0.5)
    x1 = rng.normal(size=n) + 0.8 * fe_u + 0.5 * fe_t
    x2 = rng.normal(size=n) + 0.2 * x1
    y = 1.5 * x1 - 0.7 * x2 + fe_u + fe_t + rng.normal(size=n) * (1 + 0.5 * (unit % 3))
    return pl.DataFrame(
        {
            "unit": unit,
            "period": period,
            "region": (unit % 37).astype(np.int64),
            "sector": np.array(["a", "b", "c", "d"])[unit % 4],
            "x1": x1,
            "x2": x2,
            "y": y,
            "w": rng.uniform(0.5, 2.0, n),
        }
    )


def as_table(frame: pl.DataFrame, path: Path) -> object:
    """The frame as a DuckDB table read from Parquet (the engine never sees the polars frame)."""
    frame.write_parquet(path)
    return ibis.duckdb.connect().read_parquet(path)


def assert_same(mem: object, eng: object, tol: float = TOL) -> None:
    assert list(eng.names) == list(mem.names)  # type: ignore[attr-defined]
    np.testing.assert_allclose(eng.beta, mem.beta, rtol=tol, atol=0)  # type: ignore[attr-defined]
    np.testing.assert_allclose(
        eng.std_errors.to_numpy(),  # type: ignore[attr-defined]
        mem.std_errors.to_numpy(),  # type: ignore[attr-defined]
        rtol=tol,
        atol=0,
    )
    assert eng.nobs == mem.nobs  # type: ignore[attr-defined]
    assert eng.dropped == mem.dropped  # type: ignore[attr-defined]
    assert eng.vcov_type == mem.vcov_type  # type: ignore[attr-defined]
    assert eng.df_inference == mem.df_inference  # type: ignore[attr-defined]
    assert eng.n_clusters == mem.n_clusters  # type: ignore[attr-defined]
    assert eng.extra["df_k"] == mem.extra["df_k"]  # type: ignore[attr-defined]
    for key in ("r2", "r2_within"):
        assert eng.extra[key] == pytest.approx(mem.extra[key], rel=1e-9)  # type: ignore[attr-defined]


def test_duckdb_1e6_rows_two_fixed_effects_cr1(tmp_path: Path) -> None:
    frame = panel(1_000_000, seed=1, units=50_000)
    table = as_table(frame, tmp_path / "p.parquet")
    kw = {"fe": ["unit", "period"], "vcov": {"CRV1": "region"}}
    mem = feols(frame, "y", ["x1", "x2"], **kw)
    eng = feols(table, "y", ["x1", "x2"], **kw)
    assert_same(mem, eng)
    assert eng.extra["engine"] == "duckdb"
    assert "design" not in eng.extra  # the rows stayed in the engine
    demeaned = eng.extra["demean"]
    assert demeaned["tol"] == 1e-10 and all(demeaned["converged"].values())
    assert set(demeaned["sweeps"]) == {"y", "x1", "x2"}


def _converges(col: np.ndarray, fe: FixedEffects, maxiter: int) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotConvergedWarning)
        try:
            demean(col, fe, maxiter=maxiter)
        except NotConvergedWarning:
            return False
    return True


def test_sweeps_are_those_of_the_in_memory_demeaning(tmp_path: Path) -> None:
    """The count the engine reports is the in-memory count: in memory a column converges with
    ``maxiter = s`` sweeps and not with ``s - 2`` (sweeps run in pairs: ``maxiter`` brackets the
    count to the pair), for every variable."""
    frame = panel(20_000, seed=2, units=1_000)
    eng = feols(as_table(frame, tmp_path / "p.parquet"), "y", ["x1", "x2"], fe=["unit", "period"])
    sweeps = eng.extra["demean"]["sweeps"]
    fe = FixedEffects.from_columns([frame["unit"].to_numpy(), frame["period"].to_numpy()])
    assert min(sweeps.values()) > 4  # the Irons-Tuck steps were taken
    for name, s in sweeps.items():
        col = frame[name].to_numpy()
        assert _converges(col, fe, s), name
        assert not _converges(col, fe, s - 2), name


@pytest.mark.parametrize(
    ("x", "kw"),
    [
        (["x1", "x2"], {"fe": ["unit", "period"], "vcov": {"CRV1": "region + period"}}),
        (["x1", "x2"], {"fe": ["unit", "period"], "vcov": {"CRV1": "unit"}}),  # nested FE
        (["x1", "x2"], {"fe": ["unit", "period", "sector"], "vcov": "hetero", "weights": "w"}),
        (["x1", "x2"], {"fe": [["region", "period"]], "vcov": "iid"}),
        (["x1", "x2"], {"fe": ["unit"], "vcov": {"CRV1": "region^sector"}}),
        (["x1", "x2"], {"vcov": "hetero"}),
        (["x1", "x2"], {"vcov": "iid", "intercept": False, "weights": "w"}),
        (["x1", "x2"], {"fe": ["unit", "period"], "vcov": "DK", "time": "period"}),
        (["x1"], {"fe": ["unit", "period"], "vcov": "twoway", "G_df": "conventional"}),
        (
            ["x1"],
            {
                "fe": ["unit", "period"],
                "vcov": "CR1",
                "cluster": "region",
                "small_sample": "linearmodels",
            },
        ),
    ],
)
def test_options_equal_in_memory(tmp_path: Path, x: list[str], kw: dict) -> None:
    frame = panel(30_000, seed=3, units=2_000)
    assert_same(
        feols(frame, "y", x, **kw), feols(as_table(frame, tmp_path / "p.parquet"), "y", x, **kw)
    )


def test_sample_rules_missing_weights_singletons(tmp_path: Path) -> None:
    """Nulls, NaN, inf, null labels, non-positive weights and (iterated) singletons are dropped
    and counted as in memory."""
    frame = panel(20_000, seed=4, units=4_000)
    rng = np.random.default_rng(0)
    x1 = frame["x1"].to_numpy().copy()
    x1[rng.choice(x1.size, 50, replace=False)] = np.nan
    x1[rng.choice(x1.size, 5, replace=False)] = np.inf
    w = frame["w"].to_numpy().copy()
    w[rng.choice(w.size, 40, replace=False)] = 0.0
    frame = frame.with_columns(
        pl.Series("x1", x1),
        pl.Series("w", w),
        pl.when(pl.int_range(pl.len()) % 997 == 0).then(None).otherwise(pl.col("y")).alias("y"),
        pl.when(pl.int_range(pl.len()) % 1499 == 0)
        .then(None)
        .otherwise(pl.col("region"))
        .alias("region"),
    )
    kw = {"fe": ["unit", "period"], "vcov": {"CRV1": "region"}, "weights": "w"}
    mem = feols(frame, "y", ["x1", "x2"], **kw)
    assert mem.dropped["singletons"] > 0 and mem.dropped["missing"] > 0
    assert_same(mem, feols(as_table(frame, tmp_path / "p.parquet"), "y", ["x1", "x2"], **kw))
    off = feols(frame, "y", ["x1"], fe=["unit"], drop_singletons=False)
    assert_same(
        off,
        feols(
            as_table(frame, tmp_path / "q.parquet"), "y", ["x1"], fe=["unit"], drop_singletons=False
        ),
    )


def test_formula_form(tmp_path: Path) -> None:
    frame = panel(20_000, seed=5, units=1_000)
    table = as_table(frame, tmp_path / "p.parquet")
    for fml, kw in [
        ("y ~ x1 + x2 | unit + period", {"vcov": {"CRV1": "region"}}),
        ("y ~ x1 + x2 + x1:x2 | unit^sector + period", {"vcov": "hetero", "weights": "w"}),
        ("y ~ x1 + x2", {}),
        ("y ~ 0 + x1 + x2", {"vcov": "hetero"}),
        ("y ~ x1 | unit + period", {"vcov": "twoway"}),
    ]:
        mem, eng = feols_formula(fml, frame, **kw), feols_formula(fml, table, **kw)
        assert_same(mem, eng)
        assert eng.extra["formula"] == fml


def test_collinear_regressor_dropped_with_the_same_warning(tmp_path: Path) -> None:
    frame = panel(10_000, seed=6, units=500).with_columns(
        (pl.col("unit") % 7).cast(pl.Float64).alias("per_unit"),
        (2 * pl.col("x1") - pl.col("x2")).alias("combo"),
    )
    table = as_table(frame, tmp_path / "p.parquet")
    x = ["x1", "per_unit", "x2", "combo"]
    with pytest.warns(CollinearityWarning, match="per_unit, combo") as mem_w:
        mem = feols(frame, "y", x, fe=["unit", "period"])
    with pytest.warns(CollinearityWarning, match="per_unit, combo") as eng_w:
        eng = feols(table, "y", x, fe=["unit", "period"])
    texts = [
        [str(w.message) for w in rec if issubclass(w.category, CollinearityWarning)]
        for rec in (mem_w, eng_w)
    ]
    assert texts[0] == texts[1] and len(texts[0]) == 1
    assert eng.dropped_regressors == ["per_unit", "combo"]
    assert_same(mem, eng)


def _error(fn: object, *args: object, **kw: object) -> str:
    with pytest.raises(ModelSpecError) as err:
        fn(*args, **kw)  # type: ignore[operator]
    return str(err.value)


def test_errors_as_clear_as_in_memory(tmp_path: Path) -> None:
    frame = panel(2_000, seed=7).with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("n/a"))
        .otherwise(pl.col("x2").cast(pl.String))
        .alias("x_text")
    )
    table = as_table(frame, tmp_path / "p.parquet")
    # a misspelt column: the same message (closest names, the columns present)
    assert _error(feols, table, "y", ["x_1"], fe=["unit"]) == _error(
        feols, frame, "y", ["x_1"], fe=["unit"]
    )
    assert "did you mean 'x1'" in _error(feols, table, "y", ["x_1"], fe=["unit"])
    assert "'uint'" in _error(feols, table, "y", ["x1"], fe=["uint"])
    assert "'regoin'" in _error(feols, table, "y", ["x1"], vcov={"CRV1": "regoin"})
    # a text column: named, with its role and an example of the text
    msg = _error(feols, table, "y", ["x_text"])
    assert "regressor column 'x_text' must be numeric" in msg and "'n/a'" in msg
    assert "outcome column 'sector' must be numeric" in _error(feols, table, "sector", ["x1"])
    # no rows left
    empty = table.filter(table.x1 > 1e9)
    assert "no observations left" in _error(feols, empty, "y", ["x1"], fe=["unit"])
    # one cluster
    one = table.mutate(one=ibis.literal(1))
    assert _error(feols, one, "y", ["x1"], vcov={"CRV1": "one"}) == _error(
        feols, frame.with_columns(one=pl.lit(1)), "y", ["x1"], vcov={"CRV1": "one"}
    )
    # a formula term the engine cannot build names the remedy
    assert "table.mutate" in _error(feols_formula, "y ~ log(x1) | unit", table)
    assert "did you mean 'x1'" in _error(feols_formula, "y ~ x_1 | unit", table)
    # varying slopes and the linearmodels engine are in-memory options
    assert "in-memory" in _error(feols, table, "y", ["x1"], fe=["unit[x2]"])
    assert "collect the Ibis table" in _error(feols, table, "y", ["x1"], engine="linearmodels")


def test_flowstore_ibis_equals_scan(tmp_path: Path) -> None:
    from tradeimpact.store import FlowStore

    files = sorted(
        (Path(__file__).resolve().parents[1] / "data_raw" / "comtrade").glob("*.json.gz")
    )
    store = FlowStore(tmp_path / "store")
    empty = store  # before any ingest: no manifest
    store.ingest(files[:2])
    table = store.ibis()
    assert table.get_backend().name == "duckdb"
    got = table.to_polars().sort("source_file", "source_line")
    want = store.scan().collect().sort("source_file", "source_line")
    assert got.schema == want.schema
    assert got.equals(want)
    # a fit on the store's table equals the fit on its scan
    sub = table.filter(table.value_usd > 0).mutate(lv=table.value_usd.ln())
    mem_frame = want.filter(pl.col("value_usd") > 0).with_columns(lv=pl.col("value_usd").log())
    mem_frame = mem_frame.with_columns(pl.col("period").dt.month().cast(pl.Float64).alias("m"))
    sub = sub.mutate(m=sub.period.month().cast("float64"))
    kw = {"fe": ["reporter_iso3", "hs6"], "vcov": {"CRV1": "hs6"}}
    assert_same(feols(mem_frame, "lv", ["m"], **kw), feols(sub, "lv", ["m"], **kw))
    assert empty.root == store.root


def test_did_on_an_ibis_table(tmp_path: Path) -> None:
    from tradeimpact.models.did import did

    rng = np.random.default_rng(8)
    units, periods = 400, 10
    unit = np.repeat(np.arange(units), periods)
    period = np.tile(np.arange(periods), units)
    treat = (unit < 80).astype(np.int64)
    post = (period >= 6).astype(np.int64)
    x = rng.normal(size=unit.size)
    y = np.exp(
        0.2 * treat * post + 0.1 * x + np.sin(unit) + 0.05 * period + rng.normal(size=x.size)
    )
    y[rng.choice(y.size, 30, replace=False)] = 0.0
    frame = pl.DataFrame({"unit": unit, "year": 2000 + period, "treat": treat, "post": post,
                          "x": x, "y": y, "state": unit % 20})  # fmt: skip
    table = as_table(frame, tmp_path / "p.parquet")
    for kw in (
        {"post": "post", "controls": ["x"]},
        {"time": "year", "event_date": 2006, "outcome": "log", "vcov": {"CR1": "state"}},
        {"post": "post", "time": "year", "vcov": "twoway"},
    ):
        mem = did(frame, "y", "treat", unit="unit", inference="cr1", **{"time": "year", **kw})
        eng = did(table, "y", "treat", unit="unit", inference="cr1", **{"time": "year", **kw})
        assert_same(mem, eng)
        assert eng.effect == mem.effect and eng.att == pytest.approx(mem.att, rel=TOL)
        assert eng.att_pvalue == pytest.approx(mem.att_pvalue, rel=1e-7)
        assert eng.dropped_regressors == mem.dropped_regressors
    default = did(table, "y", "treat", "post", "unit", time="year")
    assert "engine" in default.headline.note
    # the design checks and the refusals are as clear as in memory
    assert _error(did, table, "y", "treat", "post", "unit", time="year", inference="ri")
    bad = frame.with_columns(
        treat=pl.when(pl.col("year") > 2007).then(1).otherwise(pl.col("treat"))
    )
    tb = as_table(bad, tmp_path / "b.parquet")
    mem_msg = _error(did, bad, "y", "treat", "post", "unit", time="year")
    eng_msg = _error(did, tb, "y", "treat", "post", "unit", time="year")
    assert eng_msg.startswith("'treat' varies within unit(s) [80, 81, 82, 83, 84]: it must")
    assert eng_msg.split("]")[1] == mem_msg.split("]")[1]


def test_event_study_on_an_ibis_table_says_what_to_do(tmp_path: Path) -> None:
    from tradeimpact.models.event_study import event_study

    table = as_table(panel(500, seed=9), tmp_path / "p.parquet")
    # the TWFE event study is computed by the engine (tests/test_ibis_event_study.py); what
    # needs the rows in memory is refused, naming the option and what to do
    msg = _error(event_study, table, "y", "unit", "period", cohort="region", estimator="sunab")
    assert "table.to_polars()" in msg and "estimator='sunab'" in msg
