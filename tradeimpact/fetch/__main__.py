"""``python -m tradeimpact.fetch comtrade|estat|baci|case-studies ...``."""

from tradeimpact.fetch.cli import main

raise SystemExit(main())
