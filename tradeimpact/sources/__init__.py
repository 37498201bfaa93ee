"""Readers of the real raw formats, one module per format, and the registry that finds them.

=================  ==============================================================================
name               format
=================  ==============================================================================
comtrade           UN Comtrade API v1 JSON, or the same fields as CSV (camelCase or snake_case)
comtrade_bulk      UN Comtrade bulk file: gzip-compressed tab-separated text, API v1 fields
comtrade_legacy    legacy UN Comtrade CSV (``Trade Value (US$)``, ``Netweight (kg)``...)
baci               CEPII BACI ``t,i,j,k,v,q``
japan_customs      Japan Customs (Trade Statistics of Japan) monthly CSV, wide
gacc               China Customs (GACC) query export CSV
generic            any delimited extract, through a column mapping (:class:`GenericReader`)
=================  ==============================================================================

Modules are imported lazily: ``get_reader("baci")`` imports only :mod:`tradeimpact.sources.baci`.
Every reader follows :class:`tradeimpact.sources.base.Reader`.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path
from typing import Any

from tradeimpact.errors import SourceFormatError, TradeImpactError
from tradeimpact.sources.base import Reader

__all__ = [
    "READERS",
    "Reader",
    "available_readers",
    "detect_reader",
    "explain_unrecognised",
    "get_reader",
]

#: reader name -> "module:ClassName"
READERS: dict[str, str] = {
    "comtrade": "tradeimpact.sources.comtrade:ComtradeReader",
    "comtrade_bulk": "tradeimpact.sources.comtrade_bulk:ComtradeBulkReader",
    "comtrade_legacy": "tradeimpact.sources.comtrade_legacy:ComtradeLegacyReader",
    "baci": "tradeimpact.sources.baci:BaciReader",
    "japan_customs": "tradeimpact.sources.japan_customs:JapanCustomsReader",
    "estat_api": "tradeimpact.sources.estat_api:EstatApiReader",  # e-Stat getStatsData JSON
    "gacc": "tradeimpact.sources.gacc:GaccReader",
    "generic": "tradeimpact.sources.generic:GenericReader",
}

#: readers that need arguments (a column mapping) and so are never picked by detect_reader
_NOT_DETECTED = {"generic"}


def _load(name: str) -> type:
    if name not in READERS:
        raise TradeImpactError(
            f"unknown source format '{name}'; known formats: {', '.join(sorted(READERS))}"
        )
    module_name, class_name = READERS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TradeImpactError(f"the reader '{name}' cannot be imported: {exc}") from exc
    cls: type = getattr(module, class_name)
    return cls


def get_reader(name: str, **kwargs: Any) -> Reader:
    """An instance of the reader registered as ``name``.

    Parameters
    ----------
    name : str
        One of :data:`READERS` (see ``tradeimpact sources``).
    **kwargs
        Passed to the reader's constructor (``generic`` needs its column mapping).
    """
    reader: Reader = _load(name)(**kwargs)
    return reader


def available_readers() -> dict[str, str]:
    """Reader name -> one-line description (``"(not importable: ...)"`` for a broken module)."""
    out: dict[str, str] = {}
    for name in READERS:
        try:
            cls: Any = _load(name)
            out[name] = str(cls.description)
        except (TradeImpactError, AttributeError) as exc:
            out[name] = f"(not importable: {exc})"
    return out


def detect_reader(path: str | Path) -> Reader:
    """The one reader whose ``sniff`` accepts ``path``.

    Raises
    ------
    SourceFormatError
        When no reader, or more than one, recognises the file (the message names the file and
        the candidates). When none does because the file cannot be read at all, the error is the
        one a reader gives with ``--source`` (:func:`explain_unrecognised`): empty file, corrupt
        or truncated gzip, not UTF-8, wrong delimiter, invalid JSON, a Comtrade error answer.
    """
    path = Path(path)
    if not path.exists():
        raise SourceFormatError(path, "file not found")
    hits: list[tuple[str, Reader]] = []
    for name in READERS:
        if name in _NOT_DETECTED:
            continue
        try:
            reader = get_reader(name)
        except TradeImpactError:
            continue
        try:
            recognised = reader.sniff(path)
        except (OSError, EOFError, zlib.error, UnicodeError, ValueError, TradeImpactError):
            recognised = False  # a sniff reads raw bytes; the file's problem is said below
        if recognised:
            hits.append((name, reader))
    if not hits:
        raise explain_unrecognised(path)
    if len(hits) > 1:
        raise SourceFormatError(
            path,
            f"ambiguous format: readers {[name for name, _ in hits]} all recognise this file; "
            "name the format with --source",
        )
    return hits[0][1]


def explain_unrecognised(path: Path) -> SourceFormatError:
    """Why no reader recognises ``path``: the error a reader would give with ``--source``.

    The file-level checks run in the readers' order: missing or empty file, a corrupt or
    truncated gzip stream; for JSON, the Comtrade reader's parse (invalid or truncated JSON, an
    API error answer quoted, no ``data`` array); for text, a header that is not UTF-8 and a
    header split by another delimiter. A file that passes them all has a header no reader knows.
    """
    from tradeimpact.sources._text import head_bytes, header_line, split_header

    try:
        head = head_bytes(path)
        if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
            from tradeimpact.sources.comtrade import _load_json

            _load_json(path)
            what = "a JSON document without Comtrade records (cmdCode, primaryValue)"
        else:
            names = split_header(path, header_line(path, head))
            shown = names if len(names) <= 8 else [*names[:8], "..."]
            what = f"a header no reader knows: {shown}"
    except SourceFormatError as err:
        return err
    return SourceFormatError(
        path,
        f"no reader recognises this file ({what}); name the format with --source "
        f"({', '.join(sorted(READERS))}) or use the generic reader with a column mapping",
    )
