"""China Customs (GACC) query-export reader.

No real GACC export exists in ../shared: the fixtures are built from the format's published
description -- the columns of the stats.customs.gov.cn export (数据年月, 商品编码, 商品名称,
贸易伙伴编码, 贸易伙伴名称, [贸易方式编码, 贸易方式名称, 注册地编码, 注册地名称,] 第一数量, 第一计量单位,
第二数量, 第二计量单位, 美元 or 人民币; on the English platform "Date of data, Commodity code,
Commodity, Trading partner code, Trading partner, First quantity, First unit, Second quantity,
Second unit, US dollar"), with its thousands separators, its GBK encoding and the trailing empty
column that downloads often carry. Partner codes: 116 Japan, 142 China, 502 USA, 133 Korea.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources.gacc import GaccReader

ZH_HEADER = "数据年月,商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,第一数量,第一计量单位,第二数量,第二计量单位,美元,"
ZH_ROWS = [
    '202509,85051110,稀土永磁铁,116,日本,"228,000",千克,"1,500",个,"12,345,678",',
    "202510,85051110,稀土永磁铁,502,美国,1000,千克,,,5000,",
    "202510,28053011,钕,133,韩国,2.5,吨,,,800,",
    "202511,28469019,其他稀土化合物,143,中国台湾,,,,,0,",
]
ZH = ZH_HEADER + "\n" + "\n".join(ZH_ROWS) + "\n"

EN_HEADER = (
    "Date of data,Commodity code,Commodity,Trading partner code,Trading partner,"
    "First quantity,First unit,Second quantity,Second unit,US dollar"
)
EN_ROWS = [
    '202509,85051110,Permanent magnets of rare earth,116,Japan,"228,000",kilogram,"1,500",piece,"12,345,678"',
    "202510,85051110,Permanent magnets of rare earth,502,United States,1000,kilogram,,,5000",
    "202510,28053011,Neodymium,133,Republic of Korea,2.5,ton,,,800",
    '202511,28469019,Other rare-earth compounds,143,"Taiwan, China",,,,,0',
]
EN = EN_HEADER + "\n" + "\n".join(EN_ROWS) + "\n"


def write(tmp_path: Path, text: str, name: str = "export_2025.csv", enc: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(enc))
    return path


def read(path: Path, **kwargs: object) -> pl.DataFrame:
    return GaccReader(**kwargs).read(path).collect()  # type: ignore[arg-type]


def test_chinese_export_file(tmp_path: Path) -> None:
    out = read(write(tmp_path, ZH))
    assert out.height == 4
    assert out["reject_reason"].null_count() == 4
    japan = out.row(0, named=True)
    assert (japan["reporter_iso3"], japan["partner_iso3"], japan["flow"]) == ("CHN", "JPN", "X")
    assert (japan["exporter_iso3"], japan["importer_iso3"], japan["valuation"]) == (
        "CHN",
        "JPN",
        "FOB",
    )
    # "12,345,678" US dollars; "228,000" 千克 -> 228,000 kg; "1,500" 个 kept as the quantity
    assert (japan["value_usd"], japan["value_native"], japan["currency"]) == (
        12_345_678.0,
        12_345_678.0,
        "USD",
    )
    assert japan["net_weight_kg"] == 228_000.0
    assert (japan["quantity"], japan["quantity_unit"]) == (1500.0, "个")
    assert (japan["hs_code"], japan["hs6"], japan["hs_revision"]) == ("85051110", "850511", "H6")
    assert (japan["period"], japan["freq"]) == (date(2025, 9, 1), "M")
    assert japan["flags"] == "flow_from_file_name"
    assert (japan["source_file"], japan["source_line"]) == ("export_2025.csv", 2)
    assert out["partner_iso3"].to_list() == ["JPN", "USA", "KOR", "TWN"]
    # 2.5 吨 (tonnes) -> 2,500 kg, by hand
    assert out["net_weight_kg"].to_list() == [228_000.0, 1000.0, 2500.0, None]
    assert out["value_usd"].sum() == 12_345_678 + 5000 + 800 + 0


def test_english_export_is_read_the_same(tmp_path: Path) -> None:
    zh = read(write(tmp_path, ZH, name="zh_export.csv"))
    en = read(write(tmp_path, EN, name="en_export.csv"))
    same = [c for c in zh.columns if c not in ("source_file", "quantity_unit")]
    assert zh.select(same).equals(en.select(same))
    assert en["quantity_unit"].to_list() == ["piece", None, None, None]


def test_gbk_encoding(tmp_path: Path) -> None:
    utf8 = read(write(tmp_path, ZH, name="u_export.csv"))
    gbk = read(write(tmp_path, ZH, name="g_export.csv", enc="gbk"))
    assert utf8.drop("source_file").equals(gbk.drop("source_file"))


def test_broken_encoding(tmp_path: Path) -> None:
    data = ZH.encode("gbk").split(b"\n")
    data[3] = data[3] + b"\xff\xff"  # 0xFF is neither UTF-8 nor GB18030
    path = tmp_path / "bad_export.csv"
    path.write_bytes(b"\n".join(data))
    with pytest.raises(SourceFormatError, match=r"bad_export\.csv, line 4: undecodable text") as e:
        read(path)
    assert "neither UTF-8 nor gb18030" in str(e.value)
    assert "byte offset" in str(e.value)


def test_yuan_values(tmp_path: Path) -> None:
    text = ZH.replace(",美元,", ",人民币,")
    out = read(write(tmp_path, text))
    first = out.row(0, named=True)
    assert (first["value_native"], first["currency"], first["value_usd"]) == (
        12_345_678.0,
        "CNY",
        None,
    )


def test_yuan_values_with_rates(tmp_path: Path) -> None:
    text = ZH.replace(",美元,", ",人民币,")
    fx = pl.DataFrame({"period": [date(2025, 9, 1), date(2025, 10, 1)], "cny_per_usd": [7.1, 7.0]})
    out = read(write(tmp_path, text), cny_per_usd=fx)
    assert out["value_usd"][0] == pytest.approx(12_345_678 / 7.1, rel=1e-15)
    assert out["value_usd"][1] == pytest.approx(5000 / 7.0, rel=1e-15)
    assert out["value_usd"][3] is None  # November: no rate
    assert out["flags"].to_list() == [
        "flow_from_file_name",
        "flow_from_file_name",
        "flow_from_file_name",
        "flow_from_file_name;no_fx_rate",
    ]
    assert out["currency"].unique().to_list() == ["CNY"]


def test_direction(tmp_path: Path) -> None:
    neutral = write(tmp_path, ZH, name="query_2025.csv")
    with pytest.raises(SourceFormatError, match="does not say whether it holds imports or exports"):
        read(neutral)
    imports = read(neutral, flow="M")
    first = imports.row(0, named=True)
    assert (first["flow"], first["exporter_iso3"], first["importer_iso3"]) == ("M", "JPN", "CHN")
    assert first["valuation"] == "CIF"
    assert first["flags"] is None
    assert read(write(tmp_path, ZH, name="进口_2025.csv"))["flow"].unique().to_list() == ["M"]
    # a direction column wins and is validated row by row
    rows = [r.replace("202509,", "202509,出口,", 1) for r in ZH_ROWS[:1]]
    rows += ["202510,进口," + ZH_ROWS[1][7:], "202510,转口," + ZH_ROWS[2][7:]]
    text = ZH_HEADER.replace("数据年月,", "数据年月,进出口,", 1) + "\n" + "\n".join(rows) + "\n"
    out = read(write(tmp_path, text, name="query_flow.csv"))
    assert out["flow"].to_list() == ["X", "M", None]
    assert out["reject_field"].to_list() == [None, None, "进出口"]
    assert out["reject_reason"][2] == "direction '转口' is not import/export"


def test_partner_name_only(tmp_path: Path) -> None:
    header = ZH_HEADER.replace("贸易伙伴编码,", "", 1)
    rows = [r.replace(",116,", ",", 1).replace(",502,", ",", 1) for r in ZH_ROWS[:2]]
    out = read(write(tmp_path, header + "\n" + "\n".join(rows) + "\n"))
    assert out["partner_iso3"].to_list() == ["JPN", "USA"]


def test_breakdowns_kept_in_flags(tmp_path: Path) -> None:
    header = "数据年月,商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,贸易方式编码,贸易方式名称,注册地编码,注册地名称,第一数量,第一计量单位,第二数量,第二计量单位,美元"
    rows = [
        "202509,85051110,稀土永磁铁,116,日本,10,一般贸易,44,广东省,100,千克,,,1000",
        "202509,85051110,稀土永磁铁,116,日本,14,来料加工贸易,33,浙江省,50,千克,,,400",
    ]
    out = read(write(tmp_path, header + "\n" + "\n".join(rows) + "\n"))
    assert out["flags"].to_list() == [
        "trade_mode=10;registration_place=44;flow_from_file_name",
        "trade_mode=14;registration_place=33;flow_from_file_name",
    ]


BAD = [
    ("202513,85051110,x,116,日本,1,千克,,,1,", "数据年月", "period '202513' is not YYYYMM"),
    ("2025,85051110,x,116,日本,1,千克,,,1,", "数据年月", "period '2025' is not YYYYMM"),
    (
        "202509,5051110,x,116,日本,1,千克,,,1,",
        "商品编码",
        "commodity code '5051110' has 7 digits: read as a number, its leading zero lost",
    ),
    (
        "202509,850511,x,116,日本,1,千克,,,1,",
        "商品编码",
        "commodity code '850511' is not 8-10 digits",
    ),
    (
        "202509,85051110,x,998,火星,1,千克,,,1,",
        "贸易伙伴编码",
        "unknown GACC trading partner '998'",
    ),
    ("202509,85051110,x,116,日本,1,千克,,,abc,", "美元", "non-numeric value 'abc'"),
    ("202509,85051110,x,116,日本,1,千克,,,,", "美元", "value missing"),
    ("202509,85051110,x,116,日本,1,千克,,,-5,", "美元", "negative value '-5'"),
    ("202509,85051110,x,116,日本,1x,千克,,,1,", "第一数量", "non-numeric quantity '1x'"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD)
def test_bad_row_quarantined(tmp_path: Path, row: str, field: str, reason: str) -> None:
    out = read(write(tmp_path, ZH + row + "\n"))
    assert out.height == 5  # rows in = rows out
    bad = out.filter(pl.col("reject_reason").is_not_null())
    assert bad.height == 1
    assert (bad["source_line"].item(), bad["source_file"].item()) == (6, "export_2025.csv")
    assert bad["reject_field"].item() == field
    assert bad["reject_reason"].item() == reason


def test_accounting(tmp_path: Path) -> None:
    text = ZH + "\n".join(r for r, _, _ in BAD) + "\n"
    out = read(write(tmp_path, text))
    good = out.filter(pl.col("reject_reason").is_null()).height
    rejected = out.filter(pl.col("reject_reason").is_not_null()).height
    assert (len(text.strip().splitlines()) - 1, good, rejected) == (13, 4, 9)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=r"export_2025\.csv, line 1: empty file"):
        read(write(tmp_path, ""))


def test_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=r"field '商品编码': missing column"):
        read(write(tmp_path, ZH.replace("商品编码", "编码", 1)))
    with pytest.raises(SourceFormatError, match=r"field '美元': need exactly one value column"):
        read(write(tmp_path, ZH.replace("美元", "金额", 1)))
    with pytest.raises(SourceFormatError, match=r"field '贸易伙伴编码': missing partner column"):
        read(write(tmp_path, ZH.replace("贸易伙伴编码", "x", 1).replace("贸易伙伴名称", "y", 1)))


def test_wrong_delimiter(tmp_path: Path) -> None:
    text = ZH_HEADER.replace(",", ";") + "\n"
    with pytest.raises(SourceFormatError, match=r"line 1: wrong delimiter"):
        read(write(tmp_path, text))


def test_sniff(tmp_path: Path) -> None:
    reader = GaccReader()
    assert reader.sniff(write(tmp_path, ZH))
    assert reader.sniff(write(tmp_path, EN, name="en_export.csv"))
    assert reader.sniff(write(tmp_path, ZH, name="gbk_export.csv", enc="gbk"))
    assert not reader.sniff(write(tmp_path, "t,i,j,k,v,q\n", name="b.csv"))


def test_partner_table() -> None:
    from tradeimpact.sources._codetables import code_table, iso3_map

    codes = iso3_map("gacc")
    assert (codes["116"], codes["142"], codes["502"], codes["133"]) == ("JPN", "CHN", "USA", "KOR")
    assert (codes["110"], codes["143"], codes["141"], codes["304"]) == ("HKG", "TWN", "VNM", "DEU")
    # checked against transcustoms.cn's copy of the GACC list (least-developed countries page)
    ldc = {"101": "AFG", "217": "ETH", "202": "AGO", "203": "BEN", "205": "BDI", "216": "GNQ"}
    ldc |= {"144": "TLS", "248": "TGO", "258": "ERI", "214": "DJI", "221": "GIN", "222": "GNB"}
    ldc |= {"107": "KHM", "212": "COM", "255": "LSO", "119": "LAO", "225": "LBR", "238": "RWA"}
    ldc |= {"227": "MDG", "228": "MWI", "229": "MLI", "230": "MRT"}
    assert {code: codes[code] for code in ldc} == ldc
    table = code_table("gacc")
    assert table.height == 156
    assert table["code"].is_unique().all() and table["iso3"].is_unique().all()
    assert table["name_zh"].is_unique().all()


def test_round_trip_through_flowstore(tmp_path: Path) -> None:
    """Ingest (format detected), scan: totals per partner and code equal the raw file's."""
    import csv

    from tradeimpact.store import FlowStore

    path = write(tmp_path, ZH + BAD[4][0] + "\n", enc="gbk")
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    assert [f.reader for f in report.files] == ["gacc"]
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (5, 4, 1)
    expected: dict[tuple[str, str], float] = {}
    with open(path, encoding="gbk", newline="") as handle:
        for rec in csv.DictReader(handle):
            if rec["贸易伙伴编码"] == "998":
                continue
            key = (rec["贸易伙伴编码"], rec["商品编码"])
            expected[key] = expected.get(key, 0.0) + float(rec["美元"].replace(",", ""))
    names = {"116": "JPN", "502": "USA", "133": "KOR", "143": "TWN"}
    stored = store.scan().collect()
    got = {(r["partner_iso3"], r["hs_code"]): r["value_usd"] for r in stored.iter_rows(named=True)}
    assert got == {(names[p], c): v for (p, c), v in expected.items()}
    assert store.quarantine().collect()["reason"].to_list() == [
        "unknown GACC trading partner '998'"
    ]


