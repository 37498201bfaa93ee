"""Generated inputs for the benchmarks (seeded; cached under ``.bench_data/``, git-ignored).

All data here is SYNTHETIC and the file names say so.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import polars as pl

CACHE = Path(__file__).resolve().parents[1] / ".bench_data"

# (M49, ISO3, name) of reporters/partners used by the generated files
_COUNTRIES = [
    (36, "AUS", "Australia"), (76, "BRA", "Brazil"), (124, "CAN", "Canada"),
    (156, "CHN", "China"), (251, "FRA", "France"), (276, "DEU", "Germany"),
    (392, "JPN", "Japan"), (410, "KOR", "Rep. of Korea"), (484, "MEX", "Mexico"),
    (528, "NLD", "Netherlands"), (699, "IND", "India"), (704, "VNM", "Viet Nam"),
    (764, "THA", "Thailand"), (842, "USA", "USA"), (826, "GBR", "United Kingdom"),
    (380, "ITA", "Italy"), (724, "ESP", "Spain"), (458, "MYS", "Malaysia"),
    (360, "IDN", "Indonesia"), (608, "PHL", "Philippines"),
]  # fmt: skip


def comtrade_frame(n_rows: int, seed: int = 0, start: int = 0) -> pl.DataFrame:
    """Rows ``start .. start+n_rows`` of a key space of distinct monthly Comtrade v1 records.

    Records are unique per reporter/partner/cmd/period across every ``start``, so chunks written
    one after another never repeat a key.
    """
    rng = np.random.default_rng(seed)
    n_c = len(_COUNTRIES)
    # key space: reporter x partner x hs6 x month; the row index enumerates it without repeats
    n_months = 240  # 2005-01 .. 2024-12
    idx = np.arange(start, start + n_rows, dtype=np.int64)
    month = idx % n_months
    rest = idx // n_months
    pair = rest % (n_c * (n_c - 1))
    cmd = rest // (n_c * (n_c - 1))
    rep = pair // (n_c - 1)
    par = pair % (n_c - 1)
    par = np.where(par >= rep, par + 1, par)
    codes = np.array([c[0] for c in _COUNTRIES])
    isos = np.array([c[1] for c in _COUNTRIES])
    names = np.array([c[2] for c in _COUNTRIES])
    year = 2005 + month // 12
    mon = month % 12 + 1
    if cmd.size and int(cmd.max()) >= 990_000:
        raise ValueError("too many rows for the generated key space")
    hs = np.char.zfill((10_000 + cmd).astype(str), 6)
    n_rows = idx.size
    value = np.round(rng.lognormal(12, 2, n_rows), 2)
    wgt = np.round(value / rng.uniform(2, 50, n_rows), 1)
    flow_m = rng.random(n_rows) < 0.5
    period = (year * 100 + mon).astype(str)
    return pl.DataFrame(
        {
            "typeCode": "C",
            "freqCode": "M",
            "refPeriodId": (year * 10000 + mon * 100 + 1).astype(np.int64),
            "refYear": year.astype(np.int64),
            "refMonth": mon.astype(np.int64),
            "period": period,
            "reporterCode": codes[rep],
            "reporterISO": isos[rep],
            "reporterDesc": names[rep],
            "flowCode": np.where(flow_m, "M", "X"),
            "flowDesc": np.where(flow_m, "Import", "Export"),
            "partnerCode": codes[par],
            "partnerISO": isos[par],
            "partnerDesc": names[par],
            "partner2Code": 0,
            "partner2ISO": "W00",
            "partner2Desc": "World",
            "classificationCode": "H3",
            "classificationSearchCode": "HS",
            "isOriginalClassification": True,
            "cmdCode": hs,
            "cmdDesc": "SYNTHETIC benchmark commodity",
            "aggrLevel": 6,
            "isLeaf": True,
            "customsCode": "C00",
            "customsDesc": "TOTAL CPC",
            "mosCode": "0",
            "motCode": 0,
            "motDesc": "TOTAL MOT",
            "qtyUnitCode": 8,
            "qtyUnitAbbr": "kg",
            "qty": wgt,
            "isQtyEstimated": False,
            "altQtyUnitCode": -1,
            "altQtyUnitAbbr": "N/A",
            "altQty": None,
            "isAltQtyEstimated": False,
            "netWgt": wgt,
            "isNetWgtEstimated": False,
            "grossWgt": None,
            "isGrossWgtEstimated": False,
            "cifvalue": np.where(flow_m, value, np.nan),
            "fobvalue": np.where(flow_m, np.nan, value),
            "primaryValue": value,
            "legacyEstimationFlag": 0,
            "isReported": True,
            "isAggregate": False,
        }
    ).with_columns(
        pl.col("cifvalue").fill_nan(None),
        pl.col("fobvalue").fill_nan(None),
        pl.col("altQty").cast(pl.Float64),
        pl.col("grossWgt").cast(pl.Float64),
    )


def comtrade_csv(n_rows: int) -> Path:
    """A SYNTHETIC Comtrade v1 CSV (API field names) of ``n_rows`` rows, written in chunks."""
    path = CACHE / f"SYNTHETIC_comtrade_v1_{n_rows}.csv"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    chunk = 2_000_000
    with tmp.open("wb") as fh:
        for start in range(0, n_rows, chunk):
            part = comtrade_frame(min(chunk, n_rows - start), seed=start, start=start)
            part.write_csv(fh, include_header=start == 0)
    tmp.rename(path)
    return path


def comtrade_bulk(n_rows: int) -> Path:
    """A SYNTHETIC Comtrade bulk file: the rows of :func:`comtrade_csv`, gzip tab-separated text."""
    path = CACHE / f"SYNTHETIC_comtrade_bulk_{n_rows}.txt.gz"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    chunk = 2_000_000
    with gzip.GzipFile(tmp, "wb", mtime=0) as fh:
        for start in range(0, n_rows, chunk):
            part = comtrade_frame(min(chunk, n_rows - start), seed=start, start=start)
            fh.write(part.write_csv(separator="\t", include_header=start == 0).encode("utf-8"))
    tmp.rename(path)
    return path


def comtrade_json(n_rows: int) -> Path:
    """A SYNTHETIC Comtrade v1 JSON answer (``{"data": [...]}``) of ``n_rows`` records."""
    path = CACHE / f"SYNTHETIC_comtrade_v1_{n_rows}.json"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    frame = comtrade_frame(n_rows)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(f'{{"elapsedTime":"0.1 secs","count":{n_rows},"data":')
        fh.write(frame.write_json())
        fh.write(',"error":""}')
    tmp.rename(path)
    return path


def event_panel(n_rows: int, seed: int = 1, n_months: int = 120) -> pl.DataFrame:
    """SYNTHETIC importer x product by month panel with staggered-free single-date treatment.

    ``n_rows / n_months`` units (importer x product) over ``n_months`` months (120 by default;
    the wild bootstrap case takes 100 for 10,000 units at 1e6 rows); 10% of units treated at
    month ``n_months // 2``; outcome ``y`` with unit and month effects and a dynamic effect of
    -0.3 after treatment.
    """
    rng = np.random.default_rng(seed)
    n_units = max(20, n_rows // n_months)
    unit = np.repeat(np.arange(n_units), n_months)
    month = np.tile(np.arange(n_months), n_units)
    treated_unit = rng.random(n_units) < 0.1
    treated_unit[0] = True
    treat = treated_unit[unit]
    start = n_months // 2
    rel = np.where(treat, month - start, -1000)
    y = (
        rng.normal(size=n_units)[unit]
        + rng.normal(size=n_months)[month]
        + np.where(treat & (month >= start), -0.3, 0.0)
        + rng.normal(size=unit.size)
    )
    return pl.DataFrame(
        {
            "unit": unit,
            "importer": unit % 50,
            "month": month,
            "treat_month": np.where(treat, start, -1).astype(np.int64),
            "rel": rel,
            "treated": treat.astype(np.int64),
            "post": (month >= start).astype(np.int64),
            "y": y,
        }
    )


def _ppml_shape(n_rows: int) -> tuple[int, int]:
    """(countries, years) of :func:`ppml_panel` for ``n_rows`` requested rows."""
    n_c = max(100, int(np.sqrt(n_rows / 100)))
    return n_c, max(1, n_rows // (n_c * n_c))


def ppml_panel_rows(n_rows: int) -> int:
    """The rows :func:`ppml_panel` makes for ``n_rows`` requested (countries^2 x years)."""
    n_c, n_years = _ppml_shape(n_rows)
    return n_c * n_c * n_years


def ppml_panel(n_rows: int, seed: int = 2) -> pl.DataFrame:
    """SYNTHETIC exporter x importer x year flows with zeros, for PPML with three fixed effects.

    100 countries up to 1e6 rows (100 years at 1e6); beyond, more countries and still 100 years
    (1e7 rows: 316 countries, 99,856 pairs), so that the year trend ``0.1 * year`` keeps the
    Poisson means finite (1,000 years of it overflowed numpy's Poisson sampler).
    """
    rng = np.random.default_rng(seed)
    n_c, n_years = _ppml_shape(n_rows)
    idx = np.arange(n_c * n_c * n_years)
    exp_, imp, yr = idx % n_c, (idx // n_c) % n_c, idx // (n_c * n_c)
    pair = exp_ * n_c + imp
    x = rng.normal(size=idx.size)
    rta = (rng.random(idx.size) < 0.2).astype(float)
    eta = 0.5 * x + 0.3 * rta + rng.normal(size=n_c)[exp_] + rng.normal(size=n_c)[imp]
    eta += 0.5 * rng.normal(size=n_c * n_c)[pair] + 0.1 * yr
    mu = np.exp(eta)
    trade = rng.poisson(mu)
    return pl.DataFrame(
        {
            "exporter": exp_,
            "importer": imp,
            "year": yr,
            "pair": pair,
            "exp_year": exp_ * 1000 + yr,
            "imp_year": imp * 1000 + yr,
            "x": x,
            "rta": rta,
            "trade": trade.astype(np.float64),
        }
    )


def write_gzip_json(obj: object, path: Path) -> None:
    """Deterministic gzip JSON (mtime 0)."""
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write(json.dumps(obj, sort_keys=True).encode())
