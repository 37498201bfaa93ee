"""The msgspec decoder of Comtrade JSON answers gives the rows of the general (``json``) path.

Each answer is read twice: by the fast decoder (:mod:`tradeimpact.sources._comtrade_json`) and
with msgspec taken away (the general path, Python's ``json`` and a text column per field, as
before the decoder existed); the reader's output and the stored rows must be equal, value for
value. The general path is the reference: its mapping is tested against the real API fixture
and hand-read numbers in tests/test_sources_comtrade.py. Each case also asserts which path ran,
so a case meant for the fast decoder cannot silently test the general path twice.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks.data import comtrade_frame
from tradeimpact.errors import SourceFormatError
from tradeimpact.sources import _comtrade_json
from tradeimpact.sources.comtrade import API_V1_FIELDS, ComtradeReader
from tradeimpact.store import FlowStore

pytest.importorskip("msgspec")


def record(**changes: Any) -> dict[str, Any]:
    """A Comtrade v1 record with the API's types (codes as numbers, texts as strings)."""
    base: dict[str, Any] = {
        "typeCode": "C",
        "freqCode": "M",
        "refYear": 2010,
        "refMonth": 3,
        "period": "201003",
        "reporterCode": 392,
        "reporterISO": "JPN",
        "flowCode": "M",
        "flowDesc": "Import",
        "partnerCode": 156,
        "partnerISO": "CHN",
        "partner2Code": 0,
        "classificationCode": "H3",
        "cmdCode": "280530",
        "customsCode": "C00",
        "motCode": 0,
        "qtyUnitCode": 8,
        "qtyUnitAbbr": "kg",
        "qty": 1000.0,
        "netWgt": 1000.5,
        "cifvalue": 12.5,
        "fobvalue": None,
        "primaryValue": 12.5,
        "legacyEstimationFlag": 0,
        "isReported": True,
        "isAggregate": False,
    }
    base.update(changes)
    return base


def answer(*records: dict[str, Any]) -> str:
    return json.dumps(
        {"elapsedTime": "0.01 secs", "count": len(records), "data": list(records), "error": ""}
    )


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pl.DataFrame, pl.DataFrame]:
    fast = ComtradeReader().read(path).collect()
    with monkeypatch.context() as m:
        m.setattr(_comtrade_json, "msgspec", None)
        general = ComtradeReader().read(path).collect()
    return fast, general


def fast_ran(path: Path) -> bool:
    return ComtradeReader()._read_json_fast(path) is not None


#: (case, records, the fast decoder reads it)
CASES: list[tuple[str, list[dict[str, Any]], bool]] = [
    ("plain", [record(), record(partnerCode=410, partnerISO="KOR")], True),
    ("integer-values", [record(primaryValue=12, qty=1000, netWgt=3)], True),
    ("null-values", [record(primaryValue=None, cifvalue=7.25), record(qty=None, netWgt=None)], True),
    ("no-quantity", [record(qtyUnitCode=-1, qty=5.0, qtyUnitAbbr="N/A")], True),
    ("unknown-partner", [record(), record(partnerCode=999)], True),
    ("hs-as-number", [record(), record(cmdCode=30613)], True),  # an int in a text field
    ("flag-as-text", [record(isReported=True), record(partnerCode=410, legacyEstimationFlag=4)], True),
    ("annual", [record(freqCode="A", period="2010", refMonth=52)], True),
    ("breakdown", [record(), record(motCode=2100), record(partner2Code=251)], True),
    ("negative", [record(primaryValue=-5.0)], True),
    ("huge-exponent", [record(primaryValue=1e308 * 10)], False),  # json writes Infinity
    ("field-absent-in-some", [record(), {k: v for k, v in record(partnerCode=410).items()
                                         if k != "qty"}], True),
    ("reporter-iso-only", [{k: v for k, v in record().items() if k != "reporterCode"}], True),
    ("duplicate-key", [record(), record()], True),
    # the general path only: a float in a text field, text in a number field, other names
    ("hs-as-float", [record(), record(cmdCode=280530.0)], False),
    ("value-as-text", [record(primaryValue="12,5")], False),
    ("code-as-text", [record(reporterCode="392")], False),
    ("snake-case", [{"cmd_code": "280530", "primary_value": 1.0, "reporter_code": 392,
                     "partner_code": 156, "flow_code": "M", "period": "2010"}], False),
    ("nan-literal", [record(), record(partnerCode=410, primaryValue=float("nan"))], False),
]  # fmt: skip