def test_sum_breakdowns(tmp_path: Path) -> None:
    header = (
        "数据年月,商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,贸易方式编码,贸易方式名称,"
        "第一数量,第一计量单位,第二数量,第二计量单位,美元"
    )
    rows = [
        "202509,85051110,稀土永磁铁,116,日本,10,一般贸易,100,千克,,,1000",
        "202509,85051110,稀土永磁铁,502,美国,10,一般贸易,7,千克,,,70",
        "202509,85051110,稀土永磁铁,116,日本,14,来料加工贸易,50,千克,,,400",
        "202509,85051110,稀土永磁铁,116,日本,15,进料加工贸易,5,千克,,,abc",
    ]
    path = write(tmp_path, header + "\n" + "\n".join(rows) + "\n")
    out = read(path, sum_breakdowns=True)
    # 2 summed rows + the rejected line, never summed
    assert out.height == 3
    japan = out.row(0, named=True)
    assert (japan["partner_iso3"], japan["value_usd"], japan["net_weight_kg"]) == (
        "JPN",
        1400.0,
        150.0,
    )
    assert japan["source_line"] == 2
    assert japan["flags"] == "summed_over=trade_mode;flow_from_file_name;lines=2,4"
    assert out["reject_reason"].to_list() == [None, None, "non-numeric value 'abc'"]
    assert out["source_line"].to_list() == [2, 3, 5]
    # without summing, the breakdown rows share a key: the store quarantines them, sums nothing
    from tradeimpact.store import FlowStore

    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (4, 1, 3)
    summed = FlowStore(tmp_path / "store2").ingest([path], source=GaccReader(sum_breakdowns=True))
    assert (summed.rows_read, summed.rows_stored, summed.rows_quarantined) == (3, 2, 1)
