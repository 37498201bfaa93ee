"""Fetching the real data: UN Comtrade API v1, Japan's e-Stat, CEPII BACI archives.

Each fetcher saves the source's answers unchanged under ``data_raw/<source>/`` beside a sidecar
(request without any key, time, sha256, row count; :mod:`tradeimpact.fetch.chunks`), skips what
is already on disk and intact (so an interrupted fetch resumes), and ends with a summary.

* :func:`tradeimpact.fetch.comtrade.fetch_comtrade` (``tradeimpact fetch comtrade``)
* :func:`tradeimpact.fetch.estat.fetch_estat_stats_data` (``tradeimpact fetch estat
  --stats-data-id`` / ``--tables``: e-Stat by table id) and
  :func:`tradeimpact.fetch.estat.fetch_estat` (``tradeimpact fetch estat --years``: the CSV files)
* :func:`tradeimpact.fetch.baci.fetch_baci` (``tradeimpact fetch baci``)
* :mod:`tradeimpact.fetch.case_studies` (``nox -s fetch``): what the events in
  ``analysis/events/`` need.

Every command has ``--dry-run``: the plan (:class:`tradeimpact.fetch.chunks.FetchPlan`: each
request's URL without any key, its target file, the calls and the throttle time) without any
network access. HTTP goes through :class:`tradeimpact.fetch.http.HttpClient` (standard library
only; https only, a deadline per attempt).
"""
