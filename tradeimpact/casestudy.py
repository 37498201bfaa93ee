"""Run the case studies end to end: an event file + data -> every design, outcome and variant.

:func:`run_case_study` reads an event (``analysis/events/*.toml``) and a specification
(``analysis/specs/main.toml``), loads the flows (a data directory of raw files, a
:class:`~tradeimpact.store.FlowStore`, or a frame of canonical flows), builds each design's panel
(:func:`tradeimpact.panel.build_panel`) and calls the package's estimators on it. It holds no
estimation logic of its own: fixed-effects OLS (:func:`tradeimpact.models.linear.feols`), PPML
(:func:`tradeimpact.models.ppml.ppml`), studentized randomization inference
(:func:`tradeimpact.inference.studentized.studentized_randomization_inference`; PPML:
:func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference`), its size check
(:func:`tradeimpact.inference.headline.size_check_panel`), coefficient randomization inference
(:func:`tradeimpact.inference.randomization.randomization_inference`), Conley-Taber
(:func:`tradeimpact.inference.conley_taber.conley_taber_panel`), the event study
(:func:`tradeimpact.models.event_study.event_study`), synthetic control
(:func:`tradeimpact.models.synth.synth`), synthetic DiD (:func:`tradeimpact.models.synthdid.synthdid`)
and HonestDiD
(:func:`tradeimpact.sensitivity.honestdid.sensitivity_relative_magnitudes`).

Specification file schema (TOML, ``analysis/specs/*.toml``)
-----------------------------------------------------------
``[spec]`` ``designs`` (list of ``importer, exporter, triple, diversion, mirror, synth, sdid``),
``outcomes`` (``log_quantity, log_value, log_unit_value, ppml_value``), ``synth_outcome``,
``basket`` (``core``, ``core+extended``), ``level``.
``[fixed_effects]`` design -> list of panel columns absorbed (``cell``, ``product_period``,
``unit_period``, ``month_of_year_fe``).
``[inference]`` ``headline`` (``ri_t`` or ``ri``: :func:`headline_inference`),
``ppml_statistic`` (``t_log``, ``t`` or ``coef``), ``ri_max_exact``, ``ri_draws``, ``seed``,
``size_check_runs`` (placebo dates and placebo units of the size check, at most this many each;
``size_check_runs_ppml`` for the PPML rows, whose every run refits every assignment).
``[event_study]`` ``reference``, ``designs``, ``outcome``.
``[spec]`` also: ``synth_design`` (``synth``: importer side, ``synth_exporter``: the source's
export reports), ``raw_measure`` (``net_weight_kg`` or ``value_usd``: the raw-series figure),
``variants_design``/``variants_outcome`` (where the variants run: ``importer``/``log_quantity``).
``[events.<name>.<table>]`` updates ``[<table>]`` for the event ``<name>`` only
(:func:`spec_for_event`), e.g. an annual value-only extract's designs and outcomes.
``[honestdid]`` ``events`` (names), ``mbar`` (list).
``[[variants]]`` ``name``, ``description``, optional ``events`` (names it applies to) and one
change each: ``event_month = "alt"``, ``long_post``, ``drop_confounder`` (name),
``keep_anticipation``, ``sum3``, ``extra_fe`` (list), ``basket``, ``control_set`` (name),
``leave_one_out`` (one row per dropped control, variant ``loo_<ISO3>``). Variants run on the
importer-side design with ``log_quantity``.

Data. A data directory's raw files are those of :func:`raw_flow_files`; a file with a column
mapping beside it (``<stem>.mapping.json``: :class:`~tradeimpact.sources.generic.GenericReader`
arguments) is read through it, the others by the detected reader. A case study is SYNTHETIC when
the files its own flows come from say so (:attr:`CaseStudy.is_synthetic`).

Frequency. An event with ``freq = "A"`` runs on years: periods, event time, the sample end, the
event-study window and reference, the synthetic-control pre-period and the figures' axes are in
years; variants that only mean something on months (``sum3``, ``month_of_year``) are skipped.

Samples. The DiD sample runs from the window's start to the restriction's last month (``[event]
end``) when one is known, else to the window's end (``long_post`` variants: to the window's end);
months of anticipation (``[window] anticipation_months``) are left out unless
``keep_anticipation``. ``post`` = months from the event month on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import tempfile
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tradeimpact.errors import ModelSpecError, TradeImpactError
from tradeimpact.models.linear import CollinearityWarning
from tradeimpact.panel import (
    Event,
    Panel,
    add_periods,
    build_panel,
    month_start,
    not_data,
    period_start,
)
from tradeimpact.schema import MAIN_COLUMNS, MAIN_SCHEMA
from tradeimpact.schema import RESULT_COLUMNS as RESULT_COLUMNS  # re-exported (issue 5 table)

REPO = Path(__file__).resolve().parents[1]
TRUE_EFFECTS_FILE = "SYNTHETIC_TRUE_EFFECTS.json"


# ---------------------------------------------------------------------------------- inputs
@dataclass
class LoadedFlows:
    """Canonical flows held in memory, with where they came from."""

    flows: pl.DataFrame
    inputs: list[tuple[str, str]]  # (file name, sha256)
    is_synthetic: bool
    data_dir: Path | None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Folders of a data directory that hold no flow files (published press figures are read apart).
NOT_FLOW_DIRS = ("published",)
#: The ending of a column-mapping file: ``<name>.mapping.json`` beside ``<name>.csv`` (or any
#: ``<name>.<ext>``) says how to read that file (the keyword arguments of
#: :class:`~tradeimpact.sources.generic.GenericReader`, as ``tradeimpact ingest --mapping`` reads).
MAPPING_SUFFIX = ".mapping.json"
#: Endings of files that are not flow files: notes, the fetchers' sidecars (``.meta``,
#: ``.split.meta``), checksums, downloaded archives still to unpack, Parquet stores.
NOT_FLOW_SUFFIXES = (".md", ".txt", ".toml", ".meta", ".sha256", ".zip", ".parquet", ".part")


def raw_flow_files(data_dir: Path) -> list[Path]:
    """Raw flow files under ``data_dir`` (sorted): what ``nox -s report`` ingests.

    Left out: hidden files, files directly in ``data_dir`` (READMEs, the true effects of the
    synthetic demo), the ``published/`` folder, notes, the fetchers' sidecars and checksums,
    archives and Parquet (a store's files, e.g. ``manifest.json`` beside them), and column-mapping
    files (``<name>.mapping.json``: read with the file they describe, see :func:`mapping_file`).
    """
    data_dir = Path(data_dir)
    out = []
    for p in sorted(data_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(data_dir)
        if len(rel.parts) < 2 or rel.parts[0] in NOT_FLOW_DIRS:
            continue
        if any(part.startswith(".") for part in rel.parts) or ".store" in rel.parts[0]:
            continue
        if p.name.lower().endswith(NOT_FLOW_SUFFIXES) or p.name == "manifest.json":
            continue
        if p.name.lower().endswith(MAPPING_SUFFIX):
            continue
        out.append(p)
    return out


def mapping_file(path: Path) -> Path | None:
    """The column-mapping file of a raw file: ``<stem>.mapping.json`` beside it, or None.

    ``data_raw/real/BACI_x.csv`` is read through ``data_raw/real/BACI_x.mapping.json`` when that
    exists: a JSON object of :class:`~tradeimpact.sources.generic.GenericReader` keyword
    arguments (``mapping``, ``source``, ``code_system``, ``freq``, ``reported_by``, ``units``,
    ``constants``, ``valuation``, ``period_range`` as two ISO dates...). Without one, the reader is
    detected from the file.
    """
    p = Path(path)
    cand = p.with_name(p.name.split(".")[0] + MAPPING_SUFFIX)
    return cand if cand.is_file() else None


def mapping_reader(path: Path) -> Any:
    """A :class:`~tradeimpact.sources.generic.GenericReader` from a mapping file
    (:meth:`GenericReader.from_json <tradeimpact.sources.generic.GenericReader.from_json>`:
    its errors name the file, the line or the argument)."""
    from tradeimpact.sources.generic import GenericReader

    return GenericReader.from_json(path)


_LOADED: dict[tuple[Any, ...], LoadedFlows] = {}


def load_flows(source: Any) -> LoadedFlows:
    """Canonical flows from a data directory, a FlowStore (or its root) or a frame.

    A data directory is ingested into a temporary :class:`~tradeimpact.store.FlowStore` (the
    readers are detected from the files; bad rows are quarantined by the store and reported
    there). ``is_synthetic`` is True when any input file name contains ``SYNTHETIC``.
    """
    from tradeimpact.store import FlowStore

    if isinstance(source, LoadedFlows):
        return source
    if isinstance(source, pl.LazyFrame | pl.DataFrame):
        df = source.collect() if isinstance(source, pl.LazyFrame) else source
        names = (
            df["source_file"].unique().drop_nulls().to_list() if "source_file" in df.columns else []
        )
        syn = any("SYNTHETIC" in Path(str(n)).name for n in names)
        return LoadedFlows(df, [(Path(str(n)).name, "") for n in sorted(names)], syn, None)
    if isinstance(source, FlowStore):
        store = source
    else:
        path = Path(source)
        if not path.exists():
            raise TradeImpactError(f"{path}: no such data directory or store")
        if (path / "manifest.json").exists():
            store = FlowStore(path)
        else:
            files = raw_flow_files(path)
            if not files:
                raise TradeImpactError(
                    f"{path}: no raw flow files found (they go in sub-folders: "
                    f"{path}/<source>/<file>)"
                )
            maps = {f: mapping_file(f) for f in files}
            every = sorted([*files, *(m for m in maps.values() if m is not None)])
            # one ingest per unchanged data directory and process (each event reads the same)
            key = (str(path.resolve()), tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns)
                                              for f in every))  # fmt: skip
            if key in _LOADED:
                return _LOADED[key]
            with tempfile.TemporaryDirectory(prefix="tradeimpact-store-") as tmp:
                st = FlowStore(tmp)
                plain = [f for f in files if maps[f] is None]
                if plain:
                    st.ingest(plain)
                for f in files:
                    m = maps[f]
                    if m is not None:
                        st.ingest([f], mapping_reader(m))
                flows = st.scan().collect()
            inputs = [(f.relative_to(path).as_posix(), _sha256(f)) for f in every]
            syn = any("SYNTHETIC" in f.name for f in files)
            _LOADED.clear()
            _LOADED[key] = LoadedFlows(flows, inputs, syn, path)
            return _LOADED[key]
    inp = store.inputs()
    inputs = [(Path(p).name, s) for p, s in zip(inp["path"], inp["sha256"], strict=True)]
    syn = any("SYNTHETIC" in Path(p).name for p in inp["path"])
    return LoadedFlows(store.scan().collect(), sorted(inputs), syn, None)


def load_spec(path: str | Path | None = None) -> dict[str, Any]:
    """Read a specification file (schema in the module docstring).

    ``path`` defaults to the project's ``analysis/specs/main.toml``
    (:func:`tradeimpact.paths.default_spec_path`, found from the package, not the current folder).
    """
    from tradeimpact.paths import default_spec_path

    p = Path(path) if path is not None else default_spec_path()
    try:
        spec = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TradeImpactError(f"{p}: cannot read the specification: {exc}") from exc
    if "spec" not in spec:
        raise TradeImpactError(f"{p}: key 'spec': missing")
    spec["_path"] = str(p)
    return spec


def spec_for_event(spec: dict[str, Any], event: Event) -> dict[str, Any]:
    """The specification as it applies to one event: ``[events.<name>]`` tables merged in.

    ``[events.<name>.<table>]`` (``spec``, ``event_study``, ``inference``...) updates the keys of
    ``[<table>]`` for that event only, e.g. the designs and outcomes an annual extract with value
    only (no quantities) supports. Other events see the specification unchanged.
    """
    over = spec.get("events", {}).get(event.name)
    if not over:
        return spec
    out = dict(spec)
    for table, keys in over.items():
        if not isinstance(keys, dict):
            raise TradeImpactError(
                f"{spec.get('_path', 'spec')}: key 'events.{event.name}.{table}': a table expected"
            )
        out[table] = {**spec.get(table, {}), **keys}
    return out


# ---------------------------------------------------------------------------- true effects
def load_true_effects(data_dir: Path | None) -> dict[str, Any] | None:
    """``SYNTHETIC_TRUE_EFFECTS.json`` of a data directory (None when absent)."""
    if data_dir is None:
        return None
    p = Path(data_dir) / TRUE_EFFECTS_FILE
    if not p.exists():
        return None
    out: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return out


#: design -> (quantity path, unit-value path, comparison path subtracted) in the true-effects file
_PATHS: dict[str, tuple[str, str | None, str | None]] = {
    "importer": ("importer_quantity", "importer_unit_value", None),
    "exporter": ("exporter_quantity", "exporter_unit_value", None),
    "triple": ("importer_quantity", "importer_unit_value", "comparison_quantity"),
    "diversion": ("diversion_quantity", None, "diversion_comparison_quantity"),
    "synth": ("importer_quantity", None, None),
    "sdid": ("importer_quantity", None, None),
}


def true_effect(
    truth: dict[str, Any],
    design: str,
    outcome: str,
    periods: Sequence[date],
    post: Sequence[bool],
    *,
    sum3: bool = False,
    basket: str = "core",
) -> float:
    """The value a design's estimator targets in the SYNTHETIC panel, from the monthly paths.

    For log outcomes with one treated unit and unit and period fixed effects (balanced panel) the
    DiD coefficient is ``mean_post(a) - mean_pre(a)`` of the Japan-specific log effect ``a``
    over the sample's months (both averages over the months of the sample). For PPML on levels
    the months are weighted by Japan's counterfactual expected value ``mu0``:
    ``log(sum_post mu0 e^a / sum_post mu0) - log(sum_pre mu0 e^a / sum_pre mu0)``. With 3-month
    sums, ``a`` of a bin is ``log(sum_bin mu0 e^a / sum_bin mu0)``. The mirror gap's path is
    ``importer_quantity - exporter_quantity``.
    """
    months = [date(int(m[:4]), int(m[5:7]), 1) for m in truth["months"]]
    index = {m: i for i, m in enumerate(months)}
    paths = {k: np.asarray(v, dtype=float) for k, v in truth["paths"].items()}
    w_all = np.asarray(truth["japan_counterfactual_value_usd"].get(basket, next(iter(
        truth["japan_counterfactual_value_usd"].values()))), dtype=float)  # fmt: skip
    if design == "mirror":
        a = paths["importer_quantity"] - paths["exporter_quantity"]
    else:
        qk, uk, ck = _PATHS[design]
        q = paths[qk] - (paths[ck] if ck else 0.0)
        uv = paths[uk] if uk else np.zeros_like(q)
        a = {"log_quantity": q, "log_unit_value": uv, "log_value": q + uv}.get(outcome, q + uv)
    ppml = outcome.startswith("ppml")

    def level(idx: list[int]) -> float:
        w = w_all[idx]
        return float(np.log(np.sum(w * np.exp(a[idx])) / np.sum(w)))

    vals: list[float] = []
    flags: list[bool] = []
    for per, is_post in zip(periods, post, strict=True):
        i = index[month_start(per)]
        idx = [i, i + 1, i + 2] if sum3 else [i]
        vals.append(level(idx) if (sum3 or ppml) and not outcome.endswith("unit_value")
                    else float(np.mean(a[idx])))  # fmt: skip
        flags.append(bool(is_post))
    v = np.asarray(vals)
    f = np.asarray(flags)
    if ppml and not sum3:
        ipost = [index[month_start(p)] for p, s in zip(periods, post, strict=True) if s]
        ipre = [index[month_start(p)] for p, s in zip(periods, post, strict=True) if not s]
        return level(ipost) - level(ipre)
    pre = v[~f].mean() if (~f).any() else 0.0
    return float(v[f].mean() - pre)


# ------------------------------------------------------------------------------- results
@dataclass
class CaseStudy:
    """Everything one event's case study produced (what :mod:`tradeimpact.report` reads).

    Attributes
    ----------
    event : Event
        The event as read from its TOML file.
    spec : dict
        The specification (TOML as a dict; ``spec["_path"]`` its file).
    main : polars.DataFrame
        One row per (design, outcome, variant), columns :data:`MAIN_COLUMNS`: ``estimate``;
        the headline interval ``ci_low, ci_high`` and ``ci_method`` (for the regression
        designs :func:`headline_inference`: studentized randomization inference by exact test
        inversion, PPML rows its PPML version; synthetic DiD's placebo SE interval for
        ``sdid``; none for ``synth``); ``p_value`` with ``p_method`` and ``p_fraction``
        (``"k/N"``: the exact randomization p-value, ``N = n_placebos`` assignments);
        ``headline`` (the method's key: ``ri_t``, ``ri`` or ``ppml_ri``); ``size_k``,
        ``size_n``, ``size_kinds``, ``size_check`` (the baseline rows: the headline test's
        rejections at 5% in ``size_n`` placebo runs on this panel, :func:`headline_size_check`,
        which kinds of run there were, ``date+unit``, ``date`` or ``unit``, and its sentence);
        ``cr1_se`` and ``cr1_p_value`` (cluster-robust by importer, labelled, beside the
        headline); ``ri_p_value``, ``ri_p_fraction``, ``ri_low``, ``ri_high`` (coefficient
        randomization inference, secondary: valid only when the units are equally noisy);
        ``ct_low, ct_high`` (Conley-Taber, where computable); ``same_test`` (where two of these
        methods are one test on this panel, which and why); ``nobs``; ``true_effect``
        (SYNTHETIC data only, else null); ``zeros_dropped`` (zero flows left out of a log
        outcome); ``note``.
    panels : dict
        ``design -> Panel`` of the baseline specification (log quantity; the mirror's gap).
    results : dict
        ``"design/outcome/variant" -> `` the estimator's result object (feols / ppml / synthdid).
    ri : dict
        ``"design/outcome/variant" ->`` the headline inference result of that row
        (:class:`~tradeimpact.inference.studentized.StudentizedRandomizationResult`, or
        :class:`~tradeimpact.inference.ppml_placebo.PPMLPlaceboResult` for PPML rows); the same
        object is each regression result's ``headlines["treat"].result``.
    placebo_distributions : polars.DataFrame
        ``design, outcome, variant, assignment, estimate, is_actual``: every RI placebo estimate.
    event_studies : dict
        ``design ->`` :class:`~tradeimpact.models.results.EventStudyResult` of
        :func:`tradeimpact.models.event_study.event_study` (TWFE, the treated importer's
        event-time dummies; ``ref`` the reference period, ``event_study_inputs()``).
    event_study_frames : dict
        ``design ->`` frame ``rel_time, estimate, ci_low, ci_high, ri_low, ri_high,
        true_effect``: pointwise CR1 95% interval and the randomization band (range of the
        same coefficient over the placebo countries).
    synth : dict
        ``"sc"`` -> :class:`~tradeimpact.models.synth.SynthResult` (synthetic control on the
        demeaned outcome, in-space placebos, RMSPE-ratio p-value); ``"sdid"``, ``"did"`` ->
        SynthDIDResult (synthetic DiD, DiD on the same aggregated panel).
    synth_gap, synth_placebos : polars.DataFrame or None
        ``period, gap`` (treated minus synthetic control) and ``period, unit, gap`` (each control
        given the treatment in turn).
    honestdid : HonestDiDResult or None
        Relative-magnitudes sensitivity of the average post effect (events named in the spec).
    raw : polars.DataFrame
        ``period, unit, value``: each importer's reported imports of the basket from the source
        (kg), for the raw-series figure; ``raw_base`` (date, date) the index base window.
    mirror : polars.DataFrame
        ``period, exporter_reported, importer_reported`` (kg): the treated importer's basket as
        both sides report it.
    diversion : polars.DataFrame
        ``period, supplier, value`` (kg): the treated importer's basket imports by supplier
        (the source country included).
    published : polars.DataFrame
        Published figures (:func:`published_series`).
    events : list of (date, str)
        Dates to mark on figures (event, end, confounders).
    is_synthetic : bool
        True when any input file this event's flows come from says SYNTHETIC in its name
        (a real extract beside the synthetic demo gives real case studies).
    inputs : list of (str, str)
        The input files this event's flows come from (with their mapping files) and their sha256.
    notes : list of str
        How panels were built and what was dropped.
    raw_side : str
        Whose reports the raw series are: ``"importer"`` (each importer's imports from the
        source) or ``"exporter"`` (the source's exports to each, when no importer reports exist).
    size_checks : dict
        ``"design/outcome/baseline" ->`` :class:`~tradeimpact.inference.headline.SizeCheck` of
        the row's headline test (:func:`headline_size_check`).
    """

    event: Event
    spec: dict[str, Any]
    main: pl.DataFrame
    panels: dict[str, Panel]
    results: dict[str, Any]
    ri: dict[str, Any]
    placebo_distributions: pl.DataFrame
    event_studies: dict[str, Any]
    event_study_frames: dict[str, pl.DataFrame]
    synth: dict[str, Any]
    synth_gap: pl.DataFrame | None
    synth_placebos: pl.DataFrame | None
    honestdid: Any | None
    raw: pl.DataFrame
    raw_base: tuple[date, date]
    mirror: pl.DataFrame
    diversion: pl.DataFrame
    published: pl.DataFrame
    events: list[tuple[date, str]]
    is_synthetic: bool
    inputs: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    raw_side: str = "importer"
    size_checks: dict[str, Any] = field(default_factory=dict)

    @property
    def freq(self) -> str:
        """``"M"`` or ``"A"``: the event's frequency (periods are months or years)."""
        return self.event.freq

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def title(self) -> str:
        return self.event.title

    def headline(self, design: str = "importer", outcome: str = "log_quantity") -> dict[str, Any]:
        """The baseline row of one design and outcome, as a dict."""
        rows = self.main.filter(
            (pl.col("design") == design)
            & (pl.col("outcome") == outcome)
            & (pl.col("variant") == "baseline")
        )
        if rows.height != 1:
            raise KeyError(f"no baseline row for {design}/{outcome}")
        return rows.row(0, named=True)


# ------------------------------------------------------------------------------ running
@dataclass
class _Variant:
    name: str
    event_month: date
    sample_end: date
    exclude: tuple[date, ...]
    sum3: bool = False
    extra_fe: tuple[str, ...] = ()
    basket: str = "core"
    controls: tuple[str, ...] = ()


def _variants(event: Event, spec: dict[str, Any]) -> list[_Variant]:
    base_basket = spec["spec"].get("basket", "core")
    f = event.freq
    default_end = period_start(event.end or event.window_end, f)
    antic = tuple(event.anticipation_months)
    out: list[_Variant] = []
    for v in spec.get("variants", [{"name": "baseline"}]):
        if "events" in v and event.name not in v["events"]:
            continue
        # months-only changes have no meaning on years: 3-month sums, calendar-month effects
        if f != "M" and (v.get("sum3") or "month_of_year" in v.get("extra_fe", ())):
            continue
        # a basket change that is no change (the event has no extended products)
        if v.get("basket") and event.basket(v["basket"]) == event.basket(base_basket):
            continue
        ev_month = event.event_month
        if v.get("event_month") == "alt":
            if event.alt_event_month is None:
                continue
            ev_month = period_start(event.alt_event_month, f)
        end = period_start(event.window_end, f) if v.get("long_post") else default_end
        excl = () if v.get("keep_anticipation") else antic
        if "drop_confounder" in v:
            excl = excl + event.confounder_months(v["drop_confounder"])
        controls = event.control_set(v.get("control_set"))
        common = dict(
            event_month=ev_month,
            sample_end=end,
            exclude=excl,
            sum3=bool(v.get("sum3", False)),
            extra_fe=tuple(v.get("extra_fe", ())),
            basket=v.get("basket", base_basket),
        )
        if v.get("leave_one_out"):
            for c in controls:
                out.append(
                    _Variant(
                        name=f"loo_{c}",
                        controls=tuple(x for x in controls if x != c),
                        **common,  # type: ignore[arg-type]
                    )
                )
        else:
            out.append(_Variant(name=v["name"], controls=controls, **common))  # type: ignore[arg-type]
    return out


def _month_end(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def design_frame(panel: Panel) -> pl.DataFrame:
    """The panel's rows as the regression designs and their inference read them.

    :attr:`Panel.data` with ``restricted_post`` (restricted product x post: the triple
    difference's treatment) and ``cell_period`` (product x period: the cells Conley-Taber
    compares). Every headline test, secondary test and size check of a row runs on this frame.
    """
    return panel.data.with_columns(
        (pl.col("restricted") * pl.col("post")).alias("restricted_post"),
        pl.concat_str([pl.col("product"), pl.col("period").cast(pl.String)], separator="|").alias(
            "cell_period"
        ),
    )


def inference_columns(
    design: str, data: pl.DataFrame, event: Event, basket: Sequence[str]
) -> dict[str, Any]:
    """Arguments of the headline test, randomization inference and Conley-Taber for a design:
    ``unit`` (the level of assignment), ``treated``, ``post`` and ``cells`` (see
    :func:`design_frame`)."""
    if design == "diversion":
        # placebo-in-product-space: which products are "restricted" is re-assigned
        return {"unit": "product", "treated": list(basket), "post": "post", "cells": "unit_period"}
    if design == "triple":
        return {"unit": "unit", "treated": event.treated, "post": "restricted_post",
                "cells": "cell_period"}  # fmt: skip
    return {"unit": "unit", "treated": event.treated, "post": "post", "cells": "product_period"}


#: Methods ``[inference] headline`` may name (:func:`headline_inference`).
HEADLINE_METHODS = ("ri_t", "ri")

#: Short labels of the headline and secondary methods, as the tables print them.
METHOD_LABELS = {
    "ri_t": "studentized RI (RI-t)",
    "ri": "coefficient RI",
    "ppml_ri": "PPML studentized RI",
}


def _inference_options(spec: dict[str, Any]) -> dict[str, Any]:
    inf = spec.get("inference", {})
    return {"max_exact": int(inf.get("ri_max_exact", 10_000)),
            "n_permutations": int(inf.get("ri_draws", 999)), "seed": int(inf.get("seed", 0))}  # fmt: skip


def headline_inference(
    data: pl.DataFrame,
    ric: dict[str, Any],
    fe: Sequence[str],
    spec: dict[str, Any],
    *,
    ppml: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The headline p-value and interval of a regression design: THE one place that chooses it.

    Every regression row of every case study (the real section's included) takes its headline
    ``p_value``, ``ci_low``/``ci_high`` and their labels from here, with the cluster-robust
    figures beside them (in :func:`_fit_row`). The method is the specification's
    ``[inference] headline``:

    * ``"ri_t"`` (the shipped default): studentized randomization inference, placebo-in-space
      (:func:`tradeimpact.inference.studentized.studentized_randomization_inference`, scale
      ``"pre_sd"``; MacKinnon & Webb 2020): the statistic of every assignment of the treatment
      is its estimate over the residual s.d. of its own units in the pre-period-only fit, so
      that a treated country noisier than the controls does not make the test over-reject
      (issue 10: 5% where the coefficient test rejects 48% with the treated unit 3x noisier);
      exact p as a fraction when every assignment is enumerated (at most ``ri_max_exact``,
      else ``ri_draws`` seeded draws); the interval by exact test inversion.
    * ``"ri"``: coefficient randomization inference
      (:func:`tradeimpact.inference.randomization.randomization_inference`): p = the share of
      placebo estimates at least as large in absolute value. Valid when the units are
      exchangeable (equal noise); kept as a labelled secondary column under ``"ri_t"``.

    PPML rows (``ppml=True``, the outcome in levels) headline
    :func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference` (every assignment
    refitted by PPML) with the statistic ``[inference] ppml_statistic`` (``"t_log"`` shipped:
    the coefficient over the assigned units' own log-residual s.e., the one whose size held at
    5 +- 1.5 points with the treated unit 1x-3x noisier in ``reports/size_ppml.md``); its
    interval by test inversion for a constant multiplicative effect (None, with the reason in
    ``p_method``, when it cannot be computed).

    Returns
    -------
    (result, fields)
        The inference result (kept in :attr:`CaseStudy.ri`; it has ``placebo`` with
        ``estimate``) and the row fields ``ci_low, ci_high, ci_method, p_value, p_fraction,
        n_placebos, p_method, headline``.
    """
    from tradeimpact.inference.ppml_placebo import ppml_randomization_inference
    from tradeimpact.inference.randomization import randomization_inference
    from tradeimpact.inference.studentized import studentized_randomization_inference

    inf = spec.get("inference", {})
    method = str(inf.get("headline", "ri_t"))
    level = float(spec["spec"].get("level", 0.95))
    if method not in HEADLINE_METHODS:
        raise ModelSpecError(
            f"{spec.get('_path', 'spec')}: key 'inference.headline': unknown method {method!r} "
            f"(offered: {', '.join(repr(m) for m in HEADLINE_METHODS)})"
        )
    opts = _inference_options(spec)
    args = (data, "y", ric["unit"], "period", ric["treated"], ric["post"], list(fe))
    res: Any
    if ppml:
        stat = str(inf.get("ppml_statistic", "t_log"))
        res = ppml_randomization_inference(*args, statistic=stat, **opts)  # type: ignore[arg-type]
        ci = res.conf_int(level)
        lo, hi = ci if ci is not None else (None, None)
        key = "ppml_ri"
        stat_word = {"t_log": "coefficient / own log-residual s.e.",
                     "t": "coefficient / own sandwich s.e.", "coef": "coefficient"}[stat]  # fmt: skip
        ci_method = ("PPML studentized RI, placebo-in-space, every assignment refitted "
                     f"({stat_word}; test inversion, constant multiplicative effect)")  # fmt: skip
        if ci is None:
            ci_method += f": {res.ci_note}"
        label = f"PPML studentized RI ({stat_word})"
    elif method == "ri_t":
        res = studentized_randomization_inference(*args, scale="pre_sd", **opts)
        lo, hi = res.conf_int(level)
        key = "ri_t"
        ci_method = ("studentized RI (RI-t, pre-period residual s.d.; MacKinnon-Webb 2020), "
                     "placebo-in-space (exact test inversion)")  # fmt: skip
        label = "studentized RI (RI-t, pre-period residual s.d.)"
    else:
        res = randomization_inference(*args, **opts)
        lo, hi = res.conf_int(level)
        key = "ri"
        ci_method = "coefficient randomization inference, placebo-in-space (test inversion)"
        label = "coefficient randomization inference"
    kind = "exact" if res.exact else "random draws"
    fields = {
        "ci_low": lo, "ci_high": hi, "ci_method": ci_method,
        "p_value": float(res.pvalue), "p_fraction": f"{res.p_numerator}/{res.p_denominator}",
        "n_placebos": int(res.p_denominator),
        "p_method": f"{label} ({kind}, {res.p_numerator}/{res.p_denominator})",
        "headline": key,
    }  # fmt: skip
    return res, fields


def headline_size_check(
    data: pl.DataFrame,
    ric: dict[str, Any],
    fe: Sequence[str],
    spec: dict[str, Any],
    *,
    ppml: bool = False,
) -> Any:
    """The headline test's size on this panel (:func:`~tradeimpact.inference.headline.size_check_panel`).

    The same test as :func:`headline_inference` (same design, fixed effects and options) rerun
    where the true effect is zero by construction: at placebo event dates inside the pre-period
    (the actual treated units, pre-period rows only) and at placebo units (each control given
    the treatment at the actual date, the treated units left out), at most
    ``[inference] size_check_runs`` (PPML rows: ``size_check_runs_ppml``) runs of each kind
    (evenly spaced dates; all control units or seeded draws of them). Returns a :class:`~tradeimpact.inference.headline.SizeCheck`
    (``k``, ``n``, ``sentence()``).
    """
    from tradeimpact.inference.headline import size_check_panel

    inf = spec.get("inference", {})
    opts = _inference_options(spec)
    runs = int(inf.get("size_check_runs", 10))
    if ppml:
        # every PPML run refits every assignment by IRLS: fewer runs keep the build bounded
        method = "ppml_ri"
        opts["statistic"] = str(inf.get("ppml_statistic", "t_log"))
        runs = int(inf.get("size_check_runs_ppml", runs))
    else:
        method = str(inf.get("headline", "ri_t"))
        if method == "ri_t":
            opts["scale"] = "pre_sd"
    with warnings.catch_warnings():
        # Safe: a placebo date whose treatment the fixed effects absorb raises ModelSpecError
        # after a CollinearityWarning, and size_check_panel records that run in
        # SizeCheck.skipped (printed in the tables); only that warning is silenced.
        warnings.simplefilter("ignore", CollinearityWarning)
        return size_check_panel(
            data, "y", ric["unit"], "period", ric["treated"], ric["post"], list(fe),
            method=method, options=opts, level=0.05, max_runs=runs,
            seed=int(inf.get("seed", 0)),
        )  # fmt: skip


def _fit_row(
    panel: Panel,
    design: str,
    outcome: str,
    variant: _Variant,
    fe: list[str],
    event: Event,
    basket: Sequence[str],
    spec: dict[str, Any],
    store: dict[str, Any],
) -> dict[str, Any]:
    """Estimate one (design, outcome, variant): estimator + RI + Conley-Taber + CR1."""
    from tradeimpact.inference.conley_taber import conley_taber_panel
    from tradeimpact.inference.headline import same_test
    from tradeimpact.inference.randomization import randomization_inference
    from tradeimpact.models.linear import feols
    from tradeimpact.models.ppml import ppml
    from tradeimpact.models.results import Headline

    level = float(spec["spec"].get("level", 0.95))
    data = design_frame(panel)
    key = f"{design}/{outcome}/{variant.name}"
    ric = inference_columns(design, data, event, basket)
    cluster = ric["unit"]
    row: dict[str, Any] = {"design": design, "outcome": outcome, "variant": variant.name}
    notes: list[str] = []
    res: Any
    if outcome.startswith("ppml"):
        res = ppml(data, "y", ["treat"], fe, vcov={"CR1": cluster})
    else:
        res = feols(data, "y", ["treat"], fe=fe, vcov={"CR1": cluster})
    store["results"][key] = res
    est = float(res.params["treat"])
    se = float(res.std_errors["treat"])
    row.update(estimate=est, cr1_se=se, cr1_p_value=float(res.analytic_pvalues["treat"]),
               nobs=int(res.nobs))  # fmt: skip
    row["zeros_dropped"] = int(panel.dropped.get("zeros_in_log", 0))
    # headline: studentized randomization inference (PPML: every assignment refitted by PPML);
    # CR1 beside it (cr1_se, cr1_p_value), labelled; coefficient RI and Conley-Taber secondary
    is_ppml = outcome.startswith("ppml")
    head_res, head = headline_inference(data, ric, fe, spec, ppml=is_ppml)
    store["ri"][key] = head_res
    row.update(head)
    res.headlines["treat"] = Headline.of(res, "treat", head_res, method_key=head["headline"])
    if abs(head_res.estimate - est) > 1e-6 * max(1.0, abs(est)):
        notes.append(f"headline estimate {head_res.estimate:.6g} differs from the fit {est:.6g}")
    if variant.name == "baseline":
        sc = headline_size_check(data, ric, fe, spec, ppml=is_ppml)
        store["size_checks"][key] = sc
        kinds = [w for w in ("date", "unit") if sc.counts(w)[1]]
        row.update(size_k=sc.k, size_n=sc.n, size_check=sc.sentence(),
                   size_kinds="+".join(kinds) or None)  # fmt: skip
    pl_frame = head_res.placebo.with_columns(
        pl.lit(design).alias("design"), pl.lit(outcome).alias("outcome"),
        pl.lit(variant.name).alias("variant"),
    ).select("design", "outcome", "variant", "assignment", "estimate", "is_actual")  # fmt: skip
    store["placebos"].append(pl_frame)
    if not is_ppml:
        same: list[str] = []
        if head_res.same_test_as:
            same.append(f"the headline is the same test as {head_res.same_test_as}")
        coef = head_res
        if head["headline"] != "ri":
            coef = randomization_inference(
                data, "y", unit=ric["unit"], time="period", treated=ric["treated"],
                post=ric["post"], fe=list(fe), **_inference_options(spec),
            )  # fmt: skip
        c_lo, c_hi = coef.conf_int(level)
        row.update(ri_p_value=float(coef.pvalue), ri_low=c_lo, ri_high=c_hi,
                   ri_p_fraction=f"{coef.p_numerator}/{coef.p_denominator}")  # fmt: skip
        if design != "diversion":
            # Conley-Taber compares the treated group with each control group cell by cell:
            # it runs on the cells (product x month) every unit reports (zeros leave holes)
            n_units = data[ric["unit"]].n_unique()
            full = (
                data.group_by(ric["cells"]).agg(pl.col(ric["unit"]).n_unique().alias("_n"))
                .filter(pl.col("_n") == n_units)[ric["cells"]]
            )  # fmt: skip
            ct_data = data.filter(pl.col(ric["cells"]).is_in(full.implode()))
            try:
                ct = conley_taber_panel(
                    ct_data, "y", unit=ric["unit"], time=ric["cells"], treated=ric["treated"],
                    post=ric["post"], fe=fe, level=level,
                )  # fmt: skip
                row.update(ct_low=float(ct.low), ct_high=float(ct.high))
                if ct_data.height < data.height:
                    notes.append(
                        f"Conley-Taber on the {ct_data.height} rows whose cell every unit reports"
                    )
                why = same_test(coef, ct, level=level)
                if why:
                    same.append(f"coefficient RI and Conley-Taber are the same test here ({why})")
            except (ModelSpecError, ValueError) as exc:
                notes.append(f"Conley-Taber not computed: {exc}")
        row["same_test"] = "; ".join(same) if same else None
    row["note"] = "; ".join(notes) if notes else None
    return row


def _truth_for(
    truth: dict[str, Any] | None, design: str, outcome: str, panel: Panel, variant: _Variant
) -> float | None:
    if truth is None:
        return None
    per = panel.data.select("period", "post").unique().sort("period")
    # the post indicator is by period; for the triple/diversion designs too
    return true_effect(
        truth, design, outcome, per["period"].to_list(), [bool(x) for x in per["post"]],
        sum3=variant.sum3, basket=variant.basket,
    )  # fmt: skip


def _event_study(
    flows: pl.DataFrame,
    event: Event,
    design: str,
    spec: dict[str, Any],
    truth: dict[str, Any] | None,
) -> tuple[Any, pl.DataFrame]:
    """Monthly event study of the treated unit (:func:`tradeimpact.models.event_study`).

    TWFE with the treated unit's event-time dummies over the event file's ``event_time`` window
    (reference ``reference_period``, or the spec's ``[event_study] reference``), the design's
    fixed effects, CR1 by importer. The placebo band re-runs the same event study with each
    control importer given the event in turn (placebo-in-space).
    """
    from tradeimpact.models.event_study import event_study

    es = spec.get("event_study", {})
    ref = int(event.reference_period if event.reference_period != -1 else es.get("reference", -1))
    lo, hi = event.event_time
    f = event.freq
    ev = period_start(event.event_month, f)
    start = add_periods(ev, lo, f)
    end = add_periods(ev, hi, f)
    panel = build_panel(
        flows, event, design, es.get("outcome", "log_quantity"),
        window=(start, min(end, period_start(event.window_end, f))),
    )  # fmt: skip
    fe = spec.get("fixed_effects", {}).get(design, ["cell", "product_period"])
    data = panel.data

    def fit(unit: str) -> Any:
        # y is already the log outcome of the panel: outcome="level" uses it as it is
        d = data.with_columns((pl.col("unit") == unit).cast(pl.Int8).alias("_es_treated"))
        with warnings.catch_warnings():
            # Safe: with one placebo unit treated, the binned endpoints or event times that the
            # fixed effects absorb are dropped exactly as in the actual fit (which warns once);
            # only that warning is silenced.
            warnings.simplefilter("ignore", CollinearityWarning)
            return event_study(
                d, "y", "unit", "period", treated="_es_treated", event_date=ev, window=(lo, hi),
                ref=ref, endpoints="bin", fe=fe, vcov={"CR1": "unit"}, outcome="level",
                freq=f,  # type: ignore[arg-type]  # "M" or "A": Event.from_toml checks it
            )  # fmt: skip

    res = fit(event.treated)
    ks = res.event_times
    names = [res.event_terms[k] for k in ks]
    ci = res.analytic_conf_int(0.95)
    # placebo band: the range of each coefficient over the control importers, each given the
    # event in turn. Not event_study(inference="ri"): it needs every placebo importer to report
    # every event month, and a control with a zero month (a hole in the log outcome) has a
    # coefficient that cannot be estimated; here that one is missing and left out of the range.
    placebo = []
    for u in panel.units:
        if u == event.treated:
            continue
        r = fit(u)
        placebo.append([float(r.params[r.event_terms[k]]) if k in r.event_terms else np.nan
                        for k in ks])  # fmt: skip
    pmat = np.asarray(placebo, dtype=float)
    true_vals: list[float | None] = [None] * len(ks)
    if truth is not None:
        months = [add_periods(ev, k, f) for k in ks]
        ref_month = add_periods(ev, ref, f)
        true_vals = [
            true_effect(truth, design, "log_quantity", [ref_month, m], [False, True])
            for m in months
        ]
    frame = pl.DataFrame(
        {
            "rel_time": ks,
            "estimate": [float(res.params[n]) for n in names],
            "ci_low": [float(ci.loc[n, "lower"]) for n in names],
            "ci_high": [float(ci.loc[n, "upper"]) for n in names],
            "ri_low": np.nanmin(pmat, axis=0) if pmat.size else [None] * len(ks),
            "ri_high": np.nanmax(pmat, axis=0) if pmat.size else [None] * len(ks),
            "true_effect": true_vals,
        },
        schema_overrides={"true_effect": pl.Float64},
    )
    return res, frame


def _add_months(d: date, k: int) -> date:
    return add_periods(d, k, "M")


def _synth(
    flows: pl.DataFrame,
    event: Event,
    variant: _Variant,
    truth: dict[str, Any] | None,
    spec: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]], pl.DataFrame | None, pl.DataFrame | None, Panel]:
    """Synthetic control, synthetic DiD and DiD on the importer-side aggregated panel."""
    from tradeimpact.models.synth import synth
    from tradeimpact.models.synthdid import synthdid

    panel = build_panel(
        flows, event, str(spec["spec"].get("synth_design", "synth")),
        spec["spec"].get("synth_outcome", "log_quantity"),
        products=variant.basket, controls=variant.controls, event_month=variant.event_month,
        window=(event.window_start, variant.sample_end), exclude_periods=variant.exclude,
    )  # fmt: skip
    data = panel.data
    n_per = data["period"].n_unique()
    complete = data.group_by("unit").len().filter(pl.col("len") == n_per)["unit"].to_list()
    dropped_units = sorted(set(data["unit"].to_list()) - set(complete))
    data = data.filter(pl.col("unit").is_in(complete)).sort("unit", "period")
    # synthetic control on the outcome net of each unit's pre-period mean (Ferman & Pinto 2021,
    # "demeaned SC"): the treated importer is the largest, outside the donors' convex hull in
    # levels; synthetic DiD has its own intercept and uses the outcome as it is
    pre_mean = pl.col("y").filter(pl.col("post") == 0).mean().over("unit")
    data = data.with_columns((pl.col("y") - pre_mean).alias("y_demeaned"))
    seed = int(spec.get("inference", {}).get("seed", 0))
    out: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    s_outcome = str(spec["spec"].get("synth_outcome", "log_quantity"))
    truth_v = _truth_for(truth, "synth", s_outcome, panel, variant)
    # synthetic control (Abadie, Diamond & Hainmueller 2010) on the demeaned outcome, with the
    # in-space placebos (every control treated in turn, the other controls its donors) and the
    # post/pre RMSPE ratio permutation p-value (an exact fraction of the units)
    first_post = data.filter(pl.col("post") == 1)["period"].min()
    note = (
        f"units without a complete series dropped: {', '.join(dropped_units)}"
        if dropped_units
        else None
    )
    sc_row: dict[str, Any] = {
        "design": "synth", "outcome": s_outcome, "variant": variant.name,
        "ci_low": None, "ci_high": None,
        "ci_method": "none (synthetic control: see the in-space placebo p-value)",
        "cr1_se": None, "nobs": int(data.height), "true_effect": truth_v,
        "zeros_dropped": int(panel.dropped.get("zeros_in_log", 0)), "note": note,
    }  # fmt: skip
    gap = placebos = None
    try:
        sc = synth(data, "y_demeaned", "unit", "period", event.treated, first_post, seed=seed)
    except ModelSpecError as exc:
        sc_row.update(estimate=None, p_method="", note=f"synthetic control not estimated: {exc}")
    else:
        out["sc"] = sc
        n_units = sc.placebos.height
        sc_row.update(
            # the fraction unreduced (k of the N units), as the regression rows show theirs
            estimate=float(sc.att), p_value=sc.pvalue,
            p_fraction=f"{round(sc.pvalue * n_units)}/{n_units}",
            n_placebos=n_units,
            p_method=f"post/pre RMSPE ratio rank among {n_units} units (in-space placebos)",
        )  # fmt: skip
        n_pre = int(data.filter(pl.col("post") == 0)["period"].n_unique())
        if sc.pre_rmspe < 1e-6:
            # more donors than pre-periods: the weights reproduce the treated unit's pre-period
            # exactly, so the post/pre RMSPE ratios are ratios of rounding errors
            sc_row["note"] = "; ".join(x for x in (note, (
                f"pre-period fit exact (pre-RMSPE {sc.pre_rmspe:.1e}; {n_units - 1} donors, "
                f"{n_pre} pre-periods): the RMSPE-ratio rank is not informative")) if x)  # fmt: skip
        gap = sc.path.select(pl.col("time").alias("period"), "gap")
        if sc.placebo_gaps.height:
            placebos = sc.placebo_gaps.select(pl.col("time").alias("period"), "unit", "gap")
    rows.append(sc_row)
    for method, design in (("sdid", "sdid"), ("did", "synth_did")):
        res = synthdid(data, "y", "unit", "period", "treat", method=method,  # type: ignore[arg-type]
                       vcov="placebo" if method == "sdid" else None, seed=seed)  # fmt: skip
        out[method] = res
        if design == "synth_did":
            continue
        ci = res.analytic_conf_int(0.95).iloc[0]
        rows.append(
            {
                "design": design, "outcome": s_outcome, "variant": variant.name,
                "estimate": float(res.att), "ci_low": float(ci["lower"]),
                "ci_high": float(ci["upper"]),
                "ci_method": "placebo variance (Arkhangelsky et al. 2021, Algorithm 4), normal",
                "p_value": float(res.analytic_pvalues.iloc[0]),
                "p_method": "placebo variance, normal",
                "cr1_se": None, "nobs": int(data.height), "true_effect": truth_v,
                "zeros_dropped": int(panel.dropped.get("zeros_in_log", 0)), "note": note,
            }
        )  # fmt: skip
    return out, rows, gap, placebos, panel


def _honestdid(event: Event, es_res: Any, spec: dict[str, Any]) -> Any:
    """Relative-magnitudes sensitivity of the average post-event effect (events in the spec)."""
    from tradeimpact.sensitivity.honestdid import sensitivity_relative_magnitudes

    hd = spec.get("honestdid", {})
    times, b, s = es_res.event_study_inputs()
    ks = [int(k) for k in times]
    ref = int(es_res.ref)
    # post coefficients: the anticipation months and the first post months (bounded for speed)
    max_post = int(hd.get("max_post", 3))
    ks_keep = [k for k in ks if k < ref or ref < k <= max_post]
    idx = [ks.index(k) for k in ks_keep]
    ks = ks_keep
    b, s = b[idx], s[np.ix_(idx, idx)]
    # HonestDiD: pre-periods are the event times before the reference (the reference is the
    # last pre-period); the months after the reference (anticipation included) are "post",
    # and the target averages the post-event months (event time >= 0) only.
    n_pre = sum(k < ref for k in ks)
    post_ks = [k for k in ks if k > ref]
    lvec = np.array([1.0 if k >= 0 else 0.0 for k in post_ks])
    lvec = lvec / lvec.sum()
    # keep the pre-periods closest to the event (the dual-vertex enumeration grows fast)
    keep_pre = min(n_pre, int(hd.get("max_pre", 3)))
    sel = list(range(n_pre - keep_pre, n_pre)) + list(range(n_pre, len(ks)))
    return sensitivity_relative_magnitudes(
        b[sel], s[np.ix_(sel, sel)], keep_pre, len(post_ks),
        mbarvec=[float(x) for x in hd.get("mbar", [0.0, 0.5, 1.0, 1.5, 2.0])], l_vec=lvec,
        method="Conditional" if hd.get("method") == "Conditional" else "C-LF",
        grid_points=int(hd.get("grid_points", 200)), breakdown=bool(hd.get("breakdown", False)),
    )  # fmt: skip


def _series(
    flows: pl.DataFrame, event: Event, basket: Sequence[str], measure: str = "net_weight_kg"
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, str]:
    """Raw series, mirror series and diversion series for the figures (``measure``'s unit).

    The raw series are each importer's own reports of its imports from the source (importer
    side) or, when the data hold none (an exporter-side extract), the source's reports of its
    exports to each of them; the last item says which (``"importer"`` or ``"exporter"``).
    Provisional or modelled rows (:func:`tradeimpact.panel.not_data`) are left out.
    """
    c = pl.col
    start = period_start(event.window_start, event.freq)
    end = event.window_end
    if event.data_source is not None and "source" in flows.columns:
        flows = flows.filter(c("source") == event.data_source)
    base = flows.filter(c("hs6").is_in(list(basket)) & c("period").is_between(start, end)
                        & (c("freq") == event.freq))  # fmt: skip
    if "flags" in base.columns:
        base = base.filter(~not_data())
    importers = [event.treated, *event.controls]
    raw = (
        base.filter((c("flow") == "M") & (c("partner_iso3") == event.source_country)
                    & c("reporter_iso3").is_in(importers))
        .group_by("period", "reporter_iso3").agg(c(measure).sum().alias("value"))
        .rename({"reporter_iso3": "unit"}).sort("unit", "period")
    )  # fmt: skip
    side = "importer"
    if raw.height == 0:
        side = "exporter"
        raw = (
            base.filter((c("flow") == "X") & (c("reporter_iso3") == event.source_country)
                        & c("partner_iso3").is_in(importers))
            .group_by("period", "partner_iso3").agg(c(measure).sum().alias("value"))
            .rename({"partner_iso3": "unit"}).sort("unit", "period")
        )  # fmt: skip
    imp = base.filter((c("flow") == "M") & (c("reporter_iso3") == event.treated)
                      & (c("partner_iso3") == event.source_country))  # fmt: skip
    exp = base.filter((c("flow") == "X") & (c("reporter_iso3") == event.source_country)
                      & (c("partner_iso3") == event.treated))  # fmt: skip
    mirror = (
        imp.group_by("period").agg(c(measure).sum().alias("importer_reported"))
        .join(exp.group_by("period").agg(c(measure).sum().alias("exporter_reported")),
              on="period", how="full", coalesce=True)
        .select("period", "exporter_reported", "importer_reported").sort("period")
    )  # fmt: skip
    if imp.height == 0 or exp.height == 0:  # one side only: there is no mirror to show
        mirror = mirror.clear()
    div = (
        base.filter((c("flow") == "M") & (c("reporter_iso3") == event.treated)
                    & c("partner_iso3").is_in([event.source_country, *event.suppliers]))
        .group_by("period", "partner_iso3").agg(c(measure).sum().alias("value"))
        .rename({"partner_iso3": "supplier"}).sort("supplier", "period")
    )  # fmt: skip
    return raw, mirror, div, side


def _event_inputs(
    loaded: LoadedFlows, event: Event, spec: dict[str, Any]
) -> tuple[bool, list[tuple[str, str]]]:
    """Whether the flows one event can use are SYNTHETIC, and the input files they come from.

    The flows of the event's frequency, window and products (every basket) that have the source
    country as exporter or the treated country as importer. A case study is synthetic when any of
    them comes from a file whose name says SYNTHETIC: a real extract beside the synthetic demo
    gives a real case study (and the demo's events stay synthetic). Raises
    :class:`~tradeimpact.errors.TradeImpactError` when there are none (naming what is missing).
    """
    c = pl.col
    flows = loaded.flows
    if event.data_source is not None and "source" in flows.columns:
        flows = flows.filter(c("source") == event.data_source)
    prods = sorted({*event.core, *event.extended, *event.comparison})
    start = period_start(event.window_start, event.freq)
    sel = flows.filter(
        (c("freq") == event.freq) & c("period").is_between(start, event.window_end)
        & c("hs6").is_in(prods)
        & ((c("exporter_iso3") == event.source_country) | (c("importer_iso3") == event.treated))
    )  # fmt: skip
    if sel.height == 0:
        where = f" in {loaded.data_dir}" if loaded.data_dir is not None else ""
        freq_word = "annual" if event.freq == "A" else "monthly"
        raise TradeImpactError(
            f"event {event.name} ({event.path}): no {freq_word} flows{where}"
            f"{f' from source {event.data_source!r}' if event.data_source else ''} of products "
            f"{', '.join(prods)} between {start} and {event.window_end} with exporter "
            f"{event.source_country} or importer {event.treated}: is the data for this event "
            "loaded?"
        )
    if "source_file" not in sel.columns:
        return loaded.is_synthetic, loaded.inputs
    used = {Path(str(n)).name for n in sel["source_file"].unique().drop_nulls().to_list()}
    syn = any("SYNTHETIC" in n for n in used)
    stems = {n.split(".")[0] for n in used}
    inputs = [
        (n, h) for n, h in loaded.inputs
        if Path(n).name in used or (n.endswith(MAPPING_SUFFIX)
                                    and Path(n).name[: -len(MAPPING_SUFFIX)] in stems)
    ]  # fmt: skip
    return syn, inputs or loaded.inputs


def run_case_study(
    event_path: str | Path,
    data_dir_or_store: Any,
    spec_path: str | Path | None = None,
    *,
    designs: Sequence[str] | None = None,
    variants: bool = True,
    published_dir: str | Path | None = None,
) -> CaseStudy:
    """Run every design, outcome and variant of one event (see :class:`CaseStudy`).

    Parameters
    ----------
    event_path : path
        An event file (``analysis/events/rare_earth_2010.toml``).
    data_dir_or_store : path, FlowStore or polars frame
        A data directory of raw files (e.g. ``data_raw``: ingested into a temporary store), a
        store (:class:`~tradeimpact.store.FlowStore` or its root folder) or canonical flows.
        With a data directory holding ``SYNTHETIC_TRUE_EFFECTS.json`` and SYNTHETIC inputs, the
        true effects fill ``main["true_effect"]``.
    spec_path : path, optional
        Specification file (default ``analysis/specs/main.toml``).
    designs : sequence of str, optional
        Restrict to these designs (default: the spec's).
    variants : bool
        Run the robustness variants (default True); False runs the baseline only.
    published_dir : path, optional
        Folder of the published figures (default ``<data dir>/published`` or ``data_raw/published``).

    Returns
    -------
    CaseStudy
    """
    event = Event.from_toml(event_path)
    spec = spec_for_event(load_spec(spec_path), event)
    loaded = load_flows(data_dir_or_store)
    flows = loaded.flows
    is_synthetic, inputs = _event_inputs(loaded, event, spec)
    truth = load_true_effects(loaded.data_dir) if is_synthetic else None
    want = list(designs) if designs is not None else list(spec["spec"]["designs"])
    outcomes = list(spec["spec"].get("outcomes", ["log_quantity"]))
    fes = spec.get("fixed_effects", {})
    all_variants = _variants(event, spec)
    baseline = next(v for v in all_variants if v.name == "baseline")
    store: dict[str, Any] = {"results": {}, "ri": {}, "placebos": [], "size_checks": {}}
    rows: list[dict[str, Any]] = []
    panels: dict[str, Panel] = {}
    notes: list[str] = []

    def run(design: str, outcome: str, v: _Variant) -> None:
        fe = list(fes.get(design, ["cell", "product_period"])) + list(v.extra_fe)
        basket = event.basket(v.basket)
        panel = build_panel(
            flows, event, design, outcome, products=basket, controls=v.controls,
            event_month=v.event_month, window=(event.window_start, v.sample_end),
            exclude_periods=v.exclude, sum3=v.sum3,
        )  # fmt: skip
        if v.name == "baseline" or design == "mirror":
            panels.setdefault(design, panel)
        row = _fit_row(panel, design, panel.outcome if design == "mirror" else outcome, v, fe,
                       event, basket, spec, store)  # fmt: skip
        row["true_effect"] = _truth_for(truth, design, outcome, panel, v)
        rows.append(row)

    by_design = spec["spec"].get("outcomes_by_design", {})
    for design in want:
        if design in ("synth", "sdid"):
            continue
        for outcome in by_design.get(design, outcomes):
            run(design, outcome, baseline)
    if variants:
        v_design = str(spec["spec"].get("variants_design", "importer"))
        v_outcome = str(spec["spec"].get("variants_outcome", "log_quantity"))
        for v in all_variants:
            if v.name != "baseline":
                run(v_design, v_outcome, v)
    synth_res: dict[str, Any] = {}
    gap = placebos = None
    if "synth" in want or "sdid" in want:
        synth_res, srows, gap, placebos, spanel = _synth(flows, event, baseline, truth, spec)
        panels["synth"] = spanel
        rows.extend(r for r in srows if r["design"] in want)
    es_results: dict[str, Any] = {}
    es_frames: dict[str, pl.DataFrame] = {}
    for design in spec.get("event_study", {}).get("designs", ["importer"]):
        if design in want:
            es_results[design], es_frames[design] = _event_study(flows, event, design, spec, truth)
    hd = None
    if event.name in spec.get("honestdid", {}).get("events", []) and "importer" in es_results:
        hd = _honestdid(event, es_results["importer"], spec)
    main = pl.DataFrame(
        [{k: r.get(k) for k in MAIN_COLUMNS} for r in rows], schema=MAIN_SCHEMA, orient="row"
    )
    placebo = (
        pl.concat(store["placebos"])
        if store["placebos"]
        else pl.DataFrame(
            schema={
                "design": pl.String,
                "outcome": pl.String,
                "variant": pl.String,
                "assignment": pl.String,
                "estimate": pl.Float64,
                "is_actual": pl.Boolean,
            }
        )
    )
    basket = event.basket(baseline.basket)
    raw, mirror_s, div, raw_side = _series(
        flows, event, basket, str(spec["spec"].get("raw_measure", "net_weight_kg"))
    )
    for d, p in panels.items():
        notes.extend(f"{d}: {n}" for n in p.notes)
    pub_dir = Path(published_dir) if published_dir is not None else (
        (loaded.data_dir / "published") if loaded.data_dir is not None else None)  # fmt: skip
    marks: list[tuple[date, str]] = [(event.effective, "event")]
    if event.end is not None:
        marks.append((event.end, "end"))
    marks.extend((c.date, c.name.replace("_", " ")) for c in event.confounders)
    f = event.freq
    ev0 = period_start(event.event_month, f)
    # index base of the raw-series figure: the 12 months (3 years) before the event
    base_start = add_periods(ev0, -12 if f == "M" else -3, f)
    return CaseStudy(
        event=event,
        spec=spec,
        main=main,
        panels=panels,
        results=store["results"],
        ri=store["ri"],
        placebo_distributions=placebo,
        size_checks=store["size_checks"],
        event_studies=es_results,
        event_study_frames=es_frames,
        synth=synth_res,
        synth_gap=gap,
        synth_placebos=placebos,
        honestdid=hd,
        raw=raw,
        raw_base=(base_start, add_periods(ev0, -1, f)),
        mirror=mirror_s,
        diversion=div,
        published=published_series(pub_dir),
        events=sorted(marks),
        is_synthetic=is_synthetic,
        inputs=inputs,
        notes=notes,
        raw_side=raw_side,
    )


# ---------------------------------------------------------------------------- published
PUBLISHED_COLUMNS = ("series", "period", "value", "unit", "reported_by", "source")


def published_series(folder: str | Path | None = None) -> pl.DataFrame:
    """Published (press-quoted) monthly figures typed from research/events.md section 4.

    Reads every ``*.csv`` of ``folder`` (default ``data_raw/published`` of the repository):
    columns ``series, period (YYYY-MM), value, unit, reported_by, source`` (URL). Returns
    ``series, period (Date), value, unit, reported_by, source``, sorted by series and period.
    A malformed row raises :class:`~tradeimpact.errors.TradeImpactError` naming file, line, field.
    """
    d = Path(folder) if folder is not None else REPO / "data_raw" / "published"
    rows: list[dict[str, Any]] = []
    for f in sorted(d.glob("*.csv")) if d.exists() else []:
        with f.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in PUBLISHED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise TradeImpactError(f"{f}: missing column(s) {missing}")
            for i, r in enumerate(reader, start=2):
                try:
                    y, m = r["period"].split("-")
                    per = date(int(y), int(m), 1)
                except ValueError as exc:
                    raise TradeImpactError(
                        f"{f}, line {i}, field 'period': {r['period']!r} is not YYYY-MM"
                    ) from exc
                try:
                    val = float(r["value"])
                except ValueError as exc:
                    raise TradeImpactError(
                        f"{f}, line {i}, field 'value': {r['value']!r} is not a number"
                    ) from exc
                if not math.isfinite(val) or not r["source"].startswith("http"):
                    raise TradeImpactError(f"{f}, line {i}, field 'source': a URL is required")
                rows.append({"series": r["series"], "period": per, "value": val, "unit": r["unit"],
                             "reported_by": r["reported_by"], "source": r["source"]})  # fmt: skip
    schema = {"series": pl.String, "period": pl.Date, "value": pl.Float64, "unit": pl.String,
              "reported_by": pl.String, "source": pl.String}  # fmt: skip
    # unit and value break ties (a month with a monthly and a quarterly figure): a stable order
    return pl.DataFrame(rows, schema=schema).sort("series", "period", "unit", "value")
