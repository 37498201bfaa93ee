"""Every bad input of issue 2, with the message it must give (file, line, field).

File-level problems raise SourceFormatError; row-level problems become quarantined rows whose
reason names the value. In every case the store is left as it was, and rows in = stored +
quarantined.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import shared_path
from tradeimpact.errors import SourceFormatError
from tradeimpact.sources import detect_reader
from tradeimpact.store import FlowStore

HEADER = "freqCode,period,reporterCode,flowCode,partnerCode,classificationCode,cmdCode,primaryValue"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def ingest_error(tmp_path: Path, path: Path, source: str | None = "comtrade") -> SourceFormatError:
    store = FlowStore(tmp_path / "store")
    with pytest.raises(SourceFormatError) as info:
        store.ingest([path], source)
    assert not store.manifest_path.exists()
    assert store.scan().collect().height == 0
    return info.value


def quarantined(tmp_path: Path, path: Path) -> pl.DataFrame:
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], "comtrade")
    assert report.rows_read == report.rows_stored + report.rows_quarantined
    return store.quarantine().collect()


@pytest.mark.parametrize("name", ["empty.csv", "empty.json"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, "\n")
    err = ingest_error(tmp_path, path)
    assert str(err) == f"{path}, line 1: empty file (no header, no rows)"


def test_missing_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.csv",
        "freqCode,period,reporterCode,flowCode,partnerCode,cmdCode\nA,2010,392,M,156,280530\n",
    )
    err = ingest_error(tmp_path, path)
    assert err.line == 1 and err.field == "primaryValue"
    assert str(err).startswith(
        f"{path}, line 1, field 'primaryValue': missing column(s) "
        "['primaryValue']; the header has ['freqCode'"
    )


def test_wrong_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", HEADER.replace(",", ";") + "\nA;2010;392;M;156;H3;280530;5\n")
    err = ingest_error(tmp_path, path)
    assert str(err) == f"{path}, line 1: wrong delimiter: the header is split by ';', expected ','"
    # without --source, detection says the same real problem (not "no reader recognises")
    err = ingest_error(tmp_path, path, source=None)
    assert str(err) == f"{path}, line 1: wrong delimiter: the header is split by ';', expected ','"


def test_truncated_json(tmp_path: Path) -> None:
    real = shared_path("data", "real", "comtradr-vignette", "api_fixture", "HS-60a6ad.json")
    text = real.read_text(encoding="utf-8")
    path = write(tmp_path, "t.json", text[: len(text) // 2])
    err = ingest_error(tmp_path, path)
    assert "truncated JSON" in str(err)
    lines = text[: len(text) // 2].count("\n") + 1
    assert err.line == lines
    assert str(err).startswith(f"{path}, line {lines}: truncated JSON: ")


def test_json_without_data_array(tmp_path: Path) -> None:
    path = write(tmp_path, "e.json", json.dumps({"error": "quota exceeded", "cmdCode": 1}))
    err = ingest_error(tmp_path, path)
    assert str(err) == (
        f"{path}, field 'data': not a Comtrade API response: no 'data' array "
        "(the API said: quota exceeded)"
    )


def test_non_numeric_values_are_quarantined(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "n.csv",
        HEADER + "\nA,2010,392,M,156,H3,280530,12.5\nA,2010,392,M,410,H3,280530,n/a\n",
    )
    q = quarantined(tmp_path, path)
    assert q.select("source_file", "source_line", "field", "reason").rows() == [
        (str(path), 3, "primaryValue", "non-numeric value 'n/a'")
    ]


def test_hs_code_read_as_number(tmp_path: Path) -> None:
    """A code written from a numeric column: 030613 -> 30613 (5 digits)."""
    path = write(
        tmp_path,
        "h.csv",
        HEADER + "\nA,2010,764,M,508,H3,30613,2482223\nA,2010,764,M,508,H3,030613,2482223\n",
    )
    q = quarantined(tmp_path, path)
    assert q.select("source_line", "field", "reason").rows() == [
        (
            2,
            "cmdCode",
            "HS code '30613' has 5 digits: it was read as a number and lost its "
            "leading zero (keep the commodity code as text)",
        )
    ]
    # the same in JSON, where cmdCode is a number
    data = {
        "data": [
            {
                "freqCode": "A",
                "period": 2010,
                "reporterCode": 764,
                "flowCode": "M",
                "partnerCode": 508,
                "cmdCode": 30613,
                "primaryValue": 5.0,
            }
        ]
    }
    jpath = write(tmp_path, "h.json", json.dumps(data))
    store = FlowStore(tmp_path / "store2")
    store.ingest([jpath])
    assert store.quarantine().collect()["reason"][0].startswith("HS code '30613' has 5 digits")


def test_broken_encoding(tmp_path: Path) -> None:
    good = HEADER + "\nA,2010,392,M,156,H3,280530,1\n"
    path = write(tmp_path, "b.csv", good.encode() + b"A,2010,392,M,410,H3,28053\xe9,2\n")
    err = ingest_error(tmp_path, path)
    assert str(err) == (
        f"{path}, line 3: broken encoding: the bytes at column 26 are not UTF-8 "
        "(re-save the file as UTF-8)"
    )
    header = write(tmp_path, "bh.csv", b"freqC\xf4de,period\nA,2010\n")
    err = ingest_error(tmp_path, header)
    assert str(err) == (
        f"{header}, line 1: broken encoding: byte 0xf4 at column 6 is not UTF-8 "
        "(re-save the file as UTF-8)"
    )


def test_duplicate_rows_are_all_quarantined_never_summed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup.csv",
        HEADER + "\nA,2010,392,M,156,H3,280530,10\n"
        "A,2010,392,M,410,H3,280530,3\nA,2010,392,M,156,H3,280530,10\n",
    )
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], "comtrade")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (3, 1, 2)
    q = store.quarantine().collect()
    assert q["source_line"].to_list() == [2, 4]
    assert set(q["field"]) == {"flow_key"}
    assert q["reason"][0] == (
        "duplicate flow key: 2 rows of this file share (source, reporter, partner, flow, "
        "hs_code, period, freq) = (comtrade, JPN, CHN, M, 280530, 2010-01-01, A), lines 2 to 4; "
        "none is stored, none is summed"
    )
    assert store.scan().collect()["partner_iso3"].to_list() == ["KOR"]


def test_row_level_checks(tmp_path: Path) -> None:
    """Unknown code, negative value, period outside refYear, bad freq, breakdown row."""
    header = (
        "freqCode,refYear,period,reporterCode,flowCode,partnerCode,partner2Code,motCode,"
        "cmdCode,primaryValue"
    )
    path = write(
        tmp_path,
        "r.csv",
        header + "\n"
        "A,2010,2010,392,M,999,0,0,280530,1\n"
        "A,2010,2010,392,M,156,0,0,280530,-5\n"
        "A,2010,2011,392,M,156,0,0,280530,5\n"
        "M,2010,2010,392,M,156,0,0,280530,5\n"
        "A,2010,2010,392,M,156,0,2100,280530,5\n"
        "A,2010,2010,392,M,156,0,0,280530,5\n",
    )
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], "comtrade")
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (6, 1, 5)
    q = store.quarantine().collect()
    assert q.select("source_line", "field", "reason").rows() == [
        (2, "partnerCode", "unknown partner code '999' (not in the m49 table)"),
        (3, "value_usd", "negative value_usd -5.0"),
        (4, "period", "period '2011' is outside the record's declared refYear 2010"),
        (5, "period", "period '2010' does not match freqCode 'M'"),
        (
            6,
            "motCode",
            "breakdown row (motCode 2100): the store keeps totals over modes of transport",
        ),
    ]
    raw = json.loads(q["raw"][1])
    assert raw["value_usd"] == -5.0 and raw["partner_iso3"] == "CHN"


def test_detection_and_unknown_source(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.csv", HEADER + "\nA,2010,392,M,156,H3,280530,1\n")
    assert detect_reader(path).name == "comtrade"
    other = write(tmp_path, "other.csv", "a,b\n1,2\n")
    with pytest.raises(SourceFormatError, match="no reader recognises this file"):
        detect_reader(other)
    with pytest.raises(SourceFormatError, match="file not found"):
        FlowStore(tmp_path / "s").ingest([tmp_path / "missing.csv"])
    from tradeimpact.errors import TradeImpactError

    with pytest.raises(TradeImpactError, match="unknown source format 'nope'"):
        FlowStore(tmp_path / "s").ingest([path], "nope")


def test_skip_mode_keeps_good_files(tmp_path: Path) -> None:
    good = write(tmp_path, "ok.csv", HEADER + "\nA,2010,392,M,156,H3,280530,1\n")
    bad = write(tmp_path, "bad.csv", "")
    store = FlowStore(tmp_path / "store")
    report = store.ingest([bad, good], "comtrade", on_error="skip")
    assert report.files[0].status == f"error: {bad}, line 1: empty file (no header, no rows)"
    assert report.files[1].status == "ingested"
    assert store.scan().collect().height == 1


def test_bulk_availability_response_is_not_data(tmp_path: Path) -> None:
    """The real bulk-file listing of the API has a 'data' array but no trade fields."""
    path = shared_path("data", "real", "comtradr-vignette", "api_fixture", "bulk-HS-4f1d0f.json")
    with pytest.raises(SourceFormatError, match="no reader recognises this file"):
        detect_reader(path)
    err = ingest_error(tmp_path, path)
    assert err.field == "primaryValue"
    assert str(err).startswith(
        f"{path}, line 1, field 'primaryValue': missing column(s) ['primaryValue']; the records "
        "have the fields ['fileUrl'"
    )


def test_ambiguous_format_names_the_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tradeimpact.sources as sources

    readers = {**sources.READERS, "comtrade_again": sources.READERS["comtrade"]}
    monkeypatch.setattr(sources, "READERS", readers)
    path = write(tmp_path, "ok.csv", HEADER + "\nA,2010,392,M,156,H3,280530,1\n")
    with pytest.raises(SourceFormatError) as info:
        detect_reader(path)
    assert str(info.value) == (
        f"{path}: ambiguous format: readers ['comtrade', 'comtrade_again'] all recognise this file; "
        "name the format with --source"
    )


def test_store_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    """A store path whose parent is a file: the store's own message naming that file, not the
    OS error "Not a directory"; nothing is created."""
    from functools import partial

    from tradeimpact.errors import TradeImpactError

    blocker = write(tmp_path, "notes.txt", "a file\n")
    good = write(tmp_path, "x.csv", HEADER + "\nA,2010,392,M,156,H3,280530,12.5\n")
    for root in (blocker / "store", blocker / "a" / "store"):
        store = FlowStore(root)
        for call in (partial(store.ingest, [good]), store.scan, store.manifest):
            with pytest.raises(TradeImpactError, match="cannot be created there") as info:
                call()
            assert f"{blocker} is a file, not a folder" in str(info.value)
    assert blocker.read_text() == "a file\n"
