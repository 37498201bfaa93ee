"""Country codes for the fetchers: ISO3 -> the numeric codes UN Comtrade's API takes.

UN Comtrade's reporter/partner codes are UN M49 codes with Comtrade's own exceptions (USA 842,
France 251, India 699, Switzerland 757, Norway 579, "Other Asia, nes" = Taiwan 490). CEPII BACI
uses the same numeric codes (``../shared/data/real/SOURCES.md``: "UN M49 / BACI numeric: ... USA
842 ... France 251"), so the BACI table shipped in :mod:`tradeimpact.codes` (``baci.csv``,
columns ``code,iso3,...``) maps ISO3 to Comtrade codes. A ``comtrade.csv`` table in the same
folder, when present, is preferred.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

CODES_DIR = Path(__file__).resolve().parents[1] / "codes"

#: codes that are not countries
SPECIAL = {"WLD": "0", "WORLD": "0"}


@cache
def iso3_to_code() -> dict[str, str]:
    """ISO3 -> Comtrade numeric code, from the shipped code table."""
    for name in ("comtrade.csv", "baci.csv"):
        path = CODES_DIR / name
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
            mapping: dict[str, str] = {}
            for row in rows:
                iso3 = (row.get("iso3") or "").strip().upper()
                code = (row.get("code") or "").strip()
                if iso3 and code and iso3 not in mapping:
                    mapping[iso3] = code
            return mapping
    raise FileNotFoundError(f"no country code table (comtrade.csv or baci.csv) in {CODES_DIR}")


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
        raise ValueError(f"unknown country code {token!r}: not an ISO3 code in {CODES_DIR}")
    return mapping[text]
