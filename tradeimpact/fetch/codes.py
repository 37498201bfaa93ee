"""Country codes for the fetchers: ISO3 -> the numeric codes UN Comtrade's API takes.

The table is :mod:`tradeimpact.codes`' ``m49`` table (ISO 3166 numeric codes plus UN Comtrade's
own deviations, each with a note; see ``tradeimpact/codes/SOURCES.md``). Several codes can map to
one ISO3 there (USA: 840 ISO, 842 Comtrade); the code the API takes today is chosen by the note:

* preferred: Comtrade's current deviation (note "Comtrade code (ISO numeric ...)": USA 842,
  France 251, India 699, Switzerland 757, Norway 579) and Taiwan's 490 "Other Asia, nes" (note
  "Taiwan in practice");
* never: historical codes (notes "historical", "until": Italy 381 until 1999, Belgium-Luxembourg
  58, ...);
* otherwise the ISO numeric code (= M49).
"""

from __future__ import annotations

from functools import cache

from tradeimpact.codes import country_table

#: codes that are not countries
SPECIAL = {"WLD": "0", "WORLD": "0"}


def _score(note: str) -> int:
    text = note.lower()
    if "historical" in text or "until" in text:
        return -1
    if text.startswith("comtrade code (iso numeric") or "taiwan in practice" in text:
        return 2
    return 1


@cache
def iso3_to_code() -> dict[str, str]:
    """ISO3 -> the numeric code UN Comtrade's API takes today (see the module docstring)."""
    table = country_table("m49")
    notes = table["note"].to_list() if "note" in table.columns else [None] * table.height
    best: dict[str, tuple[int, str]] = {}
    for code, iso3, note in zip(
        table["code"].to_list(), table["iso3"].to_list(), notes, strict=True
    ):
        if not code or not iso3:
            continue
        score = _score(note or "")
        if score < 0:
            continue
        if iso3 not in best or score > best[iso3][0]:
            best[iso3] = (score, str(int(code)))
    return {iso3: code for iso3, (_, code) in best.items()}


def comtrade_code(token: str) -> str:
    """The Comtrade numeric code of ``token`` (ISO3 like ``JPN``, or already numeric like ``392``).

    Raises
    ------
    ValueError
        The ISO3 code is not in the table (the message names it).
    """
    text = token.strip().upper()
    if text.isdigit():
        return str(int(text))
    if text in SPECIAL:
        return SPECIAL[text]
    mapping = iso3_to_code()
    if text not in mapping:
        raise ValueError(f"unknown country code {token!r}: not an ISO3 code of the m49 table")
    return mapping[text]
