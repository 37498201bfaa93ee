"""The estimation core, below the models: covariance estimators (:mod:`tradeimpact.core.covariance`).

Layers import downward only (DESIGN.md): core <- models <- inference / sensitivity <- casestudy <-
report. The covariance estimators live here because the estimators (``models``) compute their
standard errors with them and the inference layer builds on the fitted results.
"""
