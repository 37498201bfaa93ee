"""Events as data, and the analysis panels of each design (DESIGN.md, "Designs for one treated country").

An :class:`Event` is read from a TOML file (``analysis/events/*.toml``); :func:`build_panel` turns
canonical flows (:data:`tradeimpact.schema.FLOW_SCHEMA`, e.g. ``FlowStore(root).scan()``) and an
event into the tidy unit x period panel of one design. No estimation happens here.

Event file schema (TOML; plain keys, also read by :mod:`tradeimpact.fetch`)
--------------------------------------------------------------------------
``[event]``
    ``name`` (id), ``title``, ``announcement``, ``effective``, ``end`` (dates; ``end`` optional:
    the last day of the restriction where known), ``treated`` (ISO3 of the treated importer),
    ``source_country`` (ISO3 of the restricting exporter), ``freq`` (``"M"`` monthly, the default,
    or ``"A"`` annual: periods are years, event time counts years), ``sources`` (URLs),
    optional ``anticipation_start``, optional ``data_source`` (the store's ``source`` the event
    reads, e.g. ``"cepii_baci_v202601"``: flows of other sources are left out, never summed in).
``[products]``
    ``core``, ``extended``, ``comparison``: lists of HS6 codes (the restricted basket, its extension,
    non-restricted comparison products of the triple difference); ``*_notes``: the national codes
    under them and other remarks, as text.
``[controls]``
    ``importers`` (ISO3 list), ``[controls.reasons]`` (ISO3 -> why it is a control),
    ``[controls.sets]`` (name -> ISO3 list: alternative control sets).
``[diversion]``
    ``suppliers``: the treated importer's non-source suppliers.
``[window]``
    ``start``, ``end`` (dates of the sample), ``event_time = [lo, hi]`` (event-study window in
    months relative to the event month), ``event_month`` (first day of the first treated month),
    optional ``alt_event_month``, ``reference_period`` (default -1), ``anticipation_months``.
``[[confounders]]``
    ``date``, optional ``end``, ``name``, ``description``, ``scope`` (``global``, ``treated`` or
    ``controls``), ``source`` (URL).

Designs and their panels
------------------------
``importer``   each importer's own reports of imports from the source country (``flow`` M).
``exporter``   the source country's reports of exports to each importer (``flow`` X).
``triple``     importer-side flows of the restricted basket *and* the comparison products;
               ``restricted`` marks the basket; the treatment is treated x restricted x post.
``diversion``  the treated importer's reports of imports from its non-source suppliers, basket and
               comparison products; ``unit`` is the supplier, the treatment restricted x post.
``synth``      one series per importer (importer-side, basket summed): ``unit x period``, wide
               with :meth:`Panel.wide`.
``synth_exporter``  the same from the source country's reports of its exports to each importer
               (for exporter-side data such as an annual BACI extract).
``mirror``     the gap ``log(importer-reported) - log(exporter-reported)`` of each importer's flow
               from the source (via :func:`tradeimpact.store.mirror`).

Columns of every panel: ``unit`` (the level of assignment: importer, or supplier for diversion),
``product`` (HS6, ``"basket"`` when summed), ``cell`` (``unit|product``), ``period`` (Date, first
day of the month or of the 3-month bin), ``rel_time`` (months, or bins, since the event month),
``post`` (0/1), ``treated`` (0/1), ``restricted`` (0/1), ``treat`` (the design's treatment
indicator, 0/1), ``month_of_year``, ``product_period``, ``unit_period``, ``month_of_year_fe``
(product x calendar month), ``quantity_kg``, ``value_usd`` (levels, zeros kept: the PPML
outcome), ``unit_value`` (USD/kg, null when the quantity is zero), ``log_quantity``,
``log_value``, ``log_unit_value`` and ``y`` (the requested outcome). A flow absent from the
source in a month where its cell reports in other months is a zero (Comtrade omits zero flows):
it is kept in levels and, for log outcomes, dropped and counted in :attr:`Panel.dropped`.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import polars as pl

from tradeimpact.errors import ModelSpecError, TradeImpactError

Design = Literal["importer", "exporter", "triple", "diversion", "synth", "synth_exporter", "mirror"]
DESIGNS: tuple[str, ...] = (
    "importer",
    "exporter",
    "triple",
    "diversion",
    "synth",
    "synth_exporter",
    "mirror",
)
OUTCOMES: tuple[str, ...] = (
    "log_quantity",
    "log_value",
    "log_unit_value",
    "ppml_value",
    "ppml_quantity",
)
#: outcome -> the panel column it is read from
OUTCOME_COLUMN: dict[str, str] = {
    "log_quantity": "log_quantity",
    "log_value": "log_value",
    "log_unit_value": "log_unit_value",
    "ppml_value": "value_usd",
    "ppml_quantity": "quantity_kg",
}


class EventFileError(TradeImpactError):
    """An event file is missing a key or has a value of the wrong type (names file and key)."""

    def __init__(self, path: str | Path, key: str, message: str) -> None:
        super().__init__(f"{path}: key '{key}': {message}")


@dataclass(frozen=True)
class Confounder:
    """A dated shock that is not the treatment (``scope``: global, treated or controls)."""

    name: str
    date: _dt.date
    end: _dt.date | None
    description: str
    scope: str
    source: str


def month_start(d: date) -> date:
    """First day of the month of ``d``."""
    return date(d.year, d.month, 1)


def period_start(d: date, freq: str = "M") -> date:
    """First day of the period of ``d``: its month (``freq="M"``) or its year (``"A"``)."""
    if freq == "A":
        return date(d.year, 1, 1)
    if freq == "M":
        return month_start(d)
    raise ModelSpecError(f"unknown frequency '{freq}' (M or A)")


def add_periods(d: date, k: int, freq: str = "M") -> date:
    """The period ``k`` months (``freq="M"``) or ``k`` years (``"A"``) after ``d``'s period."""
    if freq == "A":
        return date(d.year + k, 1, 1)
    m = d.year * 12 + (d.month - 1) + k
    return date(m // 12, m % 12 + 1, 1)


def period_grid(start: date, end: date, freq: str = "M") -> list[date]:
    """Every period (first days) from ``start``'s period to ``end``'s, inclusive."""
    out = []
    d = period_start(start, freq)
    while d <= end:
        out.append(d)
        d = add_periods(d, 1, freq)
    return out


#: Words in a flow's ``flags`` that mark it as not observed data: a provisional figure or a
#: modelled one (a nowcast, a projection). :func:`build_panel` leaves such rows out unless asked.
NOT_DATA_FLAGS: tuple[str, ...] = ("provisional", "modelled", "modeled", "nowcast")
_NOT_DATA_RE = r"(?i)\b(" + "|".join(NOT_DATA_FLAGS) + r")\b"


def not_data() -> pl.Expr:
    """The rule of :func:`build_panel`: True where ``flags`` holds one of :data:`NOT_DATA_FLAGS`.

    A word match, case-insensitive (``"status=provisional"``, ``"DIRECTIONAL 2026 NOWCAST"``); a
    null ``flags`` is observed data. Use as ``flows.filter(~not_data())``.
    """
    return pl.col("flags").fill_null("").str.contains(_NOT_DATA_RE)


@dataclass(frozen=True)
class Event:
    """An export restriction as data (one ``analysis/events/*.toml`` file; schema in the module doc)."""

    name: str
    title: str
    announcement: date
    effective: date
    end: date | None
    treated: str
    source_country: str
    freq: str
    core: tuple[str, ...]
    extended: tuple[str, ...]
    comparison: tuple[str, ...]
    controls: tuple[str, ...]
    control_reasons: dict[str, str]
    control_sets: dict[str, tuple[str, ...]]
    suppliers: tuple[str, ...]
    window_start: date
    window_end: date
    event_time: tuple[int, int]
    event_month: date
    alt_event_month: date | None
    reference_period: int
    anticipation_months: tuple[date, ...]
    confounders: tuple[Confounder, ...]
    sources: tuple[str, ...] = ()
    data_source: str | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)
    path: str = ""

    @classmethod
    def from_toml(cls, path: str | Path) -> Event:
        """Read an event file; a missing key or a wrong type raises :class:`EventFileError`."""
        path = Path(path)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise EventFileError(path, "<file>", str(exc)) from exc

        def get(section: str, key: str, typ: type | tuple[type, ...], default: Any = ...) -> Any:
            sec = doc.get(section, {})
            if key not in sec:
                if default is ...:
                    raise EventFileError(path, f"{section}.{key}", "missing")
                return default
            val = sec[key]
            if not isinstance(val, typ):
                raise EventFileError(
                    path, f"{section}.{key}", f"expected {typ}, got {type(val).__name__} {val!r}"
                )
            return val

        def codes(section: str, key: str, default: Any = ...) -> tuple[str, ...]:
            vals = get(section, key, list, default)
            for v in vals:
                if not isinstance(v, str):
                    raise EventFileError(
                        path, f"{section}.{key}", f"codes must be quoted strings, got {v!r}"
                    )
            return tuple(vals)

        confs = []
        for i, c in enumerate(doc.get("confounders", [])):
            for k in ("date", "name", "description"):
                if k not in c:
                    raise EventFileError(path, f"confounders[{i}].{k}", "missing")
            confs.append(
                Confounder(
                    name=str(c["name"]),
                    date=c["date"],
                    end=c.get("end"),
                    description=str(c["description"]),
                    scope=str(c.get("scope", "global")),
                    source=str(c.get("source", "")),
                )
            )
        effective = get("event", "effective", date)
        freq = get("event", "freq", str, "M")
        if freq not in ("M", "A"):
            raise EventFileError(path, "event.freq", f"'M' (monthly) or 'A' (annual), got {freq!r}")
        sets = {k: tuple(v) for k, v in doc.get("controls", {}).get("sets", {}).items()}
        et = get("window", "event_time", list, [-24, 6])
        notes = {k: list(v) for k, v in doc.get("products", {}).items() if k.endswith("_notes")}
        return cls(
            name=get("event", "name", str),
            title=get("event", "title", str, get("event", "name", str)),
            announcement=get("event", "announcement", date),
            effective=effective,
            end=get("event", "end", date, None),
            treated=get("event", "treated", str),
            source_country=get("event", "source_country", str),
            freq=freq,
            core=codes("products", "core"),
            extended=codes("products", "extended", []),
            comparison=codes("products", "comparison", []),
            controls=codes("controls", "importers"),
            control_reasons=dict(doc.get("controls", {}).get("reasons", {})),
            control_sets=sets,
            suppliers=codes("diversion", "suppliers", []),
            window_start=get("window", "start", date),
            window_end=get("window", "end", date),
            event_time=(int(et[0]), int(et[1])),
            event_month=month_start(get("window", "event_month", date, effective)),
            alt_event_month=get("window", "alt_event_month", date, None),
            reference_period=int(get("window", "reference_period", int, -1)),
            anticipation_months=tuple(
                month_start(d) for d in get("window", "anticipation_months", list, [])
            ),
            confounders=tuple(confs),
            sources=tuple(get("event", "sources", list, [])),
            data_source=get("event", "data_source", str, None),
            notes=notes,
            path=str(path),
        )

    def basket(self, name: str = "core") -> tuple[str, ...]:
        """HS6 codes of ``"core"``, ``"extended"``, ``"core+extended"`` or ``"comparison"``."""
        parts = {"core": self.core, "extended": self.extended, "comparison": self.comparison}
        out: list[str] = []
        for part in name.split("+"):
            if part not in parts:
                raise ModelSpecError(f"unknown basket '{name}' (core, extended, comparison)")
            out.extend(parts[part])
        return tuple(out)

    def control_set(self, name: str | None) -> tuple[str, ...]:
        """The named alternative control set (``None`` or ``"all"``: :attr:`controls`)."""
        if name is None or name == "all":
            return self.controls
        if name not in self.control_sets:
            raise ModelSpecError(
                f"event {self.name}: no control set '{name}' (have {sorted(self.control_sets)})"
            )
        return self.control_sets[name]

    def confounder(self, name: str) -> Confounder:
        """The confounder called ``name``."""
        for c in self.confounders:
            if c.name == name:
                return c
        raise ModelSpecError(f"event {self.name}: no confounder '{name}'")

    def confounder_months(self, name: str) -> tuple[date, ...]:
        """The months a confounder covers (``date`` .. ``end``, or its month alone)."""
        c = self.confounder(name)
        first, last = month_start(c.date), month_start(c.end or c.date)
        out = []
        d = first
        while d <= last:
            out.append(d)
            d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        return tuple(out)

    @property
    def end_month(self) -> date | None:
        """First day of the restriction's last month (None when no end is known)."""
        return None if self.end is None else month_start(self.end)


