"""The case-study specification: a TOML file read into frozen, validated dataclasses.

:func:`load_spec` reads a specification file (``analysis/specs/main.toml`` in the project) into a
:class:`Spec`. Every key is checked when the file is read, not when a design first uses it: a value
of the wrong type, a name outside the offered ones, a missing required key or an unknown key (with
the closest known key as a hint) raises :class:`~tradeimpact.errors.ModelSpecError` naming the
file, the table and the key, e.g. ``analysis/specs/main.toml: [inference] ri_draws: expected an
integer, got 'many'``. The per-event tables (``[events.<name>.<table>]``) are checked the same way,
merged into their table for every event they name.

Schema
------
``[spec]`` (:class:`Spec`'s own fields): ``designs`` (required; of :data:`CASE_DESIGNS`),
``outcomes`` (of :data:`~tradeimpact.panel.OUTCOMES`), ``outcomes_by_design`` (design -> list of
outcomes, where they differ from ``outcomes``), ``synth_outcome``, ``synth_design`` (``synth``:
importer side, ``synth_exporter``: the source's export reports), ``basket`` (``core``,
``extended``, ``core+extended``), ``level``, ``raw_measure`` (``net_weight_kg`` or ``value_usd``:
the raw-series figure), ``variants_design``/``variants_outcome`` (where the variants run),
``name``.
``[fixed_effects]`` design -> list of panel columns absorbed (:data:`PANEL_FE_COLUMNS`; a design
not listed absorbs :data:`DEFAULT_FE`).
``[inference]`` (:class:`InferenceSpec`) ``headline`` (``ri_t`` or ``ri``), ``ppml_statistic``
(``t_log``, ``t`` or ``coef``), ``ri_max_exact``, ``ri_draws``, ``seed``, ``size_check_runs``
(placebo dates and placebo units of the size check, at most this many each) and
``size_check_runs_ppml`` (the PPML rows, whose every run refits every assignment).
``[event_study]`` (:class:`EventStudySpec`) ``reference``, ``designs``, ``outcome``.
``[honestdid]`` (:class:`HonestDiDSpec`) ``events`` (names), ``mbar`` (list), ``max_pre``,
``max_post``, ``method``, ``grid_points``, ``breakdown``.
``[[variants]]`` (:class:`VariantSpec`) ``name``, ``description``, optional ``events`` (names it
applies to) and one change each: ``event_month = "alt"``, ``long_post``, ``drop_confounder``
(name), ``keep_anticipation``, ``sum3``, ``extra_fe`` (list), ``basket``, ``control_set`` (name),
``leave_one_out`` (one row per dropped control, variant ``loo_<ISO3>``). One variant is named
``baseline``.
``[events.<name>.<table>]`` updates ``[<table>]`` for the event ``<name>`` only
(:meth:`Spec.for_event`), e.g. an annual value-only extract's designs and outcomes.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tradeimpact.errors import ModelSpecError
from tradeimpact.panel import OUTCOMES, Event

__all__ = [
    "CASE_DESIGNS",
    "DEFAULT_FE",
    "HEADLINE_METHODS",
    "PANEL_FE_COLUMNS",
    "PPML_STATISTICS",
    "REGRESSION_DESIGNS",
    "EventStudySpec",
    "HonestDiDSpec",
    "InferenceSpec",
    "Spec",
    "VariantSpec",
    "load_spec",
    "parse_spec",
    "spec_for_event",
]

#: Designs a case study runs: the regression designs and the synthetic-control ones.
REGRESSION_DESIGNS: tuple[str, ...] = ("importer", "exporter", "triple", "diversion", "mirror")
CASE_DESIGNS: tuple[str, ...] = (*REGRESSION_DESIGNS, "synth", "sdid")
#: Panel columns a design may absorb (:func:`tradeimpact.panel.build_panel` documents them).
PANEL_FE_COLUMNS: tuple[str, ...] = (
    "unit",
    "product",
    "cell",
    "period",
    "product_period",
    "unit_period",
    "month_of_year",
    "month_of_year_fe",
)
#: The fixed effects of a regression design that ``[fixed_effects]`` does not list.
DEFAULT_FE: tuple[str, ...] = ("cell", "product_period")
#: Methods ``[inference] headline`` may name (:func:`tradeimpact.casestudy.headline_inference`).
HEADLINE_METHODS: tuple[str, ...] = ("ri_t", "ri")
#: Statistics of the PPML headline (:func:`tradeimpact.inference.ppml_randomization_inference`).
PPML_STATISTICS: tuple[str, ...] = ("t_log", "t", "coef")
LOG_OUTCOMES: tuple[str, ...] = tuple(o for o in OUTCOMES if o.startswith("log_"))
BASKET_PARTS: tuple[str, ...] = ("core", "extended", "comparison")
#: Tables that ``[events.<name>.<table>]`` may update.
EVENT_TABLES: tuple[str, ...] = ("spec", "fixed_effects", "inference", "event_study", "honestdid")
TOP_TABLES: tuple[str, ...] = (*EVENT_TABLES, "variants", "events")
#: Keys of ``[spec]``.
SPEC_KEYS: tuple[str, ...] = (
    "name",
    "designs",
    "outcomes",
    "outcomes_by_design",
    "synth_outcome",
    "synth_design",
    "basket",
    "level",
    "raw_measure",
    "variants_design",
    "variants_outcome",
)


# -------------------------------------------------------------------------------- reading
def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, bool) else str(value).lower()


class _Table:
    """One TOML table being read: typed getters that name the file, the table and the key.

    ``where`` is how the table is named in errors (``[inference]``, ``[[variants]] #3``);
    ``origin`` gives, per key, the table it came from when it differs (a key of
    ``[events.<name>.spec]`` merged into ``[spec]`` is reported under the event's table).
    """

    def __init__(
        self,
        path: str,
        where: str,
        raw: Mapping[str, Any],
        origin: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self.where = where
        self.raw = dict(raw)
        self.origin = dict(origin or {})
        self.read: set[str] = set()

    def error(self, key: str | None, msg: str) -> ModelSpecError:
        if key is None:
            return ModelSpecError(f"{self.path}: {self.where}: {msg}")
        return ModelSpecError(f"{self.path}: {self.origin.get(key, self.where)} {key}: {msg}")

    def has(self, key: str) -> bool:
        return key in self.raw

    def _get(self, key: str) -> Any:
        self.read.add(key)
        return self.raw[key]

    def string(self, key: str, default: str | None, choices: Sequence[str] | None = None) -> Any:
        if key not in self.raw:
            return default
        v = self._get(key)
        if not isinstance(v, str):
            raise self.error(key, f"expected a string, got {_show(v)}")
        if choices is not None and v not in choices:
            raise self.error(key, self._choice_msg(v, choices))
        return v

    def required_string(self, key: str) -> str:
        if key not in self.raw:
            raise self.error(key, "missing (a string is required)")
        out: str = self.string(key, "")
        return out

    def _choice_msg(self, v: str, choices: Sequence[str]) -> str:
        return f"unknown value {v!r}{_hint(v, choices)}; offered: " + ", ".join(
            repr(c) for c in choices
        )

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        if key not in self.raw:
            return default
        v = self._get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, f"expected an integer, got {_show(v)}")
        if minimum is not None and v < minimum:
            raise self.error(key, f"expected an integer of at least {minimum}, got {v}")
        return v

    def number(self, key: str, default: float, *, low: float, high: float) -> float:
        if key not in self.raw:
            return default
        v = self._get(key)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.error(key, f"expected a number, got {_show(v)}")
        if not (math.isfinite(v) and low < v < high):
            raise self.error(key, f"expected a number strictly between {low} and {high}, got {v}")
        return float(v)

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.raw:
            return default
        v = self._get(key)
        if not isinstance(v, bool):
            raise self.error(key, f"expected true or false, got {_show(v)}")
        return v

    def strings(
        self,
        key: str,
        default: Sequence[str] | None,
        choices: Sequence[str] | None = None,
        *,
        nonempty: bool = False,
    ) -> tuple[str, ...] | None:
        if key not in self.raw:
            return None if default is None else tuple(default)
        return self.string_list(key, self._get(key), choices, nonempty=nonempty)

    def string_list(
        self,
        key: str,
        v: Any,
        choices: Sequence[str] | None = None,
        *,
        nonempty: bool = False,
    ) -> tuple[str, ...]:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(key, f"expected a list of strings, got {_show(v)}")
        if nonempty and not v:
            raise self.error(key, "expected a non-empty list, got []")
        if choices is not None:
            for x in v:
                if x not in choices:
                    raise self.error(key, self._choice_msg(x, choices))
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise self.error(key, f"listed twice: {', '.join(repr(x) for x in dup)}")
        return tuple(v)

    def numbers(self, key: str, default: Sequence[float]) -> tuple[float, ...]:
        if key not in self.raw:
            return tuple(float(x) for x in default)
        v = self._get(key)
        if (
            not isinstance(v, list)
            or not v
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        ):
            raise self.error(key, f"expected a non-empty list of numbers, got {_show(v)}")
        if not all(math.isfinite(x) and x >= 0 for x in v):
            raise self.error(key, f"expected numbers of at least 0, got {v}")
        return tuple(float(x) for x in v)

    def table(self, key: str) -> Mapping[str, Any]:
        if key not in self.raw:
            return {}
        v = self._get(key)
        if not isinstance(v, dict):
            raise self.error(key, f"expected a table, got {_show(v)}")
        return v

    def done(self, known: Sequence[str]) -> None:
        """Reject the keys outside ``known`` (with the closest known key as a hint)."""
        for key in self.raw:
            if key not in known:
                raise self.error(
                    key, f"unknown key{_hint(key, known)}; known: {', '.join(sorted(known))}"
                )


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _basket(t: _Table, key: str, default: str | None) -> str | None:
    v = t.string(key, default)
    if v is not None:
        for part in v.split("+"):
            if part not in BASKET_PARTS:
                raise t.error(
                    key,
                    f"unknown basket {v!r}: parts are {', '.join(BASKET_PARTS)} joined by '+' "
                    "(e.g. 'core+extended')",
                )
    return v


# ---------------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class InferenceSpec:
    """``[inference]``: the headline test and the size check beside it.

    Attributes
    ----------
    headline : {"ri_t", "ri"}
        Studentized randomization inference (pre-period residual s.d.; MacKinnon & Webb 2020) or
        coefficient randomization inference (:func:`tradeimpact.casestudy.headline_inference`).
    ppml_statistic : {"t_log", "t", "coef"}
        The statistic of the PPML rows' placebo test.
    ri_max_exact, ri_draws, seed : int
        Enumerate every assignment when there are at most ``ri_max_exact``, else draw
        ``ri_draws`` (seeded).
    size_check_runs, size_check_runs_ppml : int
        At most this many placebo dates and placebo units in the size check (PPML rows: the
        second, default the first).
    """

    headline: str = "ri_t"
    ppml_statistic: str = "t_log"
    ri_max_exact: int = 10_000
    ri_draws: int = 999
    seed: int = 0
    size_check_runs: int = 10
    size_check_runs_ppml: int = 10

    def options(self) -> dict[str, Any]:
        """The randomization options every test of a row shares."""
        return {"max_exact": self.ri_max_exact, "n_permutations": self.ri_draws, "seed": self.seed}

    @classmethod
    def _read(cls, t: _Table) -> InferenceSpec:
        runs = t.integer("size_check_runs", 10, minimum=0)
        out = cls(
            headline=t.string("headline", "ri_t", HEADLINE_METHODS),
            ppml_statistic=t.string("ppml_statistic", "t_log", PPML_STATISTICS),
            ri_max_exact=t.integer("ri_max_exact", 10_000, minimum=1),
            ri_draws=t.integer("ri_draws", 999, minimum=1),
            seed=t.integer("seed", 0, minimum=0),
            size_check_runs=runs,
            size_check_runs_ppml=t.integer("size_check_runs_ppml", runs, minimum=0),
        )
        t.done(_fields(cls))
        return out


@dataclass(frozen=True)
class EventStudySpec:
    """``[event_study]``: the dynamic effects drawn in the figures.

    ``reference`` (the omitted event time, unless the event file sets ``reference_period``),
    ``designs`` (regression designs with an event study), ``outcome`` (a log outcome).
    """

    reference: int = -1
    designs: tuple[str, ...] = ("importer",)
    outcome: str = "log_quantity"

    @classmethod
    def _read(cls, t: _Table) -> EventStudySpec:
        ref = t.integer("reference", -1)
        designs = t.strings("designs", ("importer",), REGRESSION_DESIGNS)
        out = cls(reference=ref, designs=designs or (),
                  outcome=t.string("outcome", "log_quantity", LOG_OUTCOMES))  # fmt: skip
        t.done(_fields(cls))
        return out


@dataclass(frozen=True)
class HonestDiDSpec:
    """``[honestdid]``: relative-magnitudes sensitivity (Rambachan & Roth 2023) of the average
    post-event effect for the events named in ``events``: ``mbar`` grid, the ``max_pre``
    pre-periods nearest the event and the post months up to ``max_post``, ``method``
    (``C-LF`` or ``Conditional``), ``grid_points``, ``breakdown``."""

    events: tuple[str, ...] = ()
    mbar: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    max_pre: int = 3
    max_post: int = 3
    method: str = "C-LF"
    grid_points: int = 200
    breakdown: bool = False

    @classmethod
    def _read(cls, t: _Table) -> HonestDiDSpec:
        out = cls(
            events=t.strings("events", ()) or (),
            mbar=t.numbers("mbar", (0.0, 0.5, 1.0, 1.5, 2.0)),
            max_pre=t.integer("max_pre", 3, minimum=1),
            max_post=t.integer("max_post", 3, minimum=0),
            method=t.string("method", "C-LF", ("C-LF", "Conditional")),
            grid_points=t.integer("grid_points", 200, minimum=2),
            breakdown=t.boolean("breakdown", False),
        )
        t.done(_fields(cls))
        return out


@dataclass(frozen=True)
class VariantSpec:
    """One ``[[variants]]`` entry: a robustness variant of the baseline (one change each).

    ``events`` (None: every event) restricts it to the events named; ``event_month = "alt"`` the
    event file's alternative event month; ``long_post`` the post period to the window's end;
    ``drop_confounder`` leaves out a confounder's months; ``keep_anticipation`` keeps the
    anticipation months in the pre-period; ``sum3`` 3-month sums; ``extra_fe`` more absorbed
    columns; ``basket``; ``control_set`` (a named control set of the event); ``leave_one_out``
    (one row per dropped control).
    """

    name: str
    description: str = ""
    events: tuple[str, ...] | None = None
    event_month: str | None = None
    long_post: bool = False
    drop_confounder: str | None = None
    keep_anticipation: bool = False
    sum3: bool = False
    extra_fe: tuple[str, ...] = ()
    basket: str | None = None
    control_set: str | None = None
    leave_one_out: bool = False

    @classmethod
    def _read(cls, t: _Table) -> VariantSpec:
        out = cls(
            name=t.required_string("name"),
            description=t.string("description", ""),
            events=t.strings("events", None),
            event_month=t.string("event_month", None, ("alt",)),
            long_post=t.boolean("long_post", False),
            drop_confounder=t.string("drop_confounder", None),
            keep_anticipation=t.boolean("keep_anticipation", False),
            sum3=t.boolean("sum3", False),
            extra_fe=t.strings("extra_fe", (), PANEL_FE_COLUMNS) or (),
            basket=_basket(t, "basket", None),
            control_set=t.string("control_set", None),
            leave_one_out=t.boolean("leave_one_out", False),
        )
        t.done(_fields(cls))
        return out


@dataclass(frozen=True)
class Spec:
    """A case-study specification (one TOML file), validated; :func:`load_spec` reads it.

    Attributes
    ----------
    path : str
        The file it was read from (as given), named in every error.
    designs : tuple of str
        Designs in report order (:data:`CASE_DESIGNS`).
    outcomes : tuple of str
        Outcomes of the regression designs.
    outcomes_by_design : mapping
        design -> outcomes, where they differ from ``outcomes``.
    synth_outcome, synth_design : str
        The synthetic-control designs' outcome and panel (``synth`` or ``synth_exporter``).
    basket : str
        Product basket of the designs (``core``, ``core+extended``...).
    level : float
        Confidence level of every interval.
    raw_measure : str
        ``net_weight_kg`` or ``value_usd``: the raw-series figure's measure.
    variants_design, variants_outcome : str
        Where the robustness variants run.
    fixed_effects : mapping
        design -> absorbed panel columns (:meth:`fe`).
    inference, event_study, honestdid : InferenceSpec, EventStudySpec, HonestDiDSpec
    variants : tuple of VariantSpec
    event_overrides : mapping
        ``[events.<name>.<table>]`` as read (:meth:`for_event` applies them).
    event : str or None
        The event :meth:`for_event` applied (None: the file as it is).
    name : str
        ``[spec] name`` (default the file's stem).
    """

    path: str
    designs: tuple[str, ...]
    outcomes: tuple[str, ...] = ("log_quantity",)
    outcomes_by_design: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    synth_outcome: str = "log_quantity"
    synth_design: str = "synth"
    basket: str = "core"
    level: float = 0.95
    raw_measure: str = "net_weight_kg"
    variants_design: str = "importer"
    variants_outcome: str = "log_quantity"
    fixed_effects: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    event_study: EventStudySpec = field(default_factory=EventStudySpec)
    honestdid: HonestDiDSpec = field(default_factory=HonestDiDSpec)
    variants: tuple[VariantSpec, ...] = (VariantSpec("baseline"),)
    event_overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    event: str | None = None
    name: str = "main"
    _raw: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    def fe(self, design: str) -> tuple[str, ...]:
        """The columns ``design`` absorbs (``[fixed_effects]``, else :data:`DEFAULT_FE`)."""
        return tuple(self.fixed_effects.get(design, DEFAULT_FE))

    def outcomes_of(self, design: str) -> tuple[str, ...]:
        """The outcomes ``design`` runs on (``outcomes_by_design``, else ``outcomes``)."""
        return tuple(self.outcomes_by_design.get(design, self.outcomes))

    def for_event(self, name: str) -> Spec:
        """The specification as it applies to the event ``name``: its ``[events.<name>]``
        tables merged into theirs (other events see the file unchanged)."""
        if name not in self.event_overrides:
            return dataclasses.replace(self, event=name)
        return _build(self.path, dict(self._raw), name)


def _read_fixed_effects(t: _Table) -> Mapping[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for design, cols in t.raw.items():
        if design not in REGRESSION_DESIGNS:
            raise t.error(design, f"unknown design{_hint(design, REGRESSION_DESIGNS)}; offered: "
                          + ", ".join(REGRESSION_DESIGNS))  # fmt: skip
        t.read.add(design)
        out[design] = t.string_list(design, cols, PANEL_FE_COLUMNS)
    return MappingProxyType(out)


def _read_by_design(t: _Table, key: str) -> Mapping[str, tuple[str, ...]]:
    raw = t.table(key)
    where = t.origin.get(key, t.where)
    sub = _Table(t.path, f"{where[:-1]}.{key}]", raw)
    out: dict[str, tuple[str, ...]] = {}
    for design, outs in raw.items():
        if design not in REGRESSION_DESIGNS:
            raise sub.error(design, f"unknown design{_hint(design, REGRESSION_DESIGNS)}; "
                            "offered: " + ", ".join(REGRESSION_DESIGNS))  # fmt: skip
        out[design] = sub.string_list(design, outs, OUTCOMES, nonempty=True)
    return MappingProxyType(out)


def _merged(path: str, raw: Mapping[str, Any], table: str, event: str | None) -> _Table:
    """``[table]`` with ``[events.<event>.<table>]`` merged in (keys labelled by origin)."""
    base = raw.get(table, {})
    if not isinstance(base, dict):
        raise ModelSpecError(f"{path}: [{table}]: expected a table, got {_show(base)}")
    values = dict(base)
    origin: dict[str, str] = {}
    if event is not None:
        over = raw.get("events", {}).get(event, {}).get(table, {})
        values.update(over)
        origin = {k: f"[events.{event}.{table}]" for k in over}
    return _Table(path, f"[{table}]", values, origin)


def _build(path: str, raw: dict[str, Any], event: str | None) -> Spec:
    for key in raw:
        if key not in TOP_TABLES:
            raise ModelSpecError(
                f"{path}: [{key}]: unknown table{_hint(key, TOP_TABLES)}; known: "
                + ", ".join(TOP_TABLES)
            )
    if "spec" not in raw:
        raise ModelSpecError(f"{path}: [spec]: missing (the table of designs and outcomes)")
    overrides = _read_overrides(path, raw)
    s = _merged(path, raw, "spec", event)
    if not s.has("designs"):
        raise s.error("designs", "missing (a list of designs is required)")
    designs = s.strings("designs", (), CASE_DESIGNS, nonempty=True) or ()
    outcomes = s.strings("outcomes", ("log_quantity",), OUTCOMES, nonempty=True) or ()
    stem = Path(path).stem
    kw: dict[str, Any] = dict(
        designs=designs,
        outcomes=outcomes,
        outcomes_by_design=_read_by_design(s, "outcomes_by_design"),
        synth_outcome=s.string("synth_outcome", "log_quantity", OUTCOMES),
        synth_design=s.string("synth_design", "synth", ("synth", "synth_exporter")),
        basket=_basket(s, "basket", "core"),
        level=s.number("level", 0.95, low=0.0, high=1.0),
        raw_measure=s.string("raw_measure", "net_weight_kg", ("net_weight_kg", "value_usd")),
        variants_design=s.string("variants_design", "importer", REGRESSION_DESIGNS),
        variants_outcome=s.string("variants_outcome", "log_quantity", OUTCOMES),
        name=s.string("name", stem),
    )
    s.done(SPEC_KEYS)
    kw["fixed_effects"] = _read_fixed_effects(_merged(path, raw, "fixed_effects", event))
    kw["inference"] = InferenceSpec._read(_merged(path, raw, "inference", event))
    kw["event_study"] = EventStudySpec._read(_merged(path, raw, "event_study", event))
    kw["honestdid"] = HonestDiDSpec._read(_merged(path, raw, "honestdid", event))
    kw["variants"] = _read_variants(path, raw.get("variants"))
    return Spec(path=path, event_overrides=overrides, event=event,
                _raw=MappingProxyType(raw), **kw)  # fmt: skip


def _read_overrides(path: str, raw: Mapping[str, Any]) -> Mapping[str, Any]:
    ev = raw.get("events", {})
    if not isinstance(ev, dict):
        raise ModelSpecError(f"{path}: [events]: expected a table of events, got {_show(ev)}")
    out: dict[str, Any] = {}
    for name, tables in ev.items():
        if not isinstance(tables, dict):
            raise ModelSpecError(f"{path}: [events.{name}]: expected a table, got {_show(tables)}")
        for table, keys in tables.items():
            if table not in EVENT_TABLES:
                raise ModelSpecError(
                    f"{path}: [events.{name}.{table}]: unknown table{_hint(table, EVENT_TABLES)}; "
                    f"an event may update: {', '.join(EVENT_TABLES)}"
                )
            if not isinstance(keys, dict):
                raise ModelSpecError(
                    f"{path}: [events.{name}] {table}: expected a table, got {_show(keys)}"
                )
        out[name] = MappingProxyType({t: MappingProxyType(dict(k)) for t, k in tables.items()})
    return MappingProxyType(out)


def _read_variants(path: str, raw: Any) -> tuple[VariantSpec, ...]:
    if raw is None:
        return (VariantSpec("baseline"),)
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        raise ModelSpecError(f"{path}: [[variants]]: expected an array of tables ([[variants]])")
    out: list[VariantSpec] = []
    for i, v in enumerate(raw, start=1):
        name = f" {v['name']!r}" if isinstance(v.get("name"), str) else ""
        out.append(VariantSpec._read(_Table(path, f"[[variants]] #{i}{name}", v)))
    names = [v.name for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ModelSpecError(f"{path}: [[variants]] name: listed twice: {', '.join(dup)}")
    if "baseline" not in names:
        raise ModelSpecError(
            f"{path}: [[variants]]: no variant named 'baseline' (the specification as written)"
        )
    return tuple(out)


def parse_spec(text: str, path: str | Path) -> Spec:
    """A :class:`Spec` from the text of a specification file (``path`` names it in errors).

    Every ``[events.<name>.<table>]`` is checked as merged into its table.
    """
    p = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelSpecError(f"{p}: not a TOML file: {exc}") from exc
    spec = _build(p, raw, None)
    for name in spec.event_overrides:
        _build(p, raw, name)  # the merged tables of every event are valid too
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and validate a specification file (schema in :mod:`tradeimpact.casestudy.spec`).

    Parameters
    ----------
    path : str or Path
        The file, e.g. the project's ``analysis/specs/main.toml``. There is no default: the
        package does not look into a project folder on its own.

    Returns
    -------
    Spec

    Raises
    ------
    ModelSpecError
        When the file cannot be read, is not TOML, or a key is missing, unknown or of the wrong
        type or value (the message names the file, the table and the key).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelSpecError(f"{path}: cannot read the specification: {exc}") from exc
    return parse_spec(text, path)


def spec_for_event(spec: Spec, event: Event) -> Spec:
    """The specification as it applies to one event (:meth:`Spec.for_event`)."""
    return spec.for_event(event.name)
