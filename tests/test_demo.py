"""The SYNTHETIC demonstration panel: determinism, labelling, the real Comtrade v1 format."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO, shared_path
from tradeimpact import demo
from tradeimpact.sources.comtrade import ComtradeReader

DATA = REPO / "data_raw"


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "published" not in p.parts and "real" not in p.parts  # real extracts
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    demo.write_demo(out)
    return out


def test_byte_identical_twice_and_equal_to_shipped(
    written: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = tmp_path_factory.mktemp("demo2")
    demo.write_demo(again)
    first, second = _digests(written), _digests(again)
    assert first == second
    assert len(first) == 24  # 22 Comtrade files + true effects + README
    # the committed data_raw/ is exactly what the generator writes
    assert _digests(DATA) == first


def test_every_file_is_labelled_synthetic(written: Path) -> None:
    comtrade = sorted((written / "comtrade").iterdir())
    assert len(comtrade) == 22  # China + 21 importers (Japan and 20 controls)
    assert all(p.name.startswith("SYNTHETIC_comtrade_") for p in comtrade)
    assert (written / "SYNTHETIC_TRUE_EFFECTS.json").exists()
    assert "SYNTHETIC" in (written / "README.md").read_text()
    truth = json.loads((written / "SYNTHETIC_TRUE_EFFECTS.json").read_text())
    assert truth["SYNTHETIC"] is True
    # gzip header: mtime 0 (bytes 4-8), no file name flag
    raw = comtrade[0].read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00" and not raw[3] & 0x08


def test_records_have_the_fields_of_a_real_response(written: Path) -> None:
    fixture = shared_path("data", "real", "comtradr-vignette", "api_fixture", "HS-60a6ad.json")
    real = json.loads(fixture.read_text())
    with gzip.open(written / "comtrade" / demo.file_name("JPN")) as fh:
        doc = json.load(fh)
    assert list(doc) == list(real)  # elapsedTime, count, data, error
    assert doc["count"] == len(doc["data"])
    rec = doc["data"][0]
    assert list(rec) == list(real["data"][0])  # the 47 fields, in the API's order
    assert len(rec) == 47
    for key, value in real["data"][0].items():
        if value is not None:
            assert type(rec[key]) is type(value) or (
                isinstance(value, float) and isinstance(rec[key], float | int)
            ), key
    assert rec["freqCode"] == "M" and len(rec["period"]) == 6
    assert rec["refPeriodId"] == int(rec["period"]) * 100 + 1


def test_comtrade_reader_reads_them_unchanged(written: Path) -> None:
    """A's reader: every record read, none rejected, values and weights land as written."""
    path = written / "comtrade" / demo.file_name("CHN")
    frame = ComtradeReader().read(path).collect()
    with gzip.open(path) as fh:
        recs = json.load(fh)["data"]
    assert frame.height == len(recs)
    assert frame["reject_reason"].null_count() == frame.height
    first = recs[0]
    row = frame.filter(pl.col("source_line") == 1).row(0, named=True)
    assert row["reporter_iso3"] == "CHN" and row["flow"] == "X"
    assert row["partner_iso3"] == first["partnerISO"]
    assert row["value_usd"] == first["primaryValue"]
    assert row["net_weight_kg"] == first["netWgt"]
    assert row["valuation"] == "FOB"
    assert frame["value_usd"].sum() == pytest.approx(
        sum(r["primaryValue"] for r in recs), rel=1e-12
    )


def test_magnitudes_follow_the_public_figures() -> None:
    """Japan's core imports from China ~2,000 t/month in mid-2010; China's share 60-80%."""
    recs = demo.generate()["JPN"]
    core = {"280530", "284610", "284690"}
    pre = [
        r for r in recs if r["period"] in ("201006", "201007", "201008") and r["cmdCode"] in core
    ]
    china = sum(r["netWgt"] for r in pre if r["partnerISO"] == "CHN") / 3 / 1000
    total = sum(r["netWgt"] for r in pre) / 3 / 1000
    assert 1000 < china < 3000, china
    assert 0.6 < china / total < 0.85, china / total

    # effects of known size: Japan's Nov 2010 imports of the core basket fall far below Aug 2010
    def month(p: str) -> float:
        return sum(r["netWgt"] for r in recs if r["period"] == p and r["cmdCode"] in core
                   and r["partnerISO"] == "CHN")  # fmt: skip

    assert month("201011") < 0.5 * month("201008")


def test_true_effect_paths() -> None:
    paths = demo.true_effect_paths()
    ms = demo.months()
    i = ms.index(demo.date(2010, 10, 1))
    assert paths["importer_quantity"][i] == -0.75
    assert paths["exporter_quantity"][i] == pytest.approx(-0.75 - 0.35)
    assert paths["diversion_quantity"][ms.index(demo.date(2026, 3, 1))] == 0.30
    assert paths["importer_quantity"][ms.index(demo.date(2011, 4, 1))] == -0.30  # earthquake
