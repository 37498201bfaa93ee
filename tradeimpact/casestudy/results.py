"""What a case study produced: :class:`CaseStudy` (what :mod:`tradeimpact.report` reads) and the
columns of its results table (:data:`MAIN_COLUMNS`, defined in :mod:`tradeimpact.schema` so that
the report's tables know them without loading the case studies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from tradeimpact.casestudy.spec import Spec
from tradeimpact.panel import Event, Panel
from tradeimpact.schema import MAIN_COLUMNS, MAIN_SCHEMA, RESULT_COLUMNS

__all__ = ["MAIN_COLUMNS", "MAIN_SCHEMA", "PLACEBO_SCHEMA", "RESULT_COLUMNS", "CaseStudy"]

#: Columns of :attr:`CaseStudy.placebo_distributions`.
PLACEBO_SCHEMA: dict[str, pl.DataType] = {
    "design": pl.String(),
    "outcome": pl.String(),
    "variant": pl.String(),
    "assignment": pl.String(),
    "estimate": pl.Float64(),
    "is_actual": pl.Boolean(),
}


@dataclass
class CaseStudy:
    """Everything one event's case study produced (what :mod:`tradeimpact.report` reads).

    Attributes
    ----------
    event : Event
        The event as read from its TOML file.
    spec : Spec
        The specification as it applies to this event (:meth:`Spec.for_event`; ``spec.path``
        its file).
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
    spec: Spec
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
