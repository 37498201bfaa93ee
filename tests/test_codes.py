"""The shipped country tables: reproducible from build_tables.py, and equal to CEPII's real tables."""

from __future__ import annotations

import polars as pl
import pytest

from tests.conftest import shared_path
from tradeimpact.codes import build_tables, country_table, systems, to_iso3
from tradeimpact.errors import SourceFormatError

#: deliberate differences from CEPII's ISO3 column, documented in codes/SOURCES.md and build_tables
M49_VS_BACI = {
    ("V202201", "490"): ("N/A", "TWN"),  # Taiwan, "Other Asia, nes"
    ("V202201", "697"): ("N/A", "R20"),
    ("V202201", "711"): ("ZAF", "ZA1"),
    ("V202201", "849"): ("N/A", "PUS"),
    ("V202601", "490"): ("S19", "TWN"),
}


def test_tables_are_reproducible_from_build_script() -> None:
    pycountry = pytest.importorskip("pycountry", reason="pycountry (test extra) builds the tables")
    from importlib.metadata import version

    if version("pycountry") != build_tables.PYCOUNTRY_VERSION:
        pytest.skip(
            f"pycountry {version('pycountry')} installed; the tables were built with "
            f"{build_tables.PYCOUNTRY_VERSION} (requirements/lock.txt pins it)"
        )
    assert pycountry.countries.get(alpha_2="JP").alpha_3 == "JPN"
    built = build_tables.build()
    for name, text in built.items():
        assert (build_tables.HERE / name).read_text(encoding="utf-8") == text, name
    assert build_tables.main(["--check"]) == 0


def test_every_table_has_code_iso3_name_and_unique_codes() -> None:
    assert {"m49", "iso2", "iso3"} <= set(systems())
    for system in systems():
        table = country_table(system)
        assert {"code", "iso3", "name"} <= set(table.columns)
        assert table["code"].is_unique().all()


@pytest.mark.parametrize(
    ("release", "parts", "code_col", "iso3_col"),
    [
        (
            "V202201",
            ("baci-metadata-V202201", "country_codes.csv"),
            "country_code",
            "iso_3digit_alpha",
        ),
        (
            "V202601",
            ("critmat-atlas-comtrade-baci", "country_codes_V202601.csv"),
            "country_code",
            "country_iso3",
        ),
    ],
)
def test_m49_matches_baci_country_tables(
    release: str, parts: tuple[str, str], code_col: str, iso3_col: str
) -> None:
    path = shared_path("data", "real", *parts)
    baci = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    baci = baci.rename({baci.columns[0]: baci.columns[0].lstrip("\ufeff")})
    ours = to_iso3(baci[code_col], "m49").to_list()
    mismatches = {}
    for code, theirs, mine in zip(baci[code_col], baci[iso3_col], ours, strict=True):
        if theirs != mine:
            mismatches[(release, code)] = (theirs, mine)
    expected = {k: v for k, v in M49_VS_BACI.items() if k[0] == release}
    assert mismatches == expected
    assert baci.height == 238


@pytest.mark.parametrize(
    ("parts", "iso2_col", "iso3_col", "expected"),
    [
        (
            ("critmat-atlas-comtrade-baci", "country_codes_V202601.csv"),
            "country_iso2",
            "country_iso3",
            [("200", "CS", "CSK", "SCG")],
        ),
        (
            ("baci-metadata-V202201", "country_codes.csv"),
            "iso_2digit_alpha",
            "iso_3digit_alpha",
            [("200", "CS", "CSK", "SCG")],
        ),
    ],
)
def test_iso2_matches_baci_iso2_column(
    parts: tuple[str, str], iso2_col: str, iso3_col: str, expected: list[tuple[str, ...]]
) -> None:
    """Every ISO2 of CEPII's tables maps to CEPII's ISO3, except CS: read here as Serbia and
    Montenegro (its meaning in trade data after 1993), by CEPII as Czechoslovakia."""
    baci = pl.read_csv(shared_path("data", "real", *parts), infer_schema=False)
    baci = baci.rename({baci.columns[0]: "code"})
    baci = baci.filter(pl.col(iso2_col).is_not_null() & (pl.col(iso2_col) != "N/A"))
    ours = baci.with_columns(to_iso3(baci[iso2_col], "iso2").alias("ours"))
    diff = ours.filter(pl.col("ours").is_null() | (pl.col("ours") != pl.col(iso3_col)))
    assert diff.select("code", iso2_col, iso3_col, "ours").rows() == expected
    assert to_iso3(pl.Series(["JP", "cn", "TW", "AN", "CS", "ZZ"]), "iso2").to_list() == [
        "JPN",
        "CHN",
        "TWN",
        "ANT",
        "SCG",
        None,
    ]


def test_to_iso3_expr_series_and_unknown() -> None:
    codes = pl.Series("c", ["156", "0392", "842.0", "490", "0", "999", None])
    assert to_iso3(codes, "m49").to_list() == ["CHN", "JPN", "USA", "TWN", "WLD", None, None]
    frame = pl.DataFrame({"c": [156, 251, 699, 757, 579]})
    assert frame.select(to_iso3(pl.col("c"), "m49")).to_series().to_list() == [
        "CHN",
        "FRA",
        "IND",
        "CHE",
        "NOR",
    ]
    with pytest.raises(SourceFormatError, match="no country table for code system 'nope'"):
        country_table("nope")
