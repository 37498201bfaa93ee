"""A seeded generator of a SYNTHETIC demonstration panel, written in the UN Comtrade v1 JSON format.

The panel exists so that ``nox -s report`` runs end to end on a fresh clone and so that every build
checks that the designs recover effects of known size. It is NOT data: every file it writes has
``SYNTHETIC`` in its name, and :mod:`tradeimpact.casestudy` flags any result built from it.

What it writes (``python -m tradeimpact.demo --out data_raw``)
-------------------------------------------------------------
* ``comtrade/SYNTHETIC_comtrade_<ISO3>_2005-2026.json.gz``: one file per reporter, the exact
  response format of the Comtrade v1 API (``{"elapsedTime", "count", "data": [47 camelCase fields],
  "error"}``, field order of a real response), monthly (``freqCode "M"``, ``period "201009"``),
  gzip-compressed with ``mtime=0`` so that regeneration is byte-identical:

  - China (reporter ``CHN``): exports (``flowCode "X"``, FOB) of the basket to Japan and to
    20 other importers;
  - each importer: its imports (``"M"``, CIF) of the basket and comparison products from China
    (China reports its exports of the basket only); Japan also reports
    its imports of the basket and comparison products from six non-China suppliers (diversion).

  Zero flows are absent, as in Comtrade.
* ``SYNTHETIC_TRUE_EFFECTS.json``: the Japan-specific effects put in, month by month, per series
  (see :func:`true_effect_paths`), Japan's counterfactual expected levels (for the PPML estimand)
  and the implied true value of the baseline designs.
* ``README.md`` (written by :func:`write_demo`).

The data-generating process (all effects in log points; ``t`` a month, ``i`` an importer,
``p`` a product)::

    q_ipt  = exp(alpha_ip + g_pt + s_p,moy(t) + A_ipt + e_ipt) * L_ipt      true shipments (kg)
    uv_ipt = price_p(t) * exp(kappa_i + U_ipt + u_ipt)                      USD per kg
    importer report:  q_ipt * exp(m_ipt),            value = q * uv * 1.06 (CIF)
    exporter report:  q_ipt * exp(x_ipt) * r_t * R_ipt, value = q * uv (FOB)

``g_pt``: common product path of China's shipments with the global shocks (July 2010 quota cut,
April and October 2025 controls; other suppliers' shipments follow the plain trend), prices with
the 2010-11 spike for every supplier; ``e``: AR(1) noise (rho 0.4, innovation sd 0.1 for flows above 300 t a month, 0.2 below);
``L``: lumpy shipments (a month doubles with probability 0.01 above 100 t a month, 0.04 below); ``m, x``: independent reporting noise (sd 0.08), so the
mirror gap is noisy; ``r_t``: China under-records quantities by 20% in 2006-2011 (the White Paper's
mirror gap, events.md 3.2); small flows are zero with a probability that falls with their size.
``A_ipt`` (Japan only, basket products): the restriction, Sep-Nov 2010 and from Jan 2026 with
front-loading in Nov-Dec 2025 (:data:`RESTRICTION`); the earthquake (Mar-May 2011) hits every
Japanese import; ``U``: a price premium Japan pays during the restrictions; ``R``: China records
less of its exports to Japan in Oct-Nov 2010 (the mirror mismatch of events.md 3.2 item 2);
diversion raises Japan's basket imports from non-China suppliers.

Magnitudes follow events.md: Japan's imports of the core basket from China are about 2,000 t a
month in 2010 (2,246 t in Sep 2010), China's share of Japan's imports 60-76%, unit values from
about 14,000 USD/t in mid-2010 to several times that in 2011, Japan's magnet imports from China
about 150 t a month in 2010 and 230 t in 2025.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Seed of the generator (the date of MOFCOM Announcement No. 1 [2026]).
SEED = 20260106
FIRST_MONTH = date(2005, 1, 1)
LAST_MONTH = date(2026, 8, 1)
YEARS = "2005-2026"

TREATED = "JPN"
SOURCE = "CHN"

#: ISO3 -> (Comtrade reporter/partner code, name). Comtrade's own codes (USA 842, FRA 251, IND 699).
COUNTRIES: dict[str, tuple[int, str]] = {
    "CHN": (156, "China"),
    "JPN": (392, "Japan"),
    "USA": (842, "USA"),
    "KOR": (410, "Rep. of Korea"),
    "DEU": (276, "Germany"),
    "FRA": (251, "France"),
    "NLD": (528, "Netherlands"),
    "ITA": (380, "Italy"),
    "GBR": (826, "United Kingdom"),
    "IND": (699, "India"),
    "THA": (764, "Thailand"),
    "MYS": (458, "Malaysia"),
    "VNM": (704, "Viet Nam"),
    "BEL": (56, "Belgium"),
    "ESP": (724, "Spain"),
    "CAN": (124, "Canada"),
    "AUS": (36, "Australia"),
    "SGP": (702, "Singapore"),
    "EST": (233, "Estonia"),
    "BRA": (76, "Brazil"),
    "MEX": (484, "Mexico"),
    "IDN": (360, "Indonesia"),
    "AUT": (40, "Austria"),
}

CONTROLS = [
    "USA", "KOR", "DEU", "FRA", "NLD", "ITA", "GBR", "IND",
    "THA", "MYS", "VNM", "BEL", "ESP", "CAN", "AUS", "SGP", "BRA", "MEX", "IDN", "AUT",
]  # fmt: skip
IMPORTERS = [TREATED, *CONTROLS]
SUPPLIERS = ["VNM", "FRA", "EST", "MYS", "USA", "IND"]

#: HS6 -> (description, group, USD per kg before 2010).
PRODUCTS: dict[str, tuple[str, str, float]] = {
    "280530": ("Rare-earth metals, scandium and yttrium", "core", 40.0),
    "284610": ("Compounds of cerium", "core", 5.0),
    "284690": ("Compounds of rare-earth metals, of yttrium or scandium, other", "core", 15.0),
    "850511": ("Permanent magnets of metal", "extended", 25.0),
    "281820": ("Aluminium oxide, other than artificial corundum", "comparison", 0.7),
    "282300": ("Titanium oxides", "comparison", 2.5),
}
BASKET = [p for p, v in PRODUCTS.items() if v[1] in ("core", "extended")]

#: China's exports to Japan per month in 2009 (tonnes) by product, before any shock.
JAPAN_BASE_T: dict[str, float] = {
    "280530": 450.0,
    "284610": 800.0,
    "284690": 1000.0,
    "850511": 150.0,
    "281820": 2500.0,
    "282300": 900.0,
}
#: Size of each control importer relative to Japan (China's exports, same product).
RELATIVE_SIZE: dict[str, float] = {
    "USA": 0.45, "KOR": 0.25, "DEU": 0.18, "FRA": 0.10, "NLD": 0.12, "ITA": 0.06,
    "GBR": 0.05, "IND": 0.07, "THA": 0.08, "MYS": 0.05, "VNM": 0.06, "BEL": 0.04,
    "ESP": 0.03, "CAN": 0.03, "AUS": 0.02, "SGP": 0.04, "BRA": 0.03, "MEX": 0.03,
    "IDN": 0.04, "AUT": 0.03,
}  # fmt: skip
#: Japan's imports from non-China suppliers relative to its imports from China, same product.
SUPPLIER_SIZE: dict[str, float] = {
    "VNM": 0.05, "FRA": 0.10, "EST": 0.05, "MYS": 0.04, "USA": 0.10, "IND": 0.04,
}  # fmt: skip

CIF_FACTOR = 1.06
#: a product without the China-specific shocks (its common path is the plain trend)
PRODUCTS_COMPARISON_PATH = "281820"


def months() -> list[date]:
    """The months of the panel, first days, ``FIRST_MONTH`` .. ``LAST_MONTH``."""
    out = []
    y, m = FIRST_MONTH.year, FIRST_MONTH.month
    while (y, m) <= (LAST_MONTH.year, LAST_MONTH.month):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _path(values: dict[tuple[int, int], float]) -> FloatArray:
    """A monthly path: zero except the listed (year, month) entries."""
    ms = months()
    return np.array([values.get((d.year, d.month), 0.0) for d in ms], dtype=np.float64)


#: The restriction: Japan-specific log effect on shipments of the basket from China.
RESTRICTION: dict[tuple[int, int], float] = {
    (2010, 9): -0.25,
    (2010, 10): -0.75,
    (2010, 11): -1.00,
    (2010, 12): 0.45,  # rebound: shipments released late Nov leave China (Dec >6x Nov)
    (2025, 11): 0.20,  # front-loading after the 7 Nov 2025 remarks
    (2025, 12): 0.35,
    (2026, 1): -0.10,
    (2026, 2): -0.35,
    **{(2026, m): -0.55 for m in range(3, 9)},
}
#: Great East Japan Earthquake: log effect on every Japanese import (all products, all suppliers).
EARTHQUAKE: dict[tuple[int, int], float] = {(2011, 3): -0.20, (2011, 4): -0.30, (2011, 5): -0.15}
#: Price premium Japan pays for the basket from China during the restrictions (log unit value).
PREMIUM: dict[tuple[int, int], float] = {
    **{(2010, m): 0.15 for m in (9, 10, 11)},
    **{(2026, m): 0.20 for m in range(1, 9)},
}
#: China records less of its exports to Japan (goods held in bonded areas; log quantity).
RECORDING: dict[tuple[int, int], float] = {(2010, 10): -0.35, (2010, 11): -0.35}
#: Diversion: Japan's basket imports from non-China suppliers (log quantity).
DIVERSION: dict[tuple[int, int], float] = {
    **{(2010, m): 0.30 for m in (9, 10, 11)},
    **{(2026, m): 0.30 for m in range(1, 9)},
}


def true_effect_paths() -> dict[str, FloatArray]:
    """Japan-specific log effects per month, by reported series (what each design can identify).

    Keys: ``importer_quantity`` (Japan's reports of imports of the basket from China: restriction
    + earthquake), ``importer_unit_value`` (premium), ``exporter_quantity`` (China's reports of
    exports to Japan: restriction + earthquake + under-recording), ``exporter_unit_value``,
    ``comparison_quantity`` (non-restricted products from China: earthquake only),
    ``diversion_quantity`` (basket from non-China suppliers: diversion + earthquake),
    ``diversion_comparison_quantity`` (comparison products from non-China suppliers: earthquake),
    ``recording`` (China's under-recording of exports to Japan).
    Unit-value paths of the other series are zero; the log-value path of a series is its
    quantity path plus its unit-value path.
    """
    r, q = _path(RESTRICTION), _path(EARTHQUAKE)
    prem, rec, div = _path(PREMIUM), _path(RECORDING), _path(DIVERSION)
    return {
        "importer_quantity": r + q,
        "importer_unit_value": prem,
        "exporter_quantity": r + q + rec,
        "exporter_unit_value": prem,
        "comparison_quantity": q,
        "diversion_quantity": div + q,
        "diversion_comparison_quantity": q,
        "recording": rec,
    }


@dataclass(frozen=True)
class _Series:
    reporter: str
    partner: str
    flow: str  # "M" or "X"
    product: str


def _global_quantity_path(product: str) -> FloatArray:
    """Common log path of shipments of a product (trend + global shocks), every importer."""
    ms = months()
    t = np.arange(len(ms), dtype=np.float64)
    group = PRODUCTS[product][1]
    path = 0.002 * t  # slow growth
    if group == "comparison":
        return path
    shocks: dict[tuple[int, int], float] = {}
    for d in ms:
        y, m = d.year, d.month
        if (y, m) >= (2010, 7) and y <= 2010:
            shocks[(y, m)] = -0.45  # July 2010 quota cut, global
        elif y == 2011:
            shocks[(y, m)] = -0.55
        elif y == 2012:
            shocks[(y, m)] = -0.35
        elif y == 2013:
            shocks[(y, m)] = -0.15
    for m, v in ((4, -0.60), (5, -0.40), (6, -0.20)):
        shocks[(2025, m)] = shocks.get((2025, m), 0.0) + (v if product != "284610" else v / 3)
    shocks[(2025, 10)] = (
        shocks.get((2025, 10), 0.0) - 0.25
    )  # October 2025 controls (suspended 7 Nov)
    if product == "850511":
        path = path + 0.004 * t
    return path + _path(shocks)


def _price_path(product: str) -> FloatArray:
    """Log price path (USD/kg relative to the pre-2010 level): the 2010-11 spike, later decline."""
    if PRODUCTS[product][1] == "comparison":
        return np.zeros(len(months()))
    vals: dict[tuple[int, int], float] = {}
    for d in months():
        y, m = d.year, d.month
        k = (y - 2010) * 12 + m  # months since Dec 2009
        if 7 <= k <= 19:  # Jul 2010 .. Jul 2011: rise to the mid-2011 peak
            vals[(y, m)] = 2.0 * (k - 6) / 13
        elif 19 < k <= 43:  # decline to 2013
            vals[(y, m)] = 2.0 - 1.2 * (k - 19) / 24
        elif k > 43:
            vals[(y, m)] = 0.8 + 0.1 * ((y, m) >= (2025, 4))
    return _path(vals)


def _seasonality(rng: np.random.Generator) -> FloatArray:
    """Product seasonality by calendar month (Japan's fiscal-year-end in March, summer dip)."""
    base = np.array([0.0, -0.05, 0.12, 0.02, 0.0, 0.03, -0.02, -0.12, 0.02, 0.04, 0.0, 0.05])
    return base + rng.normal(0, 0.03, 12)


def _simulate(rng: np.random.Generator) -> list[dict[str, Any]]:
    """All reported flows, one dict per (reporter, partner, flow, product, month) that is not zero."""
    ms = months()
    n = len(ms)
    paths = true_effect_paths()
    moy = np.array([d.month - 1 for d in ms])
    years = np.array([d.year for d in ms])
    under = np.where((years >= 2006) & (years <= 2011), np.log(0.8), 0.0)
    out: list[dict[str, Any]] = []
    seas = {p: _seasonality(rng) for p in PRODUCTS}
    g = {p: _global_quantity_path(p) for p in PRODUCTS}
    price = {p: _price_path(p) for p in PRODUCTS}

    def ar1(sd: float, rho: float = 0.4) -> FloatArray:
        e = rng.normal(0.0, sd, n)
        x = np.empty(n)
        x[0] = e[0] / np.sqrt(1 - rho**2)
        for k in range(1, n):
            x[k] = rho * x[k - 1] + e[k]
        return x

    def emit(s: _Series, kg: FloatArray, usd_per_kg: FloatArray) -> None:
        for k in range(n):
            if kg[k] <= 0:
                continue
            out.append(
                {
                    "series": s,
                    "month": ms[k],
                    "kg": float(kg[k]),
                    "usd": float(kg[k] * usd_per_kg[k]),
                }
            )

    # China -> importer flows (both reports), and Japan <- non-China suppliers
    pairs: list[tuple[str, str]] = [(SOURCE, i) for i in IMPORTERS] + [
        (s, TREATED) for s in SUPPLIERS
    ]
    for exporter, importer in pairs:
        kappa = rng.normal(0.0, 0.1)  # importer-specific quality/price level
        for p in PRODUCTS:
            group = PRODUCTS[p][1]
            size: Any
            if exporter == SOURCE:
                size = 1.0 if importer == TREATED else RELATIVE_SIZE[importer]
            else:
                size = SUPPLIER_SIZE[exporter]
                if exporter in (
                    "VNM",
                    "MYS",
                ):  # Shin-Etsu Hai Phong, Lynas: supply grows after 2012
                    size = size * np.exp(np.clip((years - 2012) * 0.25, 0, 1.6))
            base_kg = JAPAN_BASE_T[p] * 1000.0 * size * np.exp(rng.normal(0, 0.15))
            eff = np.zeros(n)
            prem = np.zeros(n)
            rec = np.zeros(n)
            if importer == TREATED:
                eff = eff + paths["comparison_quantity"]  # the earthquake hits every import
                if group != "comparison":
                    if exporter == SOURCE:
                        eff = eff + _path(RESTRICTION)
                        prem = paths["importer_unit_value"]
                        rec = paths["recording"]
                    else:
                        eff = eff + _path(DIVERSION)
            # China's quota cut and controls cut China's supply only; other suppliers keep the trend
            path = g[p] if exporter == SOURCE else g[PRODUCTS_COMPARISON_PATH]
            log_mu = np.log(base_kg) + path + seas[p][moy] + eff
            # large flows aggregate many shipments: less noisy and less lumpy than small ones
            big = float(np.median(base_kg))
            shock = ar1(0.1 if big > 3e5 else 0.2)
            lumpy = np.where(rng.random(n) < (0.01 if big > 1e5 else 0.04), np.log(2.0), 0.0)
            kg = np.exp(log_mu + shock + lumpy)
            # zeros: small flows are sometimes absent (probability falls with the flow's size
            # without the Japan-specific effects, so that zeros do not depend on the treatment
            # and E[level] moves by exactly exp(effect): the PPML estimand stays known)
            kg0 = np.exp(log_mu - eff + shock + lumpy)
            p_zero = np.clip(0.35 - 0.06 * np.log10(np.maximum(kg0, 1.0)), 0.0, 0.35)
            p_zero = np.where(kg0 > 2e5, 0.0, p_zero)
            kg = np.where(rng.random(n) < p_zero, 0.0, kg)
            uv = PRODUCTS[p][2] * np.exp(price[p] + kappa + prem + rng.normal(0, 0.06, n))
            if exporter == SOURCE:
                m_noise = rng.normal(0, 0.08, n)
                x_noise = rng.normal(0, 0.08, n)
                kg_m = np.round(kg * np.exp(m_noise), 0)
                kg_x = np.round(kg * np.exp(x_noise + under + rec), 0)
                emit(_Series(importer, SOURCE, "M", p), kg_m, uv * CIF_FACTOR)
                if group != "comparison":  # China's export reports: the basket only
                    fob = uv * np.exp(rng.normal(0, 0.03, n))
                    emit(_Series(SOURCE, importer, "X", p), kg_x, fob)
            else:
                kg_m = np.round(kg * np.exp(rng.normal(0, 0.08, n)), 0)
                emit(_Series(importer, exporter, "M", p), kg_m, uv * CIF_FACTOR)
    return out


def _classification(year: int) -> str:
    """The HS revision a reporter used in that year (H2 2002, H3 2007, H4 2012, H5 2017, H6 2022)."""
    for start, code in ((2022, "H6"), (2017, "H5"), (2012, "H4"), (2007, "H3")):
        if year >= start:
            return code
    return "H2"


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """One Comtrade v1 record, 47 fields in the order of a real API response."""
    s: _Series = row["series"]
    d: date = row["month"]
    rep_code, rep_name = COUNTRIES[s.reporter]
    par_code, par_name = COUNTRIES[s.partner]
    kg = round(row["kg"], 3)
    usd = round(row["usd"], 2)
    is_import = s.flow == "M"
    return {
        "typeCode": "C",
        "freqCode": "M",
        "refPeriodId": d.year * 10000 + d.month * 100 + 1,
        "refYear": d.year,
        "refMonth": d.month,
        "period": f"{d.year}{d.month:02d}",
        "reporterCode": rep_code,
        "reporterISO": s.reporter,
        "reporterDesc": rep_name,
        "flowCode": s.flow,
        "flowDesc": "Import" if is_import else "Export",
        "partnerCode": par_code,
        "partnerISO": s.partner,
        "partnerDesc": par_name,
        "partner2Code": 0,
        "partner2ISO": "W00",
        "partner2Desc": "World",
        "classificationCode": _classification(d.year),
        "classificationSearchCode": "HS",
        "isOriginalClassification": True,
        "cmdCode": s.product,
        "cmdDesc": PRODUCTS[s.product][0],
        "aggrLevel": 6,
        "isLeaf": True,
        "customsCode": "C00",
        "customsDesc": "TOTAL CPC",
        "mosCode": "0",
        "motCode": 0,
        "motDesc": "TOTAL MOT",
        "qtyUnitCode": 8,
        "qtyUnitAbbr": "kg",
        "qty": kg,
        "isQtyEstimated": False,
        "altQtyUnitCode": 8,
        "altQtyUnitAbbr": "kg",
        "altQty": kg,
        "isAltQtyEstimated": False,
        "netWgt": kg,
        "isNetWgtEstimated": False,
        "grossWgt": None,
        "isGrossWgtEstimated": False,
        "cifvalue": usd if is_import else None,
        "fobvalue": None if is_import else usd,
        "primaryValue": usd,
        "legacyEstimationFlag": 0,
        "isReported": True,
        "isAggregate": False,
    }


def generate(seed: int = SEED) -> dict[str, list[dict[str, Any]]]:
    """Comtrade v1 records of the synthetic panel, by reporter ISO3 (sorted records).

    Parameters
    ----------
    seed : int
        Seed of :class:`numpy.random.Generator` (PCG64); the default is :data:`SEED`.

    Returns
    -------
    dict
        Reporter ISO3 -> list of Comtrade v1 record dicts, sorted by period, partner, flow, product.
    """
    rng = np.random.default_rng(seed)
    by_reporter: dict[str, list[dict[str, Any]]] = {}
    for row in _simulate(rng):
        rec = _record(row)
        by_reporter.setdefault(rec["reporterISO"], []).append(rec)
    for recs in by_reporter.values():
        recs.sort(key=lambda r: (r["period"], r["partnerISO"], r["flowCode"], r["cmdCode"]))
    return dict(sorted(by_reporter.items()))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _gzip_json(obj: Any) -> bytes:
    """JSON (compact, keys in the given order) gzip-compressed with mtime 0 and no file name."""
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def file_name(reporter: str) -> str:
    """``SYNTHETIC_comtrade_<reporter>_2005-2026.json.gz``."""
    return f"SYNTHETIC_comtrade_{reporter}_{YEARS}.json.gz"


def _counterfactual_levels() -> dict[str, list[float]]:
    """Japan's expected monthly value (USD) without the Japan-specific effects, per series.

    Used for the PPML estimand: with a multiplicative effect that varies over months, the PPML
    coefficient of one post dummy estimates ``log(sum_post mu0 exp(a) / sum_post mu0)`` minus the
    same over the pre months, ``mu0`` the counterfactual expected level.
    """
    ms = months()
    moy = np.array([d.month - 1 for d in ms])
    rng = np.random.default_rng(SEED)
    seas = {p: _seasonality(rng) for p in PRODUCTS}
    out: dict[str, list[float]] = {}
    for basket_name, prods in (
        ("core", [p for p in PRODUCTS if PRODUCTS[p][1] == "core"]),
        ("core+extended", BASKET),
    ):
        tot = np.zeros(len(ms))
        for p in prods:
            tot += (
                JAPAN_BASE_T[p]
                * 1000.0
                * PRODUCTS[p][2]
                * np.exp(_global_quantity_path(p) + seas[p][moy] + _price_path(p))
            )
        out[basket_name] = [float(v) for v in tot]
    return out


def true_effects_document() -> dict[str, Any]:
    """The content of ``SYNTHETIC_TRUE_EFFECTS.json`` (monthly paths and baseline estimands)."""
    ms = months()
    paths = true_effect_paths()
    return {
        "SYNTHETIC": True,
        "description": (
            "True Japan-specific effects put into the SYNTHETIC demonstration panel by "
            f"tradeimpact.demo (seed {SEED}), in log points per month and reported series. The true "
            "value of a DiD on log outcomes with one treated unit and unit and period fixed "
            "effects is mean(path over post months) - mean(path over pre months of its sample); "
            "tradeimpact.casestudy.true_effect computes it for every design, outcome and variant."
        ),
        "seed": SEED,
        "months": [d.strftime("%Y-%m") for d in ms],
        "paths": {k: [round(float(x), 6) for x in v] for k, v in paths.items()},
        "japan_counterfactual_value_usd": _counterfactual_levels(),
        "components": {
            "restriction": {f"{y}-{m:02d}": v for (y, m), v in sorted(RESTRICTION.items())},
            "earthquake": {f"{y}-{m:02d}": v for (y, m), v in sorted(EARTHQUAKE.items())},
            "price_premium": {f"{y}-{m:02d}": v for (y, m), v in sorted(PREMIUM.items())},
            "china_under_recording_japan": {
                f"{y}-{m:02d}": v for (y, m), v in sorted(RECORDING.items())
            },
            "diversion": {f"{y}-{m:02d}": v for (y, m), v in sorted(DIVERSION.items())},
        },
    }


_README = """# data_raw/

What `nox -s report` (`python -m tradeimpact.report.build --data data_raw --out reports`) reads.

## SYNTHETIC demonstration data (the default)

`comtrade/SYNTHETIC_comtrade_<ISO3>_2005-2026.json.gz` are **SYNTHETIC**: written by the seeded
generator `tradeimpact/demo.py` (`python -m tradeimpact.demo --out data_raw`, byte-identical on
every run), in the exact UN Comtrade v1 API JSON format (47 camelCase fields, monthly, gzip), so
they go through the same reader and store as real downloads. They are not data about the world:
the report built from them says SYNTHETIC on every page and figure. China's exports of the
rare-earth basket (HS 280530, 284610, 284690), permanent magnets (850511) and two comparison
products (281820, 282300) to Japan and 20 other importers, each importer's own import reports
from China, and Japan's imports from six non-China suppliers, Jan 2005 - Aug 2026. The
Japan-specific effects put in (Sep-Nov 2010; from Jan 2026 with front-loading in Nov-Dec 2025;
the Mar-May 2011 earthquake; a price premium; China's under-recording of exports to Japan in
Oct-Nov 2010; diversion to other suppliers) are in `SYNTHETIC_TRUE_EFFECTS.json`; the report
puts them beside the estimates (a recovery check on every build).

## REAL data: `real/`

`real/BACI_magnets_850511_CHN_exports_2002-2024.csv` is REAL: China's annual exports of HS 850511
(permanent magnets) by importer, 2002-2024, values from CEPII BACI HS02/HS17 V202601 (Etalab Open
Licence 2.0), extracted by `analysis/make_real_extract.py` from
`../shared/data/real/critmat-atlas-comtrade-baci/magnets_850511_flows_2002_2026.csv` (source,
licence, the intermediate repository and commit, and the caveats in `real/SOURCES.md`: each year
keeps only each importer's top-6 suppliers and each exporter's top-6 customers; 2025, provisional,
and 2026, a modelled nowcast, are left out). The mapping file beside it gives the GenericReader
arguments. The report's first part estimates the 2010 episode on it
(`analysis/events/magnets_2010_real.toml`); nothing made from it is labelled synthetic.

## Published figures (real)

`published/*.csv`: monthly figures quoted in the press, typed by hand from
`research/events.md` section 4 with the URL of each row (`tradeimpact.casestudy.published_series()`).
They are shown beside the designs' data as real series.

## Using real data instead

Remove (or move away) the `SYNTHETIC_*` files and put real files here: Comtrade v1 JSON/CSV
downloads under `comtrade/` (monthly, China's exports and each importer's imports of the HS codes
in `analysis/events/*.toml`; `nox -s fetch` downloads them with an API key), or any format
`tradeimpact sources` lists. The same command then builds the real report, no code changes; the
report is labelled SYNTHETIC only when an input file name says so.
"""


def write_demo(out: str | Path, seed: int = SEED) -> list[Path]:
    """Write the SYNTHETIC Comtrade files, the true effects and the README under ``out``.

    Parameters
    ----------
    out : path
        The data directory (``data_raw``).
    seed : int
        Generator seed.

    Returns
    -------
    list of Path
        The files written (atomically: temp file + rename).
    """
    root = Path(out)
    written: list[Path] = []
    for reporter, recs in generate(seed).items():
        doc = {"elapsedTime": "0.00 secs", "count": len(recs), "data": recs, "error": ""}
        path = root / "comtrade" / file_name(reporter)
        _atomic_write(path, _gzip_json(doc))
        written.append(path)
    truth = json.dumps(true_effects_document(), indent=1, sort_keys=True).encode() + b"\n"
    path = root / "SYNTHETIC_TRUE_EFFECTS.json"
    _atomic_write(path, truth)
    written.append(path)
    path = root / "README.md"
    _atomic_write(path, _README.encode())
    written.append(path)
    return written


def demo_files(data_dir: str | Path) -> list[Path]:
    """The SYNTHETIC Comtrade files present under ``data_dir/comtrade`` (sorted)."""
    return sorted((Path(data_dir) / "comtrade").glob("SYNTHETIC_comtrade_*.json.gz"))


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m tradeimpact.demo --out data_raw [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tradeimpact.demo",
        description="Write the SYNTHETIC demonstration panel (Comtrade v1 JSON, gzip) and its true effects.",
    )
    parser.add_argument("--out", default="data_raw", help="data directory (default data_raw)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed (default {SEED})")
    args = parser.parse_args(list(argv) if argv is not None else None)
    files = write_demo(args.out, args.seed)
    n = 0
    for f in files:
        if f.suffix == ".gz":
            with gzip.open(f) as fh:
                n += json.load(fh)["count"]
    print(f"wrote {len(files)} files under {args.out} ({n} SYNTHETIC Comtrade records)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
