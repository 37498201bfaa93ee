"""The estimation core, below the models: what every estimator shares (issue 13).

Layers import downward only (DESIGN.md): core <- models <- inference / sensitivity <- casestudy <-
report. Nothing here imports :mod:`tradeimpact.models` or anything above it.

=================================  ==========================================================
module                             holds
=================================  ==========================================================
:mod:`~tradeimpact.core.frame`     ``to_polars`` (polars, lazy, pandas, pyarrow in: the one
                                   frame converter), ``check_columns``, ``numeric_column``
:mod:`~.fixed_effects`             ``FixedEffects`` (build, subset, singletons), ``demean``
                                   (alternating projections), ``is_nested``, ``fe_dof``
:mod:`~.sample`                    ``estimation_sample``: the rows used and the drop counts by
                                   reason (``result.dropped``), for feols and ppml
:mod:`~.collinearity`              the one collinearity rule (``collinear_columns``,
                                   ``COLLIN_TOL = 1e-9``) and ``CollinearityWarning``
:mod:`~.covariance`                iid, HC1, CR1 (one- and two-way), Driscoll-Kraay;
                                   ``parse_vcov`` (the one ``vcov=``/``cluster=`` parser) ->
                                   ``VcovSpec``; ``warn_negative_variances``
:mod:`~.cohort`                    the never-treated rule (0, inf, null) of staggered designs
:mod:`~.registry`                  inference methods named by the models, registered by
                                   :mod:`tradeimpact.inference`
=================================  ==========================================================
"""
