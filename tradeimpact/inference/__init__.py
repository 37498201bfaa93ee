"""Inference valid with few treated units: cluster-robust, wild bootstrap, randomization, Conley-Taber."""

from tradeimpact.inference.cluster import (
    vcov_cluster,
    vcov_driscoll_kraay,
    vcov_hetero,
    vcov_iid,
)
from tradeimpact.inference.wild_bootstrap import WildBootstrapResult, wild_cluster_bootstrap

__all__ = [
    "WildBootstrapResult",
    "vcov_cluster",
    "vcov_driscoll_kraay",
    "vcov_hetero",
    "vcov_iid",
    "wild_cluster_bootstrap",
]
