"""Inference with few treated units: cluster-robust, wild bootstrap, randomization (coefficient and
studentized), Conley-Taber (with the Ferman-Pinto correction), headline selection and size checks.

Every method is a function of a fitted result (``randomization_inference(result)``,
``wild_cluster_bootstrap(result, param=...)``, ``conley_taber(result)``, ...) as well as of a
panel or arrays (``staggered_randomization_inference(data, y, unit, time, cohort)`` for staggered
designs, ``result.with_inference("ri_staggered")`` on a fitted one); importing this package registers the methods by name in
:mod:`tradeimpact.core.registry` (:mod:`tradeimpact.inference.of_result`), where the models'
``inference=`` arguments and ``result.with_inference(name)`` find them.
"""

from tradeimpact.core.covariance import (
    vcov_cluster,
    vcov_driscoll_kraay,
    vcov_hetero,
    vcov_iid,
)
from tradeimpact.inference.conley_taber import ConleyTaberResult, conley_taber, conley_taber_panel
from tradeimpact.inference.headline import (
    SizeCheck,
    clopper_pearson,
    event_study_size_check,
    same_test,
    size_check,
    size_check_panel,
)
from tradeimpact.inference.of_result import (
    EventTimeInference,
    PlaceboTerm,
    placebo_context,
)
from tradeimpact.inference.ppml_placebo import PPMLPlaceboResult, ppml_randomization_inference
from tradeimpact.inference.randomization import (
    RandomizationResult,
    placebo_in_space,
    randomization_inference,
)
from tradeimpact.inference.staggered import (
    StaggeredRandomizationResult,
    staggered_randomization_inference,
)
from tradeimpact.inference.studentized import (
    StudentizedRandomizationResult,
    pre_period_scales,
    studentized_randomization_inference,
)
from tradeimpact.inference.wild_bootstrap import WildBootstrapResult, wild_cluster_bootstrap

__all__ = [
    "ConleyTaberResult",
    "EventTimeInference",
    "PPMLPlaceboResult",
    "PlaceboTerm",
    "RandomizationResult",
    "SizeCheck",
    "StaggeredRandomizationResult",
    "StudentizedRandomizationResult",
    "WildBootstrapResult",
    "clopper_pearson",
    "conley_taber",
    "conley_taber_panel",
    "event_study_size_check",
    "placebo_context",
    "placebo_in_space",
    "ppml_randomization_inference",
    "pre_period_scales",
    "randomization_inference",
    "same_test",
    "size_check",
    "size_check_panel",
    "staggered_randomization_inference",
    "studentized_randomization_inference",
    "vcov_cluster",
    "vcov_driscoll_kraay",
    "vcov_hetero",
    "vcov_iid",
    "wild_cluster_bootstrap",
]
