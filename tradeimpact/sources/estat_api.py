"""e-Stat API ``getStatsData`` answers (JSON) of Japan's commodity-by-country trade tables.

What the file is
----------------
One answer of ``https://api.e-stat.go.jp/rest/3.0/app/json/getStatsData`` for a table of the
Trade Statistics of Japan (statistics code ``00350300``), saved unchanged by
:func:`tradeimpact.fetch.estat.fetch_estat_stats_data`. The shape (as public code that reads these
answers uses it, e.g. the ``GET_STATS_DATA.STATISTICAL_DATA.DATA_INF.VALUE`` path and the
``@``-attributes)::

    {"GET_STATS_DATA": {
        "RESULT": {"STATUS": 0, "ERROR_MSG": "...", "DATE": "..."},
        "PARAMETER": {...},
        "STATISTICAL_DATA": {
            "RESULT_INF": {"TOTAL_NUMBER": n, "FROM_NUMBER": a, "TO_NUMBER": b, "NEXT_KEY": c},
            "TABLE_INF": {"@id": "0003228184", "TITLE": ..., "STATISTICS_NAME": ...},
            "CLASS_INF": {"CLASS_OBJ": [{"@id": "cat01", "CLASS": [...]}, ...]},
            "DATA_INF": {"NOTE": [{"@char": "-", "$": "..."}],
                         "ANNOTATION": [{"@annotation": "p", "$": "速報値"}],
                         "VALUE": [{"@cat01": "850511000", "@cat02": "170", "@area": "50105",
                                    "@time": "2010000000", "@unit": "千円", "$": "123"}, ...]}}}}

(one element of a list may come as a bare object: both are read).

Dimensions (research/events.md section 5.2)
-------------------------------------------
* ``cat01``: Japan's 9-digit statistical code -> ``hs_code`` (``hs6`` its first six digits);
* ``cat02``: measure x month: ``100`` Unit1, ``110`` Unit2, ``120``/``130``/``140`` Quantity1 /
  Quantity2 / Value of the year; month m: Quantity1 ``150 + 30(m-1)``, Quantity2
  ``160 + 30(m-1)``, Value ``170 + 30(m-1)`` (January 150/160/170 ... December 480/490/500);
* ``area``: ``'5'`` + Japan Customs' country code written in four digits, i.e. ``'50'`` + the
  3-digit code (events.md 5.2's examples: China ``50105``, Korea ``50103``, USA ``50304``) ->
  ``partner_iso3`` through ``tradeimpact/codes/japan_customs.csv``; an unknown code is
  quarantined, named;
* ``time``: the year (``2010000000``).

The flow is the table's: imports for the import tables of 5.2 (CIF), exports for the export tables
(FOB); a table not in that list is told by its title (輸入 / 輸出).

Mapping to the canonical record
-------------------------------
Exactly that of :mod:`tradeimpact.sources.japan_customs` (the same statistics, and the same
source partition ``japan_customs``, so a month fetched both as a CSV file and through the API is
stored once: the store quarantines the second copy naming the first): one row per (code, country,
year, month), ``value_native = Value * 1000`` JPY, ``currency = "JPY"``, ``valuation`` CIF / FOB,
``value_usd`` null unless a monthly ``jpy_per_usd`` table is given, weights in kg from the units.
A line (code, country, year) with all twelve months and a year total is checked against the sum
of its months. Figures that are a note symbol instead of a number (``-``, ``***``, ``X``) are
quarantined with the note's text; a record whose ``cat02`` is none of the codes above, and a
repeated record, are quarantined too.

Provisional months
------------------
The current year's table is revised (events.md 5.2: the 2026 table was "Detailed Jan-Feb,
Provisional Mar+" in May 2026). A row gets the flag ``provisional`` when

* one of its records carries an ``@annotation`` whose ``DATA_INF.ANNOTATION`` text (or the code
  itself) says so (速報, 暫定, 概数, provisional, preliminary);
* the table's title (``TABLE_INF`` ``TITLE``, ``TITLE_SPEC``, ``STATISTICS_NAME``) names the first
  provisional month (``Provisional Mar+``, ``速報: 3月～``): that month and the later ones of the
  table's last year; a title that says provisional without a month flags every row;
* the reader is given ``provisional_from`` (a date): that month and later.

Answers longer than one call
----------------------------
An answer is at most 100,000 records; a longer one comes in pages (``startPosition`` =
``NEXT_KEY``), saved as ``<stem>_p001.json``, ``<stem>_p002.json`` ... One line's records can fall
on two pages, so a page is read with its siblings: each line is built from all pages and stored
from the page that holds its first record. A missing page is a :class:`SourceFormatError`
naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._codetables import (
    canonical,
    first_problem,
    iso3_map,
    max_digits,
    out_of_range,
)
from tradeimpact.sources._text import non_finite
from tradeimpact.sources.japan_customs import MONTHS, JapanCustomsReader

__all__ = [
    "EXPORT_TABLES",
    "IMPORT_TABLES",
    "EstatApiReader",
    "cat02_code",
    "table_for_year",
]

#: statsDataIds of the commodity-by-country tables (events.md 5.2): first year -> id
IMPORT_TABLES: dict[int, str] = {
    2001: "0003228183",
    2006: "0003228184",
    2011: "0003228185",
    2016: "0003313966",
    2021: "0003425294",
    2026: "0004049326",
}
EXPORT_TABLES: dict[int, str] = {
    2001: "0003228116",
    2006: "0003228117",
    2011: "0003228118",
    2016: "0003313965",
    2021: "0003425293",
    2026: "0004049306",
}
_FLOW_OF_TABLE = {**dict.fromkeys(IMPORT_TABLES.values(), "M"),
                  **dict.fromkeys(EXPORT_TABLES.values(), "X")}  # fmt: skip

_LINE_CODES = {100: "Unit1", 110: "Unit2", 120: "Quantity1-Year", 130: "Quantity2-Year",
               140: "Value-Year"}  # fmt: skip
_MEASURES = ["Quantity1", "Quantity2", "Value"]
PROVISIONAL_WORDS = re.compile(r"速報|暫定|概数|provisional|preliminary", re.IGNORECASE)
_TITLE_MONTH = re.compile(
    r"(?:provisional|preliminary)\s*(?:from\s*)?[:：]?\s*(?P<en>[A-Za-z]{3})|"
    r"(?:速報|暫定)(?:値)?\s*[:：（(]?\s*(?P<ja>\d{1,2})\s*月",
    re.IGNORECASE,
)
_PAGE = re.compile(r"^(?P<stem>.+)_p(?P<n>\d{3,})\.json$")


def cat02_code(measure: str, month: int) -> str:
    """The ``cat02`` code of ``measure`` (Quantity1, Quantity2, Value) in ``month`` (1-12)."""
    if measure not in _MEASURES or not 1 <= month <= 12:
        raise ValueError(f"no cat02 code for {measure!r} in month {month!r}")
    return str(150 + 10 * _MEASURES.index(measure) + 30 * (month - 1))


def table_for_year(year: int, flow: str = "M") -> str:
    """The statsDataId of the commodity-by-country table that holds ``year`` (events.md 5.2)."""
    tables = {"M": IMPORT_TABLES, "X": EXPORT_TABLES}.get(flow.upper())
    if tables is None:
        raise ValueError(f"flow must be 'M' or 'X', not {flow!r}")
    firsts = [first for first in tables if first <= year]
    if not firsts:
        raise ValueError(f"no e-Stat commodity-by-country table before 2001 (asked {year})")
    return tables[max(firsts)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """Text of an e-Stat element: a string, or ``{"@no": ..., "$": text}``."""
    if isinstance(value, dict):
        return str(value.get("$", ""))
    return "" if value is None else str(value)


def _answer(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        line = getattr(err, "lineno", None)
        if isinstance(err, json.JSONDecodeError) and not raw.rstrip().endswith((b"}", b"]")):
            # a download cut short (the fetcher saves only complete answers; a copy may not be)
            raise SourceFormatError(
                path,
                f"truncated JSON: the file ends before the document does ({err.msg} at line "
                f"{err.lineno}, column {err.colno}); download it again",
                line=line,
            ) from None
        raise SourceFormatError(path, f"not valid JSON ({err})", line=line) from None
    root = doc.get("GET_STATS_DATA") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise SourceFormatError(path, "not an e-Stat getStatsData answer (no GET_STATS_DATA)")
    result = root.get("RESULT") or {}
    status = str(result.get("STATUS", "0"))
    if not status.isdigit() or int(status) >= 100:
        raise SourceFormatError(
            path, f"e-Stat answered STATUS {status}: {result.get('ERROR_MSG', '')}", field="STATUS"
        )
    data = root.get("STATISTICAL_DATA")
    if not isinstance(data, dict):
        raise SourceFormatError(
            path, "the answer has no STATISTICAL_DATA", field="STATISTICAL_DATA"
        )
    return data


def _number(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


class EstatApiReader:
    """Reader of e-Stat ``getStatsData`` JSON answers of Japan's commodity-by-country tables.

    Parameters
    ----------
    jpy_per_usd : polars.DataFrame, optional
        Monthly ``period``/``jpy_per_usd`` rates, as :class:`JapanCustomsReader` takes them.
    provisional_from : datetime.date, optional
        Flag the rows of this month and later ``provisional`` (besides what the answer says).
    flow : str, optional
        ``"M"`` or ``"X"`` for a table that is neither in events.md 5.2 nor titled 輸入/輸出.
    """

    name = "estat_api"
    #: the store partition: the same statistics as the Japan Customs CSV files
    source = "japan_customs"
    version = "1"
    description = (
        "e-Stat getStatsData JSON of Japan's commodity-by-country trade tables (thousand JPY)"
    )

    def __init__(
        self,
        jpy_per_usd: pl.DataFrame | None = None,
        *,
        provisional_from: dt.date | None = None,
        flow: str | None = None,
    ) -> None:
        self._customs = JapanCustomsReader(jpy_per_usd)
        self._provisional_from = provisional_from
        if flow is not None and flow.upper() not in ("M", "X"):
            raise ValueError(f"flow must be 'M' or 'X', not {flow!r}")
        self._flow = flow.upper() if flow else None

    def sniff(self, path: Path) -> bool:
        """True when the file is JSON whose first key is ``GET_STATS_DATA``."""
        try:
            head = Path(path).open("rb").read(4096)
        except OSError:
            return False
        text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        return re.match(r'^\{\s*"GET_STATS_DATA"\s*:', text) is not None

    # ------------------------------------------------------------------ pages
    def _pages(self, path: Path, data: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """All pages of the answer ``path`` belongs to, in order, and the index of ``path``'s."""
        info = data.get("RESULT_INF") or {}
        first = _number(info.get("FROM_NUMBER")) or 1
        total = _number(info.get("TOTAL_NUMBER"))
        last = _number(info.get("TO_NUMBER"))
        whole = first == 1 and info.get("NEXT_KEY") in (None, "") and (
            total is None or last is None or total == last
        )  # fmt: skip
        if whole:
            return [data], 0
        match = _PAGE.match(path.name)
        if match is None:
            raise SourceFormatError(
                path,
                f"a page (records {first}-{last} of {total}) of a longer answer; its pages must "
                "lie beside each other as <stem>_p001.json, <stem>_p002.json ...",
                field="RESULT_INF",
            )
        stem = match.group("stem")
        names = sorted(
            (int(m.group("n")), p)
            for p in path.parent.glob(f"{glob_escape(stem)}_p*.json")
            if (m := _PAGE.match(p.name)) and m.group("stem") == stem
        )
        pages: list[dict[str, Any]] = []
        own = -1
        expected = 1
        for _, page_path in names:
            page = data if page_path == path else _answer(page_path)
            page_info = page.get("RESULT_INF") or {}
            start = _number(page_info.get("FROM_NUMBER"))
            if start != expected:
                raise SourceFormatError(
                    path,
                    f"page {page_path.name} starts at record {start}, expected {expected}: "
                    f"records {expected}-{(start or 0) - 1} of this answer are missing; fetch "
                    "it again",
                    field="RESULT_INF",
                )
            if page_path == path:
                own = len(pages)
            pages.append(page)
            expected = (_number(page_info.get("TO_NUMBER")) or 0) + 1
        if total is not None and expected - 1 != total:
            raise SourceFormatError(
                path,
                f"the pages beside it hold records 1-{expected - 1} of {total}: records "
                f"{expected}-{total} are missing; fetch the answer again",
                field="RESULT_INF",
            )
        return pages, own

    # ------------------------------------------------------------------ metadata
    def _flow_of(self, path: Path, data: dict[str, Any], title: str) -> str:
        table = data.get("TABLE_INF") or {}
        table_id = str(table.get("@id", ""))
        if self._flow:
            return self._flow
        if table_id in _FLOW_OF_TABLE:
            return _FLOW_OF_TABLE[table_id]
        if "輸入" in title and "輸出" not in title:
            return "M"
        if "輸出" in title and "輸入" not in title:
            return "X"
        raise SourceFormatError(
            path,
            f"table {table_id or '(no id)'} is not a commodity-by-country table of events.md 5.2 "
            "and its title does not say imports (輸入) or exports (輸出); pass flow='M' or 'X'",
            field="TABLE_INF",
        )

    @staticmethod
    def _title(data: dict[str, Any]) -> str:
        table = data.get("TABLE_INF") or {}
        parts = [_text(table.get("TITLE")), _text(table.get("STATISTICS_NAME"))]
        spec = table.get("TITLE_SPEC")
        if isinstance(spec, dict):
            parts += [str(v) for v in spec.values()]
        return " ".join(p for p in parts if p)

    @staticmethod
    def _title_provisional(title: str) -> int | None:
        """First provisional month the title names; 1 when it says provisional without a month;
        None when it does not say provisional."""
        match = _TITLE_MONTH.search(title)
        if match:
            if match.group("en"):
                name = match.group("en").title()
                name = "Apr" if name == "Apl" else name
                if name in MONTHS:
                    return MONTHS.index(name) + 1
            elif match.group("ja") and 1 <= int(match.group("ja")) <= 12:
                return int(match.group("ja"))
        return 1 if PROVISIONAL_WORDS.search(title) else None

    # ------------------------------------------------------------------ read
    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason``, one row per line and month.

        Raises
        ------
        SourceFormatError
            Not JSON, not a getStatsData answer, an error STATUS, a missing sibling page, or a
            table whose flow cannot be told.
        """
        path = Path(path)
        data = _answer(path)
        pages, own = self._pages(path, data)
        title = self._title(pages[0])
        flow = self._flow_of(path, pages[0], title)
        notes: dict[str, str] = {}
        annotations: dict[str, str] = {}
        records: list[dict[str, Any]] = []
        for page_no, page in enumerate(pages):
            inf = page.get("DATA_INF") or {}
            for note in _as_list(inf.get("NOTE")):
                if isinstance(note, dict):
                    notes[str(note.get("@char", ""))] = str(note.get("$", ""))
            for ann in _as_list(inf.get("ANNOTATION")):
                if isinstance(ann, dict):
                    annotations[str(ann.get("@annotation", ""))] = str(ann.get("$", ""))
            for index, value in enumerate(_as_list(inf.get("VALUE")), start=1):
                if not isinstance(value, dict):
                    raise SourceFormatError(
                        path, f"VALUE record {index} of page {page_no + 1} is not an object"
                    )
                records.append(
                    {
                        "_page": page_no,
                        "_rec": index,
                        "cat01": _text(value.get("@cat01")).strip(),
                        "cat02": _text(value.get("@cat02")).strip(),
                        "area": _text(value.get("@area")).strip(),
                        "time": _text(value.get("@time")).strip(),
                        "unit": _text(value.get("@unit")).strip(),
                        "annotation": _text(value.get("@annotation")).strip(),
                        "text": _text(value).strip(),
                    }
                )
        schema = {k: pl.String for k in
                  ("cat01", "cat02", "area", "time", "unit", "annotation", "text")}  # fmt: skip
        frame = pl.DataFrame(
            records, schema={"_page": pl.Int64, "_rec": pl.Int64, **schema}, orient="row"
        )
        provisional_codes = [
            code for code, text in annotations.items() if PROVISIONAL_WORDS.search(f"{code} {text}")
        ]
        first_month = self._title_provisional(title)
        long = self._lines(frame, own, flow, notes, provisional_codes)
        out = self._customs._to_canonical(long, path.name)
        provisional = pl.col("_provisional")
        if first_month is not None:
            last_year = frame["time"].str.slice(0, 4).cast(pl.Int32, strict=False).max()
            provisional = provisional | (
                (pl.col("_year") == last_year) & (pl.col("_month") >= first_month)
            )
        if self._provisional_from is not None:
            provisional = provisional | (pl.col("period") >= pl.lit(self._provisional_from))
        out = out.with_columns(
            pl.when(provisional.fill_null(False))
            .then(
                pl.concat_str(
                    [pl.col("flags"), pl.lit("provisional")], separator=";", ignore_nulls=True
                )
            )
            .otherwise(pl.col("flags"))
            .alias("flags")
        )
        return canonical(out)

    def _lines(
        self,
        frame: pl.DataFrame,
        own: int,
        flow: str,
        notes: dict[str, str],
        provisional_codes: list[str],
    ) -> pl.LazyFrame:
        """The month rows of the lines whose first record is on page ``own``, with reasons."""
        c = pl.col
        code = c("cat02").cast(pl.Int64, strict=False)
        offset = code - 150
        is_month = code.is_between(150, 500) & (offset % 10 == 0)
        measure_index = (offset % 30) // 10
        lf = frame.lazy().with_columns(
            pl.when(is_month).then(offset // 30 + 1).otherwise(None).cast(pl.Int8).alias("_month"),
            pl.when(is_month)
            .then(
                pl.when(measure_index == 0)
                .then(pl.lit("Quantity1"))
                .when(measure_index == 1)
                .then(pl.lit("Quantity2"))
                .otherwise(pl.lit("Value"))
            )
            .otherwise(code.replace_strict(_LINE_CODES, default=None, return_dtype=pl.String))
            .alias("_measure"),
        )
        line_key = ["cat01", "area", "time"]
        order = c("_page") * 1_000_000 + c("_rec")
        lf = lf.with_columns(
            order.min().over(line_key).alias("_line_first"),
            pl.len().over([*line_key, "cat02"]).alias("_repeats"),
        )
        # the lines this page stores: those whose first record is on it
        lf = lf.filter((c("_line_first") // 1_000_000) == own)
        lf = lf.with_columns((c("_line_first") % 1_000_000).alias("source_line"))

        def pick(measure: str, column: str = "text") -> pl.Expr:
            return c(column).filter(c("_measure") == measure).first()

        lines = lf.group_by(line_key).agg(
            c("source_line").first(),
            pick("Unit1").alias("_unit1_text"),
            pick("Unit2").alias("_unit2_text"),
            pick("Quantity1", "unit").alias("_unit1_attr"),
            pick("Quantity2", "unit").alias("_unit2_attr"),
            *[pick(f"{m}-Year").alias(f"_{m}_year") for m in _MEASURES],
            *[
                c("text")
                .filter(c("_measure") == m)
                .str.replace_all(r"[,\s]", "")
                .cast(pl.Float64, strict=False)
                .sum()
                .alias(f"_{m}_sum")
                for m in _MEASURES
            ],
            *[(c("_measure") == m).sum().alias(f"_{m}_months") for m in _MEASURES],
            c("_repeats").max().alias("_line_repeats"),
        )
        months = (
            lf.filter(c("_month").is_not_null())
            .group_by([*line_key, "_month"])
            .agg(
                *[pick(m).alias(f"_{m}") for m in _MEASURES],
                pick("Value", "unit").alias("_value_unit"),
                c("annotation").is_in(provisional_codes).any().alias("_provisional"),
            )
        )
        odd = lf.filter(c("_measure").is_null()).select(
            *line_key,
            c("source_line"),
            pl.lit(None, dtype=pl.Int8).alias("_month"),
            c("cat02").alias("_odd_cat02"),
            c("_rec").alias("_odd_rec"),
        )
        rows = months.join(lines, on=line_key, how="left").with_columns(
            pl.lit(None, dtype=pl.String).alias("_odd_cat02"),
            pl.lit(None, dtype=pl.Int64).alias("_odd_rec"),
        )
        rows = pl.concat([rows, odd], how="diagonal_relaxed").sort(
            ["source_line", "_month", "_odd_rec"], nulls_last=True
        )
        return self._checks(rows, flow, notes)

    def _checks(self, rows: pl.LazyFrame, flow: str, notes: dict[str, str]) -> pl.LazyFrame:
        """Reasons of the rows that cannot be stored (first problem wins), and the key columns."""
        c = pl.col
        unit1 = pl.coalesce(c("_unit1_text"), c("_unit1_attr"), pl.lit(""))
        unit2 = pl.coalesce(c("_unit2_text"), c("_unit2_attr"), pl.lit(""))
        rows = rows.with_columns(
            c("cat01").alias("_hs"),
            c("time").str.slice(0, 4).cast(pl.Int32, strict=False).alias("_year"),
            c("area")
            .str.slice(2)
            .replace_strict(iso3_map("japan_customs"), default=None, return_dtype=pl.String)
            .alias("_partner"),
            pl.lit("2" if flow == "M" else "1").alias("Exp or Imp"),
            pl.when(unit1.is_in(list(notes))).then(pl.lit("")).otherwise(unit1).alias("Unit1"),
            pl.when(unit2.is_in(list(notes))).then(pl.lit("")).otherwise(unit2).alias("Unit2"),
            *[c(f"_{m}").str.replace_all(r"[,\s]", "").alias(f"_{m}") for m in _MEASURES],
            c("_provisional").fill_null(False),
        )

        def note_of(col: str) -> pl.Expr:
            return c(col).replace_strict(notes, default="", return_dtype=pl.String)

        checks: list[tuple[pl.Expr, str, Any]] = [
            (
                c("_odd_cat02").is_not_null(),
                "cat02",
                pl.concat_str(
                    pl.lit("record "),
                    c("_odd_rec").cast(pl.String),
                    pl.lit(": cat02 code '"),
                    c("_odd_cat02"),
                    pl.lit("' is not a measure-by-month code (events.md 5.2)"),
                ),
            ),
            (
                c("_line_repeats") > 1,
                "cat02",
                pl.lit("a (cat01, area, time, cat02) record repeats in the answer; none is stored"),
            ),
            (
                ~c("cat01").str.contains(r"^\d{9}$").fill_null(False),
                "cat01",
                pl.concat_str(pl.lit("cat01 code '"), c("cat01"), pl.lit("' is not 9 digits")),
            ),
            (
                ~c("time").str.contains(r"^\d{4}000000$").fill_null(False),
                "time",
                pl.concat_str(pl.lit("time code '"), c("time"), pl.lit("' is not a year")),
            ),
            (
                ~c("area").str.contains(r"^50\d{3}$").fill_null(False),
                "area",
                pl.concat_str(
                    pl.lit("area code '"),
                    c("area"),
                    pl.lit("' is not '50' + a 3-digit Japan Customs country code"),
                ),
            ),
            (
                c("_partner").is_null(),
                "area",
                pl.concat_str(
                    pl.lit("unknown Japan Customs country code '"),
                    c("area").str.slice(2),
                    pl.lit("' (area '"),
                    c("area"),
                    pl.lit("')"),
                ),
            ),
            (
                c("_value_unit").is_not_null()
                & (c("_value_unit") != "")
                & ~c("_value_unit").is_in(["千円", "1000円", "thousand yen"]),
                "unit",
                pl.concat_str(
                    pl.lit("Value unit '"), c("_value_unit"), pl.lit("' is not thousand yen (千円)")
                ),
            ),
            (c("_Value").is_null(), "cat02", pl.lit("no Value record for this month")),
        ]
        for m in _MEASURES:
            month_name = c("_month").replace_strict(
                dict(enumerate(MONTHS, start=1)), default=None, return_dtype=pl.String
            )
            field = pl.concat_str(pl.lit(f"{m}-"), month_name)
            number = c(f"_{m}").cast(pl.Float64, strict=False)
            checks.append(
                (
                    c(f"_{m}").is_not_null() & number.is_null(),
                    m,
                    pl.concat_str(
                        field,
                        pl.lit(" is '"),
                        c(f"_{m}"),
                        pl.lit("'"),
                        pl.when(note_of(f"_{m}") != "")
                        .then(pl.concat_str(pl.lit(" ("), note_of(f"_{m}"), pl.lit(")")))
                        .otherwise(pl.lit(" (not a number)")),
                    ),
                )
            )
            checks.append(
                (
                    non_finite(number),
                    m,
                    pl.concat_str(
                        field,
                        pl.lit(" is non-finite '"),
                        c(f"_{m}"),
                        pl.lit("' (NaN or infinity is not a trade figure)"),
                    ),
                )
            )
            if m == "Value":  # thousand yen, scaled exactly into Decimal(38, 9)
                checks.append(
                    (
                        out_of_range(c(f"_{m}"), 1000),
                        m,
                        pl.concat_str(
                            field,
                            pl.lit(" '"),
                            c(f"_{m}"),
                            pl.lit(
                                f"' is out of range: more than {max_digits(1000)} digits "
                                "(thousand JPY)"
                            ),
                        ),
                    )
                )
            checks.append((number < 0, m, pl.concat_str(field, pl.lit(" is negative"))))
            year_total = (
                c(f"_{m}_year").str.replace_all(r"[,\s]", "").cast(pl.Float64, strict=False)
            )
            checks.append(
                (
                    (c(f"_{m}_months") == 12)
                    & year_total.is_not_null()
                    & (
                        (year_total - c(f"_{m}_sum")).abs()
                        > 1e-9 * pl.max_horizontal(year_total.abs(), pl.lit(1.0))
                    ),
                    f"{m}-Year",
                    pl.concat_str(
                        pl.lit(f"{m}-Year "),
                        c(f"_{m}_year"),
                        pl.lit(f" differs from the sum of the twelve {m} months "),
                        c(f"_{m}_sum").cast(pl.String),
                    ),
                )
            )
        reject_field, reject_reason = first_problem(checks)
        return rows.with_columns(
            reject_field.alias("reject_field"), reject_reason.alias("reject_reason")
        )


def glob_escape(text: str) -> str:
    """``text`` with the glob metacharacters ``*?[`` escaped (a file stem used as a pattern)."""
    return re.sub(r"([*?\[])", r"[\1]", text)