@dataclass
class Panel:
    """The analysis panel of one design: ``data`` (tidy, one row per unit x product x period).

    Attributes
    ----------
    data : polars.DataFrame
        The panel (columns in the module docstring), sorted by ``unit, product, period``.
    design, outcome : str
        What it is built for; ``y`` holds the outcome column.
    treated : str
        The treated unit (importer ISO3; for ``diversion`` the treatment is by product).
    dropped : dict
        Rows left out of ``data``, by reason: ``zeros_in_log`` (a zero flow has no log),
        ``excluded_periods`` (months removed by the specification), ``no_partner_report`` (mirror
        rows with one side missing).
    zero_filled : int
        Cell-months absent from the source, kept as zero flows (Comtrade omits zeros).
    notes : list of str
        How the panel was built, for the report.
    """

    data: pl.DataFrame
    design: str
    outcome: str
    treated: str
    event_month: date
    dropped: dict[str, int] = field(default_factory=dict)
    zero_filled: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def units(self) -> list[str]:
        """The units of the panel, sorted."""
        return sorted(self.data["unit"].unique().to_list())

    def wide(self, column: str = "y") -> pl.DataFrame:
        """``period`` x ``unit`` table of ``column`` (for synthetic control), sorted by period."""
        return (
            self.data.pivot(on="unit", index="period", values=column, aggregate_function=None)
            .sort("period")
            .select(["period", *self.units])
        )


