"""feols on a PySpark table in local mode (issue 17): the same numbers as the in-memory fit.

One Spark session for the module (local[2], 2 shuffle partitions: Spark's start-up is the cost),
two tests; skipped only when pyspark or Java is absent. Reference: the native in-memory fit on
the same rows, tolerance 1e-8 (see test_ibis_engine.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ibis")
pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - CI and this machine have Java 17
    pytest.skip("PySpark needs Java (no `java` on PATH)", allow_module_level=True)

from tests.test_ibis_engine import assert_same, panel
from tradeimpact.models.linear import feols

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import ibis
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("tradeimpact-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(session)
    session.stop()


def test_spark_1e5_rows_two_fixed_effects_cr1(spark: Any, tmp_path: Path) -> None:
    frame = panel(100_000, seed=11, units=5_000)
    frame.write_parquet(tmp_path / "p.parquet")
    table = spark.read_parquet(str(tmp_path / "p.parquet"))
    kw = {"fe": ["unit", "period"], "vcov": {"CRV1": "region"}}
    mem = feols(frame, "y", ["x1", "x2"], **kw)
    eng = feols(table, "y", ["x1", "x2"], **kw)
    assert_same(mem, eng)
    assert eng.extra["engine"] == "pyspark"
    assert all(eng.extra["demean"]["converged"].values())
    np.testing.assert_allclose(eng.beta, [1.5, -0.7], atol=0.02)  # the SYNTHETIC truth


def test_spark_flowstore_ibis(spark: Any, tmp_path: Path) -> None:
    from tradeimpact.store import FlowStore

    files = sorted(
        (Path(__file__).resolve().parents[1] / "data_raw" / "comtrade").glob("*.json.gz")
    )
    store = FlowStore(tmp_path / "store")
    store.ingest(files[:1])
    table = store.ibis(spark)
    got = table.to_polars().sort("source_file", "source_line")
    want = store.scan().collect().sort("source_file", "source_line")
    assert got.columns == want.columns
    assert got.height == want.height
    assert got.select("source", "value_usd", "period").equals(
        want.select("source", "value_usd", "period")
    )
