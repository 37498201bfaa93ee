"""Run the case studies end to end: an event file + data + a specification -> every design, outcome
and variant.

:func:`run_case_study` reads an event (``analysis/events/*.toml``) and a specification (a TOML
file, passed explicitly: the project's is ``analysis/specs/main.toml``), loads the flows (a data
directory of raw files, a :class:`~tradeimpact.store.FlowStore`, or a frame of canonical flows),
builds each design's panel (:func:`tradeimpact.panel.build_panel`) and calls the package's
estimators on it. It holds no estimation logic of its own: fixed-effects OLS
(:func:`tradeimpact.models.linear.feols`), PPML (:func:`tradeimpact.models.ppml.ppml`),
studentized randomization inference
(:func:`tradeimpact.inference.studentized.studentized_randomization_inference`; PPML:
:func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference`), its size check
(:func:`tradeimpact.inference.headline.size_check_panel`), coefficient randomization inference
(:func:`tradeimpact.inference.randomization.randomization_inference`), Conley-Taber
(:func:`tradeimpact.inference.conley_taber.conley_taber_panel`), the event study
(:func:`tradeimpact.models.event_study.event_study`) and its placebo band
(:func:`tradeimpact.inference.randomization.placebo_in_space`), synthetic control
(:func:`tradeimpact.models.synth.synth`), synthetic DiD (:func:`tradeimpact.models.synthdid.synthdid`)
and HonestDiD (:func:`tradeimpact.sensitivity.honestdid.sensitivity_relative_magnitudes`).

The package, one module per part:

``spec``      the specification: frozen dataclasses read from the TOML and validated key by key
              (:func:`load_spec`, :class:`Spec`; the schema is in its docstring)
``loading``   the inputs: flows from a data directory, a store or a frame (:func:`load_flows`),
              the input files, the published figures (:func:`published_series`)
``truth``     the SYNTHETIC demo's true effects (:func:`true_effect`)
``designs``   design -> panel -> estimator calls (:func:`fit_row`, the event study, synthetic
              control, HonestDiD) and the robustness variants (:func:`variants`)
``headline``  the headline test of every regression row and its size check
``series``    the series the figures draw
``results``   :class:`CaseStudy` and the results table's columns (:data:`MAIN_COLUMNS`)
``run``       :func:`run_case_study`
"""

from tradeimpact.casestudy.designs import (
    Variant,
    design_frame,
    event_study_design,
    fit_row,
    honestdid_sensitivity,
    inference_columns,
    synth_designs,
    variants,
)
from tradeimpact.casestudy.headline import (
    HEADLINE_METHODS,
    METHOD_LABELS,
    headline_inference,
    headline_size_check,
)
from tradeimpact.casestudy.loading import (
    MAPPING_SUFFIX,
    NOT_FLOW_DIRS,
    NOT_FLOW_SUFFIXES,
    PUBLISHED_COLUMNS,
    TRUE_EFFECTS_FILE,
    LoadedFlows,
    event_inputs,
    load_flows,
    load_true_effects,
    mapping_file,
    mapping_reader,
    published_series,
    raw_flow_files,
)
from tradeimpact.casestudy.results import (
    MAIN_COLUMNS,
    MAIN_SCHEMA,
    PLACEBO_SCHEMA,
    RESULT_COLUMNS,
    CaseStudy,
)
from tradeimpact.casestudy.run import run_case_study
from tradeimpact.casestudy.series import figure_series
from tradeimpact.casestudy.spec import (
    EventStudySpec,
    HonestDiDSpec,
    InferenceSpec,
    Spec,
    VariantSpec,
    load_spec,
    parse_spec,
    spec_for_event,
)
from tradeimpact.casestudy.truth import true_effect, truth_for

__all__ = [
    "HEADLINE_METHODS",
    "MAIN_COLUMNS",
    "MAIN_SCHEMA",
    "MAPPING_SUFFIX",
    "METHOD_LABELS",
    "NOT_FLOW_DIRS",
    "NOT_FLOW_SUFFIXES",
    "PLACEBO_SCHEMA",
    "PUBLISHED_COLUMNS",
    "RESULT_COLUMNS",
    "TRUE_EFFECTS_FILE",
    "CaseStudy",
    "EventStudySpec",
    "HonestDiDSpec",
    "InferenceSpec",
    "LoadedFlows",
    "Spec",
    "Variant",
    "VariantSpec",
    "design_frame",
    "event_inputs",
    "event_study_design",
    "figure_series",
    "fit_row",
    "headline_inference",
    "headline_size_check",
    "honestdid_sensitivity",
    "inference_columns",
    "load_flows",
    "load_spec",
    "load_true_effects",
    "mapping_file",
    "mapping_reader",
    "parse_spec",
    "published_series",
    "raw_flow_files",
    "run_case_study",
    "spec_for_event",
    "synth_designs",
    "true_effect",
    "truth_for",
    "variants",
]
