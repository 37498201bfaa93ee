"""Thin script: run every case study in analysis/events/ on a data folder and print the results.

    python analysis/run_case_studies.py [--data data_raw] [--no-variants]

No estimation logic here: :func:`tradeimpact.casestudy.run_case_study` does the work; the full
report (figures, tables, PDF/HTML) is ``python -m tradeimpact.report.build`` (``nox -s report``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tradeimpact.casestudy import run_case_study  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1] if __doc__ else None)
    ap.add_argument("--data", default=str(HERE.parent / "data_raw"))
    ap.add_argument("--spec", default=str(HERE / "specs" / "main.toml"))
    ap.add_argument("--no-variants", action="store_true")
    args = ap.parse_args()
    pl.Config.set_tbl_rows(200)
    pl.Config.set_tbl_cols(20)
    pl.Config.set_tbl_width_chars(200)
    for path in sorted((HERE / "events").glob("*.toml")):
        cs = run_case_study(path, args.data, args.spec, variants=not args.no_variants)
        label = " (SYNTHETIC)" if cs.is_synthetic else ""
        print(f"\n{cs.title}{label}")
        print(
            cs.main.select(
                "design", "outcome", "variant", "estimate", "ci_low", "ci_high", "p_fraction",
                "cr1_se", "nobs", "true_effect",
            )
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
