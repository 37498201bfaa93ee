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
the general path writes; a float in a text field (whose text would differ) is refused by
msgspec's check of the text fields of each batch. A plain file is read from a memory map (no
copy of its bytes); the batches are read by two threads, so one thread's polars parse (without
the GIL) runs while the other joins and checks its batch.

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
import mmap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

msgspec: Any
try:  # optional: the `json` extra
    import msgspec
except ImportError:  # pragma: no cover - the general path is tested with msgspec monkeypatched away
    msgspec = None

__all__ = ["available", "decode_answer"]

#: records parsed by polars at a time, at most (bounds the newline-delimited copy of the records)
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
    """msgspec decoder of one record that accepts ``fields`` holding text, integers, booleans or
    null only (other fields are skipped)."""
    if fields not in _DECODERS:
        assert msgspec is not None
        record = msgspec.defstruct(
            "ComtradeTexts",
            [(name, str | int | bool | None, None) for name in fields],  # type: ignore[misc]
            gc=False,  # no cycles: no GC tracking of the records
        )
        _DECODERS[fields] = msgspec.json.Decoder(record)
    return _DECODERS[fields]


def _read_batch(
    records: list[Any], schema: dict[str, pl.DataType], texts: tuple[str, ...]
) -> pl.DataFrame:
    """One batch of raw records as a frame of ``schema`` (strict types).

    The records are joined as newline-delimited JSON; msgspec checks the text fields of those
    lines (polars writes a number in a String field as text, and a float's text would not be the
    general path's, so a text field may hold text, integers, booleans or null only), then polars
    parses them without the GIL. Raises msgspec's or polars' error on anything else.
    """
    lines = b"\n".join(records)
    _texts_decoder(texts).decode_lines(lines)  # the list of records is dropped at once
    return pl.read_ndjson(io.BytesIO(lines), schema=schema)


def _workers() -> int:
    """Threads that read batches: 2 at most (each batch is about half GIL-bound msgspec work,
    half polars parsing without the GIL, so two threads keep two cores busy), never more than
    polars' thread pool (``POLARS_MAX_THREADS``)."""
    return max(1, min(2, pl.thread_pool_size()))


def decode_answer(
    raw: bytes | mmap.mmap, types: dict[str, pl.DataType], numbers: list[str]
) -> tuple[list[str], pl.DataFrame] | None:
    """The records of a Comtrade answer as columns, or ``None`` to leave it to the general path.

    Parameters
    ----------
    raw : bytes or mmap.mmap
        The file's bytes (a byte-order mark is allowed); a memory map of the file is read in
        place. No view of it is kept when this returns.
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
    view = memoryview(raw)
    body = view[3:] if view[:3] == b"\xef\xbb\xbf" else view
    try:
        parts = _decode_records(body, types, numbers)
    finally:
        _release(body, view)
    if parts is None:
        return None
    schema = _schema(types, numbers)
    frame = pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]
    del parts
    # a field null in every record is present only if some record names it (cheap: rare)
    nulls = frame.select(pl.all().is_null().all()).row(0, named=True)
    present = [name for name in schema if not nulls[name] or raw.find(f'"{name}"'.encode()) >= 0]
    frame = frame.select(
        pl.col(name).cast(pl.Float64 if name in numbers else pl.String) for name in present
    )
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_line"))
    return present, frame


def _release(*views: memoryview) -> None:
    """Release ``views`` of the answer's bytes (a memory map can then be closed)."""
    for view in views:
        try:
            view.release()
        except BufferError:  # pragma: no cover - only while an exception's traceback holds
            pass  # raw records: the view is released when they are freed (no data is lost)


def _decode_records(
    body: memoryview, types: dict[str, pl.DataType], numbers: list[str]
) -> list[pl.DataFrame] | None:
    """The answer's records as frames (:func:`_read_records`), or ``None`` for the general path.

    The raw records are views of ``body``; none is left when this returns.
    """
    assert msgspec is not None
    try:
        doc = _records_decoder().decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None  # invalid / truncated / not UTF-8 / NaN literal: the general path says so
    if doc.data is msgspec.UNSET or doc.error or doc.message or not doc.data:
        return None  # no data array, an error answer, or an empty one: the general path says so
    records: list[Any] = doc.data
    del doc
    return _read_records(records, types, numbers)


def _schema(types: dict[str, pl.DataType], numbers: list[str]) -> dict[str, pl.DataType]:
    return {name: pl.Float64() if name in numbers else dtype for name, dtype in types.items()}


def _read_records(
    records: list[Any], types: dict[str, pl.DataType], numbers: list[str]
) -> list[pl.DataFrame] | None:
    """The raw records as frames, :data:`BATCH` at a time, read by :func:`_workers` threads
    (batches in order); ``None`` at the first batch that is not the common case."""
    schema = _schema(types, numbers)
    texts = tuple(name for name, dtype in schema.items() if dtype == pl.String())
    _texts_decoder(texts)  # built once, before the threads use it
    workers = _workers()
    # at most BATCH records a batch, and as many batches for each thread (no thread idle at
    # the end while the other reads the last batch)
    count = -(-len(records) // BATCH)
    count = -(-count // workers) * workers
    size = -(-len(records) // count)
    batches = [records[start : start + size] for start in range(0, len(records), size)]
    pool = ThreadPoolExecutor(workers)
    try:
        futures = [pool.submit(_read_batch, batch, schema, texts) for batch in batches]
        del batches
        return [future.result() for future in futures]
    except (msgspec.DecodeError, msgspec.ValidationError, pl.exceptions.PolarsError):
        # a text field holding a float, an object or an array; a record that is not a flat
        # object, or a value of another type: the general path reads the file
        return None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