@pytest.mark.parametrize(("case", "records", "fast"), CASES, ids=[c[0] for c in CASES])
def test_fast_decoder_gives_the_general_paths_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, records: list[Any], fast: bool
) -> None:
    path = tmp_path / f"{case}.json"
    path.write_text(answer(*records), encoding="utf-8")
    assert fast_ran(path) is fast
    got, want = read_both(path, monkeypatch)
    assert got.height == len(records)
    assert_frame_equal(got, want)


def test_with_a_byte_order_mark_and_gzip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bom.json.gz"
    text = "\ufeff" + answer(record(), record(partnerCode=410))
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write(text.encode("utf-8"))
    assert fast_ran(path)
    got, want = read_both(path, monkeypatch)
    assert_frame_equal(got, want)
    assert got["value_usd"].to_list() == [12.5, 12.5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (answer(record(), record())[:150], "truncated JSON: the file ends before the document"),
        ('{"data": [1,]}', "invalid JSON"),
        (b'{"data": [\n{"cmdCode": "28\xe9"}]}', "broken encoding: byte 0xe9 is not UTF-8"),
        ('{"data": [1]}', "'data' is not an array of records"),
        (answer()[:-1] + ', "error": "Too many requests"}', "the API said: Too many requests"),
    ],
    ids=["truncated", "invalid", "not-utf8", "not-records", "error-answer"],
)
def test_bad_answers_keep_their_errors(tmp_path: Path, text: str | bytes, message: str) -> None:
    """The fast decoder gives up on a broken answer; the general path names the problem."""
    path = tmp_path / "bad.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    assert _comtrade_json.decode_answer(path.read_bytes(), {"cmdCode": pl.String()}, []) is None
    with pytest.raises(SourceFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ComtradeReader().read_staged(path)


def test_generated_answer_stores_the_same_rows_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generated SYNTHETIC answer of 3,000 records (two decoder batches) ingested both ways:
    the stores hold the same rows, and the same rows as the same records written as CSV."""
    monkeypatch.setattr(_comtrade_json, "BATCH", 1_000)
    frame = comtrade_frame(3_000, seed=3)
    assert frame.columns == list(API_V1_FIELDS)
    # a few bad records: unknown partner, negative value, no value
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 10).then(999).otherwise(pl.col("partnerCode"))
        .alias("partnerCode"),
        pl.when(pl.int_range(pl.len()) == 20).then(-1.0).otherwise(pl.col("primaryValue"))
        .alias("primaryValue"),
    )  # fmt: skip
    path = tmp_path / "SYNTHETIC_answer.json"
    path.write_text(
        '{"elapsedTime":"0.1 secs","count":3000,"data":' + frame.write_json() + ',"error":""}',
        encoding="utf-8",
    )
    assert fast_ran(path)
    fast = FlowStore(tmp_path / "fast").ingest([path])
    with monkeypatch.context() as m:
        m.setattr(_comtrade_json, "msgspec", None)
        assert not fast_ran(path)
        general = FlowStore(tmp_path / "general").ingest([path])
    assert (fast.rows_read, fast.rows_stored, fast.rows_quarantined) == (3_000, 2_998, 2)
    assert (general.rows_read, general.rows_stored, general.rows_quarantined) == (3_000, 2_998, 2)
    rows = FlowStore(tmp_path / "fast").scan().sort("source_line").collect()
    assert_frame_equal(rows, FlowStore(tmp_path / "general").scan().sort("source_line").collect())
    assert_frame_equal(
        FlowStore(tmp_path / "fast").quarantine().collect(),
        FlowStore(tmp_path / "general").quarantine().collect(),
    )
    csv = tmp_path / "SYNTHETIC_answer.csv"
    frame.write_csv(csv)
    FlowStore(tmp_path / "csv").ingest([csv])
    from_csv = FlowStore(tmp_path / "csv").scan().sort("source_line").collect()
    # CSV lines are record numbers + 1 (the header); the file's name differs
    assert_frame_equal(
        rows.drop("source_file"),
        from_csv.drop("source_file").with_columns(pl.col("source_line") - 1),
    )
