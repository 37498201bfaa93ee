"""Run one case study end to end: an event file + data + a specification -> :class:`CaseStudy`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.casestudy.designs import (
    Variant,
    event_study_design,
    fit_row,
    honestdid_sensitivity,
    synth_designs,
)
from tradeimpact.casestudy.designs import variants as event_variants
from tradeimpact.casestudy.loading import (
    event_inputs,
    load_flows,
    load_true_effects,
    published_series,
)
from tradeimpact.casestudy.results import MAIN_COLUMNS, MAIN_SCHEMA, PLACEBO_SCHEMA, CaseStudy
from tradeimpact.casestudy.series import figure_series
from tradeimpact.casestudy.spec import Spec, load_spec
from tradeimpact.casestudy.truth import truth_for
from tradeimpact.panel import Event, Panel, add_periods, build_panel, period_start

__all__ = ["run_case_study"]


def run_case_study(
    event_path: str | Path,
    data_dir_or_store: Any,
    spec: str | Path | Spec | None = None,
    *,
    designs: Sequence[str] | None = None,
    variants: bool = True,
    published_dir: str | Path | None = None,
    spec_path: str | Path | None = None,
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
    spec : path or Spec
        The specification: a TOML file (the project's is ``analysis/specs/main.toml``; read by
        :func:`~tradeimpact.casestudy.spec.load_spec`) or a :class:`Spec`. Required: there is no
        default file. ``spec_path=`` is the same argument under its former name.
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
    if spec is None:
        spec = spec_path
    elif spec_path is not None:
        raise TypeError("run_case_study: pass the specification once (spec or spec_path)")
    if spec is None:
        raise TypeError(
            "run_case_study: the specification is required: pass spec=<a TOML file, e.g. the "
            "project's analysis/specs/main.toml> or a Spec (there is no default file)"
        )
    event = Event.from_toml(event_path)
    spec = (spec if isinstance(spec, Spec) else load_spec(spec)).for_event(event.name)
    loaded = load_flows(data_dir_or_store)
    flows = loaded.flows
    is_synthetic, inputs = event_inputs(loaded, event)
    truth = load_true_effects(loaded.data_dir) if is_synthetic else None
    want = list(designs) if designs is not None else list(spec.designs)
    all_variants = event_variants(event, spec)
    baseline = next(v for v in all_variants if v.name == "baseline")
    store: dict[str, Any] = {"results": {}, "ri": {}, "placebos": [], "size_checks": {}}
    rows: list[dict[str, Any]] = []
    panels: dict[str, Panel] = {}
    notes: list[str] = []

    def run(design: str, outcome: str, v: Variant) -> None:
        fe = [*spec.fe(design), *v.extra_fe]
        basket = event.basket(v.basket)
        panel = build_panel(
            flows, event, design, outcome, products=basket, controls=v.controls,
            event_month=v.event_month, window=(event.window_start, v.sample_end),
            exclude_periods=v.exclude, sum3=v.sum3,
        )  # fmt: skip
        if v.name == "baseline" or design == "mirror":
            panels.setdefault(design, panel)
        row = fit_row(panel, design, panel.outcome if design == "mirror" else outcome, v, fe,
                       event, basket, spec, store)  # fmt: skip
        row["true_effect"] = truth_for(truth, design, outcome, panel, sum3=v.sum3,
                                       basket=v.basket)  # fmt: skip
        rows.append(row)

    for design in want:
        if design in ("synth", "sdid"):
            continue
        for outcome in spec.outcomes_of(design):
            run(design, outcome, baseline)
    if variants:
        for v in all_variants:
            if v.name != "baseline":
                run(spec.variants_design, spec.variants_outcome, v)
    synth_res: dict[str, Any] = {}
    gap = placebos = None
    if "synth" in want or "sdid" in want:
        synth_res, srows, gap, placebos, spanel = synth_designs(flows, event, baseline, truth, spec)
        panels["synth"] = spanel
        rows.extend(r for r in srows if r["design"] in want)
    es_results: dict[str, Any] = {}
    es_frames: dict[str, pl.DataFrame] = {}
    for design in spec.event_study.designs:
        if design in want:
            es_results[design], es_frames[design] = event_study_design(
                flows, event, design, spec, truth
            )
    hd = None
    if event.name in spec.honestdid.events and "importer" in es_results:
        hd = honestdid_sensitivity(es_results["importer"], spec)
    main = pl.DataFrame(
        [{k: r.get(k) for k in MAIN_COLUMNS} for r in rows], schema=MAIN_SCHEMA, orient="row"
    )
    placebo = (
        pl.concat(store["placebos"]) if store["placebos"] else pl.DataFrame(schema=PLACEBO_SCHEMA)
    )
    basket = event.basket(baseline.basket)
    raw, mirror_s, div, raw_side = figure_series(flows, event, basket, spec.raw_measure)
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
