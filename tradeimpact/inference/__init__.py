"""Inference valid with few treated units: cluster-robust, wild bootstrap, randomization, Conley-Taber."""
