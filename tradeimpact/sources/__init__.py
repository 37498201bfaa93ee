"""Readers of the real raw formats, one module per format, and the registry that finds them.

=================  ==============================================================================
name               format
=================  ==============================================================================
comtrade           UN Comtrade API v1 JSON, or the same fields as CSV (camelCase or snake_case)
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
from pathlib import Path
from typing import Any

from tradeimpact.errors import SourceFormatError, TradeImpactError
from tradeimpact.sources.base import Reader

__all__ = ["READERS", "Reader", "available_readers", "detect_reader", "get_reader"]

#: reader name -> "module:ClassName"
READERS: dict[str, str] = {
    "comtrade": "tradeimpact.sources.comtrade:ComtradeReader",
    "comtrade_legacy": "tradeimpact.sources.comtrade_legacy:ComtradeLegacyReader",
    "baci": "tradeimpact.sources.baci:BaciReader",
    "japan_customs": "tradeimpact.sources.japan_customs:JapanCustomsReader",
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
        the candidates).
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
        if reader.sniff(path):
            hits.append((name, reader))
    if not hits:
        raise SourceFormatError(
            path,
            "no reader recognises this file; name the format with --source "
            f"({', '.join(sorted(READERS))}) or use the generic reader with a column mapping",
        )
    if len(hits) > 1:
        raise SourceFormatError(
            path,
            f"ambiguous format: readers {[name for name, _ in hits]} all recognise this file; "
            "name the format with --source",
        )
    return hits[0][1]
