"""The fast decoder of a Comtrade v1 JSON answer: msgspec, then polars' JSON reader into Arrow.

:func:`decode_answer` checks the whole answer with msgspec (a C decoder: invalid, truncated or
non-UTF-8 JSON, ``NaN`` literals, no ``data`` array, an error answer) and keeps each record as
its raw bytes (no Python object per value); the records are then parsed, 200,000 at a time, by
polars' newline-delimited JSON reader with the mapped fields' types as the API sends them
(codes Int64, flags Boolean, texts String, the numbers Float64), a value of another type
failing the read. It gives up (returns ``None``) on anything but that common case, and the
reader then parses the file with Python's ``json``, which names the problem (file, line,
column) or reads the odd file the way it always has (a text column per field). Either way the
rows are the same (tests/test_comtrade_json_fast.py): integers and booleans read as the text
the general path writes; a float in a text field (whose text would differ) is refused by a
second msgspec pass over the text fields, which runs while polars parses.

Decoders measured (2 cores, load average 8-15, 104,176 records of the generated answer, CPU
seconds): msgspec into raw records 0.07, into structs of the 47 fields 0.21; ``orjson.loads``
1.75 (wall; dicts of all 47 fields), ``json.loads`` 1.59 (wall). Columns from Python objects
cost more than the decode (0.31 s to gather 25 fields of msgspec structs, 0.13 s to build the
Series), so the records go to polars as bytes: the whole read is 0.84 s CPU against 2.3 s for
pandas (``json.load`` + ``DataFrame.from_records`` + ``to_parquet``) and 2.5 s for the general
path. orjson has no raw-record mode, so it would build every value as a Python object first:
msgspec is the decoder. Without msgspec (the ``json`` extra) the reader uses the general path.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

msgspec: Any
try:  # optional: the `json` extra
    import msgspec
except ImportError:  # pragma: no cover - the general path is tested with msgspec monkeypatched away
    msgspec = None

__all__ = ["available", "decode_answer"]

#: records parsed by polars at a time (bounds the newline-delimited copy of the records)
BATCH = 200_000


def available() -> bool:
    """True when msgspec is importable (the fast decoder can run)."""
    return msgspec is not None


_DECODERS: dict[Any, Any] = {}


def _records_decoder() -> Any:
    """msgspec decoder of ``{"data": [record, ...], "error": ..., ...}``, records kept raw."""
    if "records" not in _DECODERS:
        assert msgspec is not None
        answer = msgspec.defstruct(
            "ComtradeAnswer",
            [
                ("data", list[msgspec.Raw] | msgspec.UnsetType, msgspec.UNSET),
                ("error", Any, None),
                ("message", Any, None),
            ],
        )
        _DECODERS["records"] = msgspec.json.Decoder(answer)
    return _DECODERS["records"]


def _texts_decoder(fields: tuple[str, ...]) -> Any:
    """msgspec decoder that accepts ``fields`` holding text, integers, booleans or null only."""
    if fields not in _DECODERS:
        assert msgspec is not None
        record = msgspec.defstruct(
            "ComtradeTexts",
            [(name, str | int | bool | None, None) for name in fields],  # type: ignore[misc]
            gc=False,  # no cycles: no GC tracking of the records
        )
        answer = msgspec.defstruct("ComtradeTextsAnswer", [("data", list[record])])  # type: ignore[valid-type]
        _DECODERS[fields] = msgspec.json.Decoder(answer)
    return _DECODERS[fields]


def _read_batches(records: list[Any], schema: dict[str, pl.DataType]) -> list[pl.DataFrame]:
    """The raw records as frames of ``schema``, :data:`BATCH` records at a time (strict types)."""
    parts = []
    for start in range(0, len(records), BATCH):
        lines = b"\n".join(records[start : start + BATCH])
        parts.append(pl.read_ndjson(io.BytesIO(lines), schema=schema))
    return parts


def decode_answer(
    raw: bytes, types: dict[str, pl.DataType], numbers: list[str]
) -> tuple[list[str], pl.DataFrame] | None:
    """The records of a Comtrade answer as columns, or ``None`` to leave it to the general path.

    Parameters
    ----------
    raw : bytes
        The file's bytes (a byte-order mark is allowed).
    types : dict
        The fields the mapping reads -> their JSON type in the API's answers (Int64 for codes,
        Boolean for flags, String for texts, Float64 for the ``numbers``). A value of another
        type gives ``None`` (the general path), except in a String field, where an integer or a
        boolean reads as the general path writes it (``str(int)``, ``true``/``false``).
    numbers : list of str
        The number fields (Float64: a JSON number or null).

    Returns
    -------
    (present, frame) or None
        ``present``: the fields of ``types`` the answer has; ``frame``: their columns (the
        numbers Float64, the others text) plus ``_line`` (the record number).
    """
    if msgspec is None:
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        doc = _records_decoder().decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # invalid / truncated / not UTF-8 / NaN literal: the general path says so
    if doc.data is msgspec.UNSET or doc.error or doc.message or not doc.data:
        return None  # no data array, an error answer, or an empty one: the general path says so
    records: list[Any] = doc.data
    del doc
    schema = {name: pl.Float64() if name in numbers else dtype for name, dtype in types.items()}
    texts = tuple(name for name, dtype in schema.items() if dtype == pl.String())
    with ThreadPoolExecutor(1) as pool:
        # polars parses (without the GIL) while msgspec checks the text fields here: polars
        # writes a number in a String field as text, and a float's text would not be the
        # general path's, so a text field may hold text, integers, booleans or null only
        parsed = pool.submit(_read_batches, records, schema)
        try:
            _texts_decoder(texts).decode(raw)
            texts_ok = True
        except (msgspec.DecodeError, msgspec.ValidationError):
            texts_ok = False
        try:
            parts = parsed.result()
        except pl.exceptions.PolarsError:
            return None  # a record that is not a flat object, or a value of another type
    del records
    if not texts_ok:
        return None
    frame = pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]
    del parts
    # a field null in every record is present only if some record names it (cheap: rare)
    nulls = frame.select(pl.all().is_null().all()).row(0, named=True)
    present = [name for name in schema if not nulls[name] or f'"{name}"'.encode() in raw]
    frame = frame.select(
        pl.col(name).cast(pl.Float64 if name in numbers else pl.String) for name in present
    )
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_line"))
    return present, frame
