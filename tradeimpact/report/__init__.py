"""The report layer: figures, tables (``etable``), the PDF (typst) and HTML report, the build.

``python -m tradeimpact.report.build --data data_raw --out reports`` (``nox -s report``) runs the
case studies on ``data_raw/`` and writes everything into ``reports/``.
"""

from tradeimpact.report.tables import etable

__all__ = ["etable"]
