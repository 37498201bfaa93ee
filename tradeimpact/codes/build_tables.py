"""Build the shipped country tables ``m49.csv``, ``iso2.csv`` and ``iso3.csv`` (run by hand).

Usage::

    python -m tradeimpact.codes.build_tables          # rewrite the three tables in this folder
    python -m tradeimpact.codes.build_tables --check  # exit 1 if the shipped tables differ

The tables are *derived*, not copied: ISO 3166-1 (current countries) and ISO 3166-3 (formerly used
codes) from the ``pycountry`` package (its ``iso3166-1.json`` / ``iso3166-3.json`` come from Debian's
iso-codes project), plus the typed list :data:`COMTRADE_DEVIATIONS` of the numeric codes where UN
Comtrade departs from ISO 3166 numeric / M49 (source: UN Comtrade reference tables
``reporterAreas.json`` and ``partnerAreas.json``, https://comtrade.un.org/Data/cache/partnerAreas.json
and the Comtrade Plus equivalents). ``pycountry`` is needed only to run this script, not to use
the package; it is in the ``test`` extra so the test suite can check the shipped files are current.

Output columns: ``code`` (text; M49 numeric without leading zeros, or the ISO alpha-2 code),
``iso3``, ``name``, ``note`` (why a row departs from plain ISO 3166, empty otherwise).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: the pycountry release the shipped tables were built with (names change between releases)
PYCOUNTRY_VERSION = "26.2.16"

#: UN Comtrade numeric codes that are not (or no longer) the ISO 3166 numeric code of the area, with
#: the ISO3 the store uses and Comtrade's name. Typed from Comtrade's reporterAreas.json /
#: partnerAreas.json. 490 "Other Asia, nes" is Taiwan in practice; it is mapped to TWN (as the
#: BACI, Japan Customs and GACC tables of this package do) so Taiwan joins across sources.
COMTRADE_DEVIATIONS: list[tuple[str, str, str, str]] = [
    ("0", "WLD", "World", "Comtrade aggregate partner (Comtrade's own ISO is W00)"),
    ("97", "EUR", "European Union", "Comtrade reporter for the EU as a whole"),
    ("58", "BEL", "Belgium-Luxembourg (...1998)", "Comtrade historical code; as BACI"),
    ("200", "CSK", "Czechoslovakia (...1992)", "ISO 3166-3 formerly used code"),
    ("251", "FRA", "France", "Comtrade code (ISO numeric 250); includes Monaco"),
    ("278", "DDR", "Fmr Dem. Rep. of Germany (...1990)", "ISO 3166-3 formerly used code"),
    ("280", "DEU", "Fmr Fed. Rep. of Germany (...1990)", "Comtrade historical code; as BACI"),
    ("381", "ITA", "Italy", "Comtrade code used until 1999 (ISO numeric 380)"),
    ("490", "TWN", "Other Asia, nes", "Taiwan in practice; Comtrade Plus ISO S19"),
    ("530", "ANT", "Netherlands Antilles (...2010)", "ISO 3166-3 formerly used code"),
    ("579", "NOR", "Norway", "Comtrade code (ISO numeric 578); includes Svalbard"),
    ("697", "R20", "Europe EFTA, nes", "Comtrade/BACI pseudo-code, not ISO 3166"),
    ("699", "IND", "India", "Comtrade code (ISO numeric 356)"),
    ("711", "ZA1", "Southern African Customs Union (...1999)", "Comtrade/BACI pseudo-code"),
    ("736", "SDN", "Fmr Sudan (...2011)", "Comtrade historical code; as BACI"),
    ("757", "CHE", "Switzerland", "Comtrade code (ISO numeric 756); includes Liechtenstein"),
    ("810", "SUN", "USSR (...1990)", "ISO 3166-3 formerly used code"),
    ("842", "USA", "USA", "Comtrade code (ISO numeric 840); includes PR and USVI"),
    ("849", "PUS", "US Misc. Pacific Isds", "Comtrade/BACI pseudo-code"),
    ("890", "YUG", "Fmr Yugoslavia (...1991)", "ISO 3166-3 formerly used code"),
    ("891", "SCG", "Serbia and Montenegro (...2005)", "ISO 3166-3 formerly used code"),
    ("899", "_X", "Areas, nes", "Comtrade pseudo-code (Comtrade Plus ISO _X)"),
]

#: ISO 3166-3 alpha-2 codes still found in trade extracts (the alpha-2 was reused or withdrawn):
#: alpha-2 -> (iso3, name). CS is read as Serbia and Montenegro (2003-2006), the meaning it has in
#: trade data after 1993, not Czechoslovakia.
ISO2_HISTORIC: dict[str, tuple[str, str]] = {
    "AN": ("ANT", "Netherlands Antilles"),
    "CS": ("SCG", "Serbia and Montenegro"),
    "YU": ("YUG", "Yugoslavia"),
    "SU": ("SUN", "USSR"),
    "TP": ("TMP", "East Timor"),
    "ZR": ("ZAR", "Zaire"),
    "DD": ("DDR", "German Democratic Republic"),
    "XK": ("XKX", "Kosovo"),
    "PU": ("PUS", "US Miscellaneous Pacific Islands"),
    "FQ": ("ATF", "French Southern and Antarctic Territories"),
}


def _rows_m49() -> list[dict[str, str]]:
    import pycountry

    rows: dict[str, dict[str, str]] = {}
    for country in pycountry.countries:
        code = str(int(country.numeric))
        rows[code] = {"code": code, "iso3": country.alpha_3, "name": country.name, "note": ""}
    for code, iso3, name, note in COMTRADE_DEVIATIONS:
        rows[code] = {"code": code, "iso3": iso3, "name": name, "note": note}
    return sorted(rows.values(), key=lambda r: int(r["code"]))


def _rows_iso2() -> list[dict[str, str]]:
    import pycountry

    rows: dict[str, dict[str, str]] = {}
    for country in pycountry.countries:
        rows[country.alpha_2] = {
            "code": country.alpha_2,
            "iso3": country.alpha_3,
            "name": country.name,
            "note": "",
        }
    for code, (iso3, name) in ISO2_HISTORIC.items():
        note = "user-assigned code" if code == "XK" else "ISO 3166-3 formerly used code"
        rows.setdefault(code, {"code": code, "iso3": iso3, "name": name, "note": note})
    return sorted(rows.values(), key=lambda r: r["code"])


def _rows_iso3(m49: list[dict[str, str]], iso2: list[dict[str, str]]) -> list[dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for row in [*m49, *iso2]:
        rows.setdefault(
            row["iso3"], {"code": row["iso3"], "iso3": row["iso3"], "name": row["name"]}
        )
    return sorted(rows.values(), key=lambda r: r["code"])


def _render(rows: list[dict[str, str]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def build() -> dict[str, str]:
    """The text of each table: ``{"m49.csv": ..., "iso2.csv": ..., "iso3.csv": ...}``."""
    m49 = _rows_m49()
    iso2 = _rows_iso2()
    return {
        "m49.csv": _render(m49, ["code", "iso3", "name", "note"]),
        "iso2.csv": _render(iso2, ["code", "iso3", "name", "note"]),
        "iso3.csv": _render(_rows_iso3(m49, iso2), ["code", "iso3", "name"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the tables; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in build().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            tmp = path.with_suffix(".csv.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
    if stale:
        print(f"out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