def _flows_frame(flows: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    lf = flows.lazy() if isinstance(flows, pl.DataFrame) else flows
    need = {"reporter_iso3", "partner_iso3", "flow", "hs6", "period", "value_usd", "net_weight_kg"}
    have = set(lf.collect_schema().names())
    missing = need - have
    if missing:
        raise ModelSpecError(f"flows lack the canonical column(s) {sorted(missing)}")
    return lf


def _select_flows(
    lf: pl.LazyFrame,
    *,
    reporters: Sequence[str],
    partners: Sequence[str],
    flow: str,
    products: Sequence[str],
    unit_from: str,
    start: date,
    end: date,
    freq: str,
    include_provisional: bool = False,
    counts: dict[str, int] | None = None,
) -> pl.LazyFrame:
    """Filter to the design's flows and sum them over ``hs_code`` within an HS6.

    Rows are summed over ``hs_code`` within an HS6 (national codes under one HS6), never across
    reporters, partners or sources. Rows flagged provisional or modelled (:func:`not_data`) are
    left out unless ``include_provisional``; their number goes to ``counts["not_data"]``.
    """
    c = pl.col
    q = lf.filter(
        c("reporter_iso3").is_in(list(reporters))
        & c("partner_iso3").is_in(list(partners))
        & (c("flow") == flow)
        & c("hs6").is_in(list(products))
        & c("period").is_between(pl.lit(start), pl.lit(end))
    )
    names = lf.collect_schema().names()
    if "freq" in names:
        q = q.filter(c("freq") == freq)
    if "flags" in names and not include_provisional:
        n = int(q.filter(not_data()).select(pl.len()).collect().item())
        if counts is not None and n:
            counts["not_data"] = counts.get("not_data", 0) + n
        q = q.filter(~not_data())
    return q.group_by([unit_from, "hs6", "period"]).agg(
        c("net_weight_kg").sum().alias("quantity_kg"),
        c("value_usd").sum().alias("value_usd"),
        c("net_weight_kg").is_null().any().alias("_missing_weight"),
    )


def build_panel(
    flows: pl.LazyFrame | pl.DataFrame,
    event: Event,
    design: str,
    outcome: str = "log_quantity",
    *,
    products: Sequence[str] | str | None = None,
    controls: Sequence[str] | None = None,
    freq: str | None = None,
    event_month: date | None = None,
    window: tuple[date, date] | None = None,
    exclude_periods: Sequence[date] = (),
    sum3: bool = False,
    include_provisional: bool = False,
    seasonal_adjust: bool = False,
) -> Panel:
    """The tidy analysis panel of one design for one event.

    Parameters
    ----------
    flows : polars.LazyFrame or DataFrame
        Canonical flow records (``FlowStore(root).scan()``).
    event : Event
        The event (treated importer, source country, products, controls, window).
    design : {"importer", "exporter", "triple", "diversion", "synth", "mirror"}
        See the module docstring.
    outcome : {"log_quantity", "log_value", "log_unit_value", "ppml_value", "ppml_quantity"}
        Copied into column ``y``. Log outcomes drop (and count) zero flows; PPML outcomes keep them.
    products : sequence of HS6 or basket name, optional
        The restricted products (default ``event.core``); a basket name (``"core+extended"``)
        is resolved by :meth:`Event.basket`. ``triple`` and ``diversion`` add the event's
        comparison products.
    controls : sequence of ISO3, optional
        Control importers (default ``event.controls``).
    freq : {"M", "A"}, optional
        Frequency of the flows used (default the event's ``freq``). With ``"A"`` the periods are
        years (1 January), ``rel_time`` counts years since the event month's year and the window,
        event month and excluded periods are read as the years they fall in.
    event_month : date, optional
        First treated month (default ``event.event_month``); with ``freq="A"`` its year.
    window : (date, date), optional
        Sample months (default the event's window).
    exclude_periods : sequence of date
        Months removed from the panel (counted in ``dropped["excluded_periods"]``).
    sum3 : bool
        Sum flows over 3-month bins aligned on the event month (bin 0 = the event month and the
        two after it); ``period`` is the bin's first month and ``rel_time`` counts bins. Monthly
        data only.
    include_provisional : bool, default False
        Keep rows whose ``flags`` mark them provisional or modelled (a nowcast): the rule is
        :func:`not_data` (a word of :data:`NOT_DATA_FLAGS` in ``flags``). By default they are
        left out, and counted in ``dropped["not_data"]`` and the notes.
    seasonal_adjust : bool, default False
        Opt-in: replace the log outcome ``y`` of each cell (unit x product) by its seasonally
        adjusted value (:func:`seasonally_adjust`: STL, period 12), the unadjusted one kept in
        ``y_unadjusted``. Monthly log outcomes only, not with ``sum3``. Off by default: no
        reported number uses it.

    Returns
    -------
    Panel
    """
    if seasonal_adjust and (freq or event.freq) != "M":
        raise ModelSpecError("seasonal_adjust=True needs monthly data (freq='M')")
    if seasonal_adjust and sum3:
        raise ModelSpecError("seasonal_adjust=True with sum3=True: adjust monthly data only")
    if seasonal_adjust and not outcome.startswith("log_"):
        raise ModelSpecError(
            f"seasonal_adjust=True needs a log outcome (log_quantity, log_value, "
            f"log_unit_value), not outcome={outcome!r}: the adjustment is additive in logs"
        )
    if design not in DESIGNS:
        raise ModelSpecError(f"unknown design '{design}' (one of {', '.join(DESIGNS)})")
    if outcome not in OUTCOMES:
        raise ModelSpecError(f"unknown outcome '{outcome}' (one of {', '.join(OUTCOMES)})")
    lf = _flows_frame(flows)
    if event.data_source is not None and "source" in lf.collect_schema().names():
        # one data set only: rows of another source for the same flow would be added to it
        lf = lf.filter(pl.col("source") == event.data_source)
    basket = (
        event.basket(products)
        if isinstance(products, str)
        else tuple(products)
        if products is not None
        else event.core
    )
    ctrl = tuple(controls) if controls is not None else event.controls
    freq = freq or event.freq
    if freq not in ("M", "A"):
        raise ModelSpecError(f"unknown frequency '{freq}' (M or A)")
    if sum3 and freq != "M":
        raise ModelSpecError("sum3 (3-month bins) needs monthly data (freq 'M')")
    ev_month = period_start(event_month or event.event_month, freq)
    start, end = window or (event.window_start, event.window_end)
    start = period_start(start, freq)
    counts: dict[str, int] = {}
    sel: dict[str, Any] = {"freq": freq, "include_provisional": include_provisional,
                           "counts": counts}  # fmt: skip
    importers = (event.treated, *ctrl)
    src = event.source_country
    notes: list[str] = []
    c = pl.col

    if design == "mirror":
        return _mirror_panel(lf, event, basket, importers, ev_month, start, end, exclude_periods,
                             freq, sum3, include_provisional)  # fmt: skip

    if design in ("importer", "triple", "synth"):
        prods = basket + (event.comparison if design == "triple" else ())
        agg = _select_flows(lf, reporters=importers, partners=[src], flow="M", products=prods,
                            unit_from="reporter_iso3", start=start, end=end, **sel)  # fmt: skip
        agg = agg.rename({"reporter_iso3": "unit"})
        notes.append(f"each importer's own reports of imports from {src} (flow M, CIF)")
    elif design in ("exporter", "synth_exporter"):
        agg = _select_flows(lf, reporters=[src], partners=importers, flow="X", products=basket,
                            unit_from="partner_iso3", start=start, end=end, **sel)  # fmt: skip
        agg = agg.rename({"partner_iso3": "unit"})
        notes.append(f"{src}'s reports of exports to each importer (flow X, FOB)")
    else:  # diversion
        if not event.suppliers:
            raise ModelSpecError(f"event {event.name} lists no [diversion] suppliers")
        prods = basket + event.comparison
        agg = _select_flows(lf, reporters=[event.treated], partners=event.suppliers, flow="M",
                            products=prods, unit_from="partner_iso3", start=start, end=end,
                            **sel)  # fmt: skip
        agg = agg.rename({"partner_iso3": "unit"})
        notes.append(
            f"{event.treated}'s reports of imports from {', '.join(event.suppliers)} "
            "(basket vs comparison products)"
        )
    agg_df = agg.rename({"hs6": "product"}).collect()
    if agg_df.height == 0:
        left_out = (
            f"; {counts['not_data']} provisional or modelled rows left out "
            "(include_provisional=True keeps them)"
            if counts.get("not_data")
            else ""
        )
        raise ModelSpecError(
            f"no flows for design '{design}' of event {event.name} between {start} and {end} "
            f"{f'from source {event.data_source!r} ' if event.data_source else ''}"
            f"(freq {freq}, products {', '.join(basket)}){left_out}: is the data loaded?"
        )
    if counts.get("not_data"):
        notes.append(
            f"{counts['not_data']} provisional or modelled rows (flags) left out of the panel"
        )
    if design in ("synth", "synth_exporter"):
        agg_df = agg_df.group_by(["unit", "period"]).agg(
            c("quantity_kg").sum(), c("value_usd").sum(), c("_missing_weight").any()
        )
        agg_df = agg_df.with_columns(pl.lit("basket").alias("product"))
        per = "year" if freq == "A" else "month"
        notes.append(f"basket {', '.join(basket)} summed per importer and {per}")

    # balanced grid: every cell seen in the window, every month (year); absent = zero flow
    grid_months = period_grid(start, end, freq)
    cells = agg_df.select("unit", "product").unique()
    grid = cells.join(pl.DataFrame({"period": grid_months}), how="cross")
    data = grid.join(agg_df, on=["unit", "product", "period"], how="left")
    zero_filled = int(data["quantity_kg"].is_null().sum())
    data = data.with_columns(
        c("quantity_kg").fill_null(0.0),
        c("value_usd").fill_null(0.0),
        c("_missing_weight").fill_null(False),
    )
    if zero_filled:
        cells_word = "cell-years" if freq == "A" else "cell-months"
        notes.append(f"{zero_filled} {cells_word} absent from the source kept as zero flows")
    missing_w = int(data["_missing_weight"].sum())
    if missing_w:
        cells_word = "cell-years" if freq == "A" else "cell-months"
        notes.append(f"{missing_w} {cells_word} with a value but no net weight (quantity null)")
        data = data.with_columns(
            pl.when(c("_missing_weight"))
            .then(None)
            .otherwise(c("quantity_kg"))
            .alias("quantity_kg")
        )
    data = data.drop("_missing_weight")
    restricted = list(basket) + (["basket"] if design in ("synth", "synth_exporter") else [])
    panel = _finish(data, event, design, outcome, ev_month, restricted, exclude_periods, sum3,
                    zero_filled, notes, freq)  # fmt: skip
    if counts.get("not_data"):
        panel.dropped["not_data"] = counts["not_data"]
    if seasonal_adjust:
        panel.data = seasonally_adjust(panel.data)
        panel.notes.append(
            "outcome y seasonally adjusted per cell (STL, period 12, stable seasonal, robust); "
            "unadjusted in y_unadjusted"
        )
    return panel


def seasonally_adjust(
    data: pl.DataFrame,
    column: str = "y",
    *,
    by: str = "cell",
    period: int = 12,
    robust: bool = True,
) -> pl.DataFrame:
    """``column`` minus its STL seasonal component, per group ``by`` (monthly ``period`` column).

    :class:`statsmodels.tsa.seasonal.STL` (Cleveland et al. 1990) on each group's series,
    ``period=12``, with a stable seasonal pattern (``seasonal_deg=0`` and a seasonal window
    longer than the series: one factor per calendar month, a robust mean over the years; STL's
    default window would follow the three points per calendar month of a three-year panel and
    read a ban's drop as seasonality) and ``robust=True``. Additive in ``column`` (a log
    outcome: multiplicative in levels). Months missing inside a group's range (zeros dropped
    from a log outcome) are linearly interpolated for the fit only; the adjusted value exists
    at the observed months.

    Parameters
    ----------
    data : polars.DataFrame
        With ``period`` (first day of the month), ``by`` and ``column``.
    column : str
        The series to adjust (the panel's ``y``).
    by : str
        The grouping (the panel's ``cell``: unit x product).
    period, robust
        Passed to STL.

    Returns
    -------
    polars.DataFrame
        ``data`` with ``column`` adjusted, ``<column>_unadjusted`` and ``seasonal``.

    Raises
    ------
    ModelSpecError
        A missing column; a group with fewer than ``2 * period`` observed months (named);
        a missing value of ``column``.

    References
    ----------
    Cleveland, R. B., Cleveland, W. S., McRae, J. E. and Terpenning, I. (1990), "STL: A
    seasonal-trend decomposition procedure based on loess", *Journal of Official Statistics*
    6(1), 3-73.
    """
    import numpy as np
    from statsmodels.tsa.seasonal import STL

    missing = [c for c in ("period", by, column) if c not in data.columns]
    if missing:
        raise ModelSpecError(f"seasonally_adjust: no column(s) {missing} in the panel")
    if data[column].null_count() or data[column].is_nan().any():
        raise ModelSpecError(f"seasonally_adjust: column {column!r} has missing values")
    months = (pl.col("period").dt.year().cast(pl.Int64) * 12
              + pl.col("period").dt.month().cast(pl.Int64))  # fmt: skip
    work = data.with_row_index("_row").with_columns(months.alias("_m"))
    seasonal = np.empty(work.height)
    for key, part in (
        work.sort(by, "_m").partition_by(by, as_dict=True, maintain_order=True).items()
    ):
        m = part["_m"].to_numpy()
        if np.unique(m).size != m.size:
            raise ModelSpecError(f"seasonally_adjust: {by} {key[0]!r} has two rows in one month")
        if m.size < 2 * period:
            raise ModelSpecError(
                f"seasonally_adjust: {by} {key[0]!r} has {m.size} observed months; STL needs at "
                f"least {2 * period}"
            )
        grid = np.arange(m[0], m[-1] + 1)
        y = np.interp(grid, m, part[column].to_numpy().astype(np.float64))
        stable = 2 * (grid.size // 2) + 1 + 2 * period  # odd, longer than the series
        fit = STL(y, period=period, seasonal=stable, seasonal_deg=0, robust=robust).fit()
        seasonal[part["_row"].to_numpy()] = np.asarray(fit.seasonal)[m - m[0]]
    return (
        work.with_columns(pl.Series("seasonal", seasonal))
        .with_columns(
            pl.col(column).alias(f"{column}_unadjusted"),
            (pl.col(column) - pl.col("seasonal")).alias(column),
        )
        .drop("_row", "_m")
    )


def _finish(
    data: pl.DataFrame,
    event: Event,
    design: str,
    outcome: str,
    ev_month: date,
    restricted: Sequence[str],
    exclude_periods: Sequence[date],
    sum3: bool,
    zero_filled: int,
    notes: list[str],
    freq: str = "M",
) -> Panel:
    c = pl.col
    dropped: dict[str, int] = {}
    excl = sorted({period_start(d, freq) for d in exclude_periods})
    if excl:
        before = data.height
        data = data.filter(~c("period").is_in(excl))
        dropped["excluded_periods"] = before - data.height
    if freq == "A":  # event time in years
        rel = c("period").dt.year().cast(pl.Int32) - ev_month.year
    else:
        rel = (
            (c("period").dt.year().cast(pl.Int32) - ev_month.year) * 12
            + c("period").dt.month().cast(pl.Int32)
            - ev_month.month
        )
    data = data.with_columns(rel.alias("rel_time"))
    if sum3:
        data = (
            data.with_columns((c("rel_time") // 3).alias("rel_time"))
            .group_by(["unit", "product", "rel_time"])
            .agg(
                c("period").min(),
                c("quantity_kg").sum(),
                c("value_usd").sum(),
                pl.len().alias("_months"),
            )
        )
        # incomplete bins at the window's edges would mix 1-2 months with 3-month sums
        full = data.group_by("rel_time").agg(c("_months").max().alias("_m"))
        data = data.join(full, on="rel_time").filter(c("_months") == c("_m")).filter(c("_m") == 3)
        data = data.drop("_months", "_m")
        notes.append("flows summed over 3-month bins aligned on the event month")
    data = data.with_columns(
        (c("rel_time") >= 0).cast(pl.Int8).alias("post"),
        (c("unit") == event.treated).cast(pl.Int8).alias("treated"),
        c("product").is_in(list(restricted)).cast(pl.Int8).alias("restricted"),
        c("period").dt.month().cast(pl.Int8).alias("month_of_year"),
    )
    if design == "triple":
        treat = c("treated") * c("restricted") * c("post")
    elif design == "diversion":
        treat = c("restricted") * c("post")
    else:
        treat = c("treated") * c("post")
    data = data.with_columns(
        treat.cast(pl.Int8).alias("treat"),
        pl.concat_str([c("unit"), c("product")], separator="|").alias("cell"),
        pl.concat_str([c("product"), c("period").cast(pl.String)], separator="|").alias(
            "product_period"
        ),
        pl.concat_str([c("unit"), c("period").cast(pl.String)], separator="|").alias("unit_period"),
        pl.concat_str([c("product"), c("month_of_year").cast(pl.String)], separator="|").alias(
            "month_of_year_fe"
        ),
        pl.when(c("quantity_kg") > 0)
        .then(c("value_usd") / c("quantity_kg"))
        .otherwise(None)
        .alias("unit_value"),
    )
    data = data.with_columns(
        pl.when(c("quantity_kg") > 0).then(c("quantity_kg").log()).alias("log_quantity"),
        pl.when(c("value_usd") > 0).then(c("value_usd").log()).alias("log_value"),
        pl.when((c("quantity_kg") > 0) & (c("value_usd") > 0))
        .then(c("unit_value").log())
        .alias("log_unit_value"),
    )
    col = OUTCOME_COLUMN[outcome]
    data = data.with_columns(c(col).alias("y"))
    if outcome.startswith("log_"):
        before = data.height
        data = data.filter(c("y").is_not_null())
        dropped["zeros_in_log"] = before - data.height
        if dropped["zeros_in_log"]:
            notes.append(
                f"{dropped['zeros_in_log']} zero flows dropped from the log outcome {outcome}"
            )
    else:
        before = data.height
        data = data.filter(c("y").is_not_null())
        if before - data.height:
            dropped["missing_quantity"] = before - data.height
    data = data.sort(["unit", "product", "period"])
    return Panel(
        data=data,
        design=design,
        outcome=outcome,
        treated=event.treated,
        event_month=ev_month,
        dropped=dropped,
        zero_filled=zero_filled,
        notes=notes,
    )


def _mirror_panel(
    lf: pl.LazyFrame,
    event: Event,
    basket: Sequence[str],
    importers: Sequence[str],
    ev_month: date,
    start: date,
    end: date,
    exclude_periods: Sequence[date],
    freq: str,
    sum3: bool,
    include_provisional: bool = False,
) -> Panel:
    """Mirror-gap panel: log(importer-reported) - log(exporter-reported), per importer x product."""
    from tradeimpact.store import mirror

    c = pl.col
    src = event.source_country
    sub = lf.filter(
        (c("exporter_iso3") == src)
        & c("importer_iso3").is_in(list(importers))
        & c("hs6").is_in(list(basket))
        & c("period").is_between(pl.lit(start), pl.lit(end))
        & (c("freq") == freq)
        & (
            ((c("flow") == "M") & (c("reporter_iso3") == c("importer_iso3")))
            | ((c("flow") == "X") & (c("reporter_iso3") == src))
        )
    )
    if "flags" in lf.collect_schema().names() and not include_provisional:
        sub = sub.filter(~not_data())
    pairs = mirror(sub).lazy()
    # national codes under one HS6 are summed per side before the gap is taken
    pairs_df: pl.DataFrame = (
        pairs.with_columns(c("hs_code").str.slice(0, 6).alias("product"))
        .group_by(["importer_iso3", "product", "period"])
        .agg(
            c("weight_import_kg").sum().alias("quantity_kg_importer"),
            c("weight_export_kg").sum().alias("quantity_kg_exporter"),
            c("value_import_cif").sum().alias("value_usd_importer"),
            c("value_export_fob").sum().alias("value_usd_exporter"),
            (c("weight_import_kg").is_null() | c("weight_export_kg").is_null())
            .all()
            .alias("_one_side"),
        )
        .rename({"importer_iso3": "unit"})
        .collect()
    )
    if pairs_df.height == 0:
        raise ModelSpecError(f"no mirror pairs for event {event.name}: is the data loaded?")
    one_side = int(pairs_df["_one_side"].sum())
    pairs_df = pairs_df.filter(~c("_one_side")).drop("_one_side")
    notes = [
        f"mirror gap: {event.treated} and controls' reports of imports from {src} (CIF) vs "
        f"{src}'s reports of exports to them (FOB), via tradeimpact.store.mirror"
    ]
    data = pairs_df.with_columns(
        c("quantity_kg_importer").alias("quantity_kg"),
        c("value_usd_importer").alias("value_usd"),
    )
    panel = _finish(data, event, "mirror", "log_quantity", ev_month, basket, exclude_periods,
                    False, 0, notes, freq)  # fmt: skip
    if sum3:
        raise ModelSpecError("sum3 is not offered for the mirror design")
    d = panel.data.with_columns(
        pl.when((c("quantity_kg_importer") > 0) & (c("quantity_kg_exporter") > 0))
        .then((c("quantity_kg_importer") / c("quantity_kg_exporter")).log())
        .alias("y"),
        pl.when((c("value_usd_importer") > 0) & (c("value_usd_exporter") > 0))
        .then((c("value_usd_importer") / c("value_usd_exporter")).log())
        .alias("log_value_gap"),
    )
    before = d.height
    d = d.filter(c("y").is_not_null())
    panel.data = d.with_columns(c("y").alias("log_quantity_gap"))
    panel.outcome = "log_quantity_gap"
    panel.dropped["no_partner_report"] = one_side
    panel.dropped["zeros_in_log"] = panel.dropped.get("zeros_in_log", 0) + before - d.height
    return panel
