"""CEPII BACI: reconciled bilateral trade at the HS6 level (``t,i,j,k,v,q``).

Format (BACI readme, release V202201 and later; one CSV per year, e.g.
``BACI_HS17_Y2022_V202601.csv``)::

    t: year   i: exporter (BACI country code)   j: importer   k: product (HS6)
    v: value (thousand US dollars, FOB)   q: quantity (metric tonnes; "NA" when unknown)

Mapping to the canonical record (:mod:`tradeimpact.schema`), the rule this reader follows:

* BACI is *reconciled*: each flow is one number built by CEPII from both the exporter's and the
  importer's reports, valued FOB (CEPII removes the CIF costs from import reports). Each row is
  stored once, as seen from the importer: ``source = "baci"``, ``reporter_iso3 = importer (j)``,
  ``partner_iso3 = exporter (i)``, ``flow = "M"``, ``exporter_iso3 = i``, ``importer_iso3 = j``,
  ``valuation = "FOB"``. The mirror view should therefore not treat BACI as an importer's own
  report: ``source`` tells it apart.
* ``value_usd = v * 1000`` (computed in decimal, so ``1234.567`` gives exactly ``1234567.0``),
  ``value_native = value_usd``, ``currency = "USD"``.
* ``net_weight_kg = q * 1000``; ``NA`` or a blank ``q`` gives null (not a rejection).
  ``quantity``/``quantity_unit`` stay null: BACI has no supplementary unit.
* ``period`` = 1 January of ``t``, ``freq = "A"``; ``hs_code = hs6 = k`` (6 digits).
* ``hs_revision`` from the file name (``HS92 HS96 HS02 HS07 HS12 HS17 HS22`` -> UN Comtrade's
  classification codes ``H0 ... H6``, the vocabulary the Comtrade readers use), or given.
* ``k`` is read as text. When the file's ``k`` column was written as a number (detected: some
  codes have 5 digits and none of 6 digits starts with 0), the chapters 01-09 lost their leading
  zero (``10121`` for ``010121``): those codes are restored to 6 digits and the row's ``flags``
  says ``k_leading_zero_restored``. In a file whose codes keep their zeros, a 5-digit code is
  rejected (not restored); any other length is rejected.
* Country codes map to ISO3 through the shipped table ``tradeimpact/codes/baci.csv`` (CEPII's
  ``country_codes`` table, see ``baci.md``) or through the release's own ``country_codes_V*.csv``
  (:func:`read_country_codes`, both header layouts). Code 490 ("Other Asia, nes") is Taiwan and is
  mapped to ``TWN`` in both cases.

Row problems (unknown code, non-numeric or negative value, year outside the file's year, bad HS
code) are marked in ``reject_field``/``reject_reason``; file problems raise SourceFormatError.
The reader is lazy (``polars.scan_csv``): a 10-million-row year file streams.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._codetables import (
    canonical,
    exact_scaled,
    first_problem,
    iso3_map,
    max_digits,
    out_of_range,
    quoted,
    read_head,
    require_columns,
    split_header,
)
from tradeimpact.sources._text import EXTRA_COLUMN, Check, polars_file_error, scan_delimited

__all__ = ["BACI_COLUMNS", "HS_REVISIONS", "BaciReader", "parse_file_name", "read_country_codes"]

#: the columns of a BACI data file, in order
BACI_COLUMNS = ["t", "i", "j", "k", "v", "q"]

#: BACI nomenclature in the file name -> UN Comtrade classification code
HS_REVISIONS = {
    "HS92": "H0",
    "HS96": "H1",
    "HS02": "H2",
    "HS07": "H3",
    "HS12": "H4",
    "HS17": "H5",
    "HS22": "H6",
}

#: BACI code -> ISO3 forced whatever a release table says (see ``tradeimpact/codes/baci.md``)
ISO3_OVERRIDES = {"490": "TWN"}

_FILE_RE = re.compile(r"BACI_(HS\d{2})_Y(\d{4})_V(\d{6}[A-Za-z]?)", re.IGNORECASE)
_MISSING_Q = ["", "NA", "N/A", "NAN"]


def parse_file_name(path: str | Path) -> tuple[str, int, str] | None:
    """``(nomenclature, year, release)`` from a BACI file name, or None.

    >>> parse_file_name("BACI_HS17_Y2022_V202601.csv")
    ('HS17', 2022, '202601')
    """
    match = _FILE_RE.search(Path(path).name)
    if match is None:
        return None
    return match.group(1).upper(), int(match.group(2)), match.group(3)


def read_country_codes(path: str | Path) -> pl.DataFrame:
    """Read a BACI ``country_codes`` table of any release into ``code, iso3, name, iso2``.

    Two header layouts are known::

        V202201: country_code,country_name_abbreviation,country_name_full,iso_2digit_alpha,iso_3digit_alpha
        V202601: country_code,country_name,country_iso2,country_iso3

    ``N/A`` and blank codes become null; code 490 ("Other Asia, nes", BACI's Taiwan) is given
    ``TWN`` (the release says ``S19`` or ``N/A``).

    Parameters
    ----------
    path : str or Path
        The ``country_codes_V*.csv`` shipped in the BACI zip.

    Returns
    -------
    polars.DataFrame
        ``code`` (String, no leading zeros), ``iso3``, ``name``, ``iso2``, sorted by code.
    """
    path = Path(path)
    read_head(path)
    table = pl.read_csv(path, infer_schema=False, encoding="utf8")
    table = table.rename({c: c.lstrip("\ufeff").strip() for c in table.columns})
    layouts = {
        "V202601": {
            "country_code": "code",
            "country_name": "name",
            "country_iso2": "iso2",
            "country_iso3": "iso3",
        },
        "V202201": {
            "country_code": "code",
            "country_name_abbreviation": "name",
            "iso_2digit_alpha": "iso2",
            "iso_3digit_alpha": "iso3",
        },
    }
    for layout in layouts.values():
        if set(layout) <= set(table.columns):
            break
    else:
        raise SourceFormatError(
            path,
            "not a BACI country_codes table: expected the columns of V202601 "
            f"{list(layouts['V202601'])} or of V202201 {list(layouts['V202201'])}, "
            f"found {table.columns}",
            line=1,
        )
    out = table.select([pl.col(src).str.strip_chars().alias(dst) for src, dst in layout.items()])
    na = pl.col("iso3").is_null() | pl.col("iso3").is_in(["N/A", "NA", ""])
    out = out.with_columns(
        pl.col("code").str.strip_chars_start("0"),
        pl.when(na).then(None).otherwise(pl.col("iso3")).alias("iso3"),
        pl.when(pl.col("iso2").is_in(["N/A", ""]))
        .then(None)
        .otherwise(pl.col("iso2"))
        .alias("iso2"),
    )
    bad = out.filter(~pl.col("code").str.contains(r"^\d{1,3}$"))
    if bad.height:
        raise SourceFormatError(
            path, f"country_code {bad['code'][0]!r} is not a number", field="country_code"
        )
    for code, iso3 in ISO3_OVERRIDES.items():
        out = out.with_columns(
            pl.when(pl.col("code") == code)
            .then(pl.lit(iso3))
            .otherwise(pl.col("iso3"))
            .alias("iso3")
        )
    return out.select("code", "iso3", "name", "iso2").sort(pl.col("code").cast(pl.Int64))


class BaciReader:
    """Reader of CEPII BACI yearly files (``t,i,j,k,v,q``).

    Parameters
    ----------
    country_codes : str or Path, optional
        The release's ``country_codes_V*.csv``; default: the shipped ``codes/baci.csv``.
    hs_revision : str, optional
        Classification code to use when the file name does not carry it (``"H5"`` or ``"HS17"``).
    """

    name = "baci"
    version = "1"
    description = (
        "CEPII BACI yearly CSV (t,i,j,k,v,q; v thousand USD FOB, q tonnes) + country_codes"
    )

    def __init__(
        self, country_codes: str | Path | None = None, hs_revision: str | None = None
    ) -> None:
        if country_codes is None:
            self._codes = dict(iso3_map("baci"))
        else:
            table = read_country_codes(country_codes).filter(pl.col("iso3").is_not_null())
            self._codes = dict(zip(table["code"], table["iso3"], strict=True))
        for code, iso3 in ISO3_OVERRIDES.items():
            self._codes[code] = iso3
        if hs_revision is not None and hs_revision.upper() in HS_REVISIONS:
            hs_revision = HS_REVISIONS[hs_revision.upper()]
        self._hs_revision = hs_revision

    def sniff(self, path: Path) -> bool:
        """True for a CSV whose header is ``t,i,j,k,v,q``."""
        try:
            head = Path(path).open("rb").read(4096)
        except OSError:
            return False
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").strip()
        return [c.strip().strip('"') for c in first.split(",")] == BACI_COLUMNS

    def read(self, path: Path) -> pl.LazyFrame:
        """Canonical columns + ``reject_field`` + ``reject_reason`` (lazy).

        Raises
        ------
        SourceFormatError
            Empty file, wrong delimiter, missing column, or no HS revision and year in the name.
        """
        path = Path(path)
        head = read_head(path)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as err:
            # a multi-byte character cut by the end of the head is not an error
            if err.start < len(head) - 3:
                line = head.count(b"\n", 0, err.start) + 1
                raise SourceFormatError(
                    path,
                    f"broken encoding: byte {head[err.start : err.start + 1]!r} at byte offset "
                    f"{err.start} is not UTF-8 (BACI files are ASCII)",
                    line=line,
                ) from None
        first_line = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
        first_line = first_line.rstrip("\r")
        columns = split_header(path, first_line)
        require_columns(path, columns, BACI_COLUMNS)

        parsed = parse_file_name(path)
        if parsed is None and self._hs_revision is None:
            raise SourceFormatError(
                path,
                "cannot tell the HS revision and year from the file name (expected e.g. "
                "BACI_HS17_Y2022_V202601.csv); rename the file or pass hs_revision=",
            )
        hs_revision = self._hs_revision
        if hs_revision is None and parsed is not None:
            if parsed[0] not in HS_REVISIONS:
                raise SourceFormatError(path, f"unknown BACI nomenclature {parsed[0]!r}")
            hs_revision = HS_REVISIONS[parsed[0]]
        file_year = parsed[1] if parsed else None

        scanned = scan_delimited(path, header=first_line)
        raw = scanned.frame
        lf = raw.select(
            pl.col("_line"),
            pl.col("_line").alias("source_line"),
            pl.col(EXTRA_COLUMN),
            *[pl.col(c).str.strip_chars().alias(c) for c in BACI_COLUMNS],
        )

        t_num = pl.col("t").cast(pl.Int32, strict=False)
        # Was k written from a numeric column? One cheap pass over k alone: codes of chapters
        # 01-09 then have 5 digits and no 6-digit code starts with 0. Only then are 5-digit codes
        # restored; in a file whose codes keep their zeros a 5-digit code is an error.
        k_text = pl.col("k").str.strip_chars()
        try:
            seen = (
                raw.select(
                    k_text.str.contains(r"^0\d{5}$").any().alias("zero"),
                    k_text.str.contains(r"^\d{5}$").any().alias("five"),
                )
                .collect(engine="streaming")
                .row(0, named=True)
            )
        except pl.exceptions.PolarsError as exc:
            raise polars_file_error(
                path, exc, "the byte at column {column} is not UTF-8 (BACI files are ASCII)"
            ) from None
        k_numeric = bool(seen["five"]) and not bool(seen["zero"])
        k_ok6 = pl.col("k").str.contains(r"^\d{6}$").fill_null(False)
        k_ok5 = pl.col("k").str.contains(r"^\d{5}$").fill_null(False) & pl.lit(k_numeric)
        hs = (
            pl.when(k_ok5)
            .then(pl.concat_str(pl.lit("0"), pl.col("k")))
            .when(k_ok6)
            .then(pl.col("k"))
            .otherwise(None)
        )
        value = exact_scaled(pl.col("v"), 1000)
        q_missing = pl.col("q").is_null() | pl.col("q").str.to_uppercase().is_in(_MISSING_Q)
        weight = pl.when(q_missing).then(None).otherwise(exact_scaled(pl.col("q"), 1000))
        # code -> ISO3 by joins with the small table: unlike replace_strict, a join streams
        table = pl.LazyFrame(
            {"_code": list(self._codes), "_iso3": list(self._codes.values())},
            schema={"_code": pl.String, "_iso3": pl.String},
        )
        for col, out_name in (("i", "_exporter"), ("j", "_importer")):
            lf = lf.with_columns(pl.col(col).str.strip_chars_start("0").alias("_code")).join(
                table.rename({"_iso3": out_name}), on="_code", how="left", maintain_order="left"
            )
        exporter = pl.col("_exporter")
        importer = pl.col("_importer")

        checks: list[Check] = [
            *scanned.checks,
            (
                t_num.is_null(),
                "t",
                pl.concat_str(pl.lit("year "), quoted("t"), pl.lit(" is not an integer")),
            ),
        ]
        if file_year is not None:
            checks.append(
                (
                    t_num != file_year,
                    "t",
                    pl.concat_str(
                        pl.lit("year "),
                        quoted("t"),
                        pl.lit(f" is outside the file's declared year {file_year}"),
                    ),
                )
            )
        checks += [
            (
                exporter.is_null(),
                "i",
                pl.concat_str(pl.lit("unknown BACI country code "), quoted("i")),
            ),
            (
                importer.is_null(),
                "j",
                pl.concat_str(pl.lit("unknown BACI country code "), quoted("j")),
            ),
            (
                pl.col("k").str.contains(r"^\d{5}$").fill_null(False) & ~pl.lit(k_numeric),
                "k",
                pl.concat_str(
                    pl.lit("product code "),
                    quoted("k"),
                    pl.lit(
                        " has 5 digits in a file whose other codes keep their leading zero: "
                        "not restored"
                    ),
                ),
            ),
            (
                hs.is_null(),
                "k",
                pl.concat_str(
                    pl.lit("product code "),
                    quoted("k"),
                    pl.lit(" is not a 6-digit HS code (nor a 5-digit one that lost its zero)"),
                ),
            ),
            (
                pl.col("v").is_null() | (pl.col("v") == ""),
                "v",
                "value missing",
            ),
            (
                out_of_range(pl.col("v"), 1000),
                "v",
                pl.concat_str(
                    pl.lit("value "),
                    quoted("v"),
                    pl.lit(
                        f" is out of range: more than {max_digits(1000)} digits before the "
                        "decimal point (thousand USD)"
                    ),
                ),
            ),
            (
                value.is_null(),
                "v",
                pl.concat_str(pl.lit("non-numeric value "), quoted("v")),
            ),
            (value < 0, "v", pl.concat_str(pl.lit("negative value "), quoted("v"))),
            (
                ~q_missing & out_of_range(pl.col("q"), 1000),
                "q",
                pl.concat_str(
                    pl.lit("quantity "),
                    quoted("q"),
                    pl.lit(f" is out of range: more than {max_digits(1000)} digits (tonnes)"),
                ),
            ),
            (
                ~q_missing & weight.is_null(),
                "q",
                pl.concat_str(pl.lit("non-numeric quantity "), quoted("q")),
            ),
            (weight < 0, "q", pl.concat_str(pl.lit("negative quantity "), quoted("q"))),
        ]
        reject_field, reject_reason = first_problem(checks)

        out = lf.with_columns(
            pl.lit("baci").alias("source"),
            importer.alias("reporter_iso3"),
            exporter.alias("partner_iso3"),
            pl.lit("M").alias("flow"),
            exporter.alias("exporter_iso3"),
            importer.alias("importer_iso3"),
            hs.alias("hs_code"),
            hs.alias("hs6"),
            pl.lit(hs_revision, dtype=pl.String).alias("hs_revision"),
            pl.date(t_num, 1, 1).alias("period"),
            pl.lit("A").alias("freq"),
            value.alias("value_usd"),
            value.alias("value_native"),
            pl.lit("USD").alias("currency"),
            pl.lit("FOB").alias("valuation"),
            weight.alias("net_weight_kg"),
            pl.lit(None, dtype=pl.Float64).alias("quantity"),
            pl.lit(None, dtype=pl.String).alias("quantity_unit"),
            pl.when(k_ok5).then(pl.lit("k_leading_zero_restored")).otherwise(None).alias("flags"),
            pl.lit(path.name).alias("source_file"),
            reject_field.alias("reject_field"),
            reject_reason.alias("reject_reason"),
        )
        return canonical(out)
