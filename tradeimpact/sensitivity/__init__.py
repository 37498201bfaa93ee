"""Sensitivity of event-study conclusions: HonestDiD (Rambachan & Roth 2023), pre-trend power (Roth 2022)."""
