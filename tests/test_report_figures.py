"""Figures: SYNTHETIC labels, units on the axes, 300-dpi PNG, no timestamps, same bytes twice."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import numpy as np
import polars as pl
import pytest
from PIL import Image

from tradeimpact.report import figures, style

PERIODS = pl.date_range(date(2009, 1, 1), date(2011, 12, 1), "1mo", eager=True)
EVENTS = [
    (date(2010, 9, 1), "restriction"),
    (date(2011, 3, 1), "earthquake"),
    (date(2015, 1, 1), "later"),
]


def _frames() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(1)
    n = PERIODS.len()
    raw = pl.concat(
        pl.DataFrame({"period": PERIODS, "unit": [u] * n, "value": rng.uniform(1e5, 2e5, n)})
        for u in ("JPN", "USA", "KOR")
    )
    k = np.arange(-6, 7)
    est = rng.normal(0, 0.1, k.size)
    return {
        "raw": raw,
        "es": pl.DataFrame(
            {
                "rel_time": k,
                "estimate": est,
                "ci_low": np.where(k == -1, np.nan, est - 0.2),
                "ci_high": np.where(k == -1, np.nan, est + 0.2),
                "ri_low": np.full(k.size, -0.3),
                "ri_high": np.full(k.size, 0.3),
            }
        ),
        "gap": pl.DataFrame({"period": PERIODS, "gap": rng.normal(0, 0.1, n)}),
        "placebos": raw.select("period", "unit", (pl.col("value").log() - 12).alias("gap")),
        "div": raw.rename({"unit": "supplier"}),
        "mirror": pl.DataFrame(
            {
                "period": PERIODS,
                "exporter_reported": rng.uniform(1e5, 2e5, n),
                "importer_reported": rng.uniform(1e5, 2e5, n),
            }
        ),
        "hd": pl.DataFrame(
            {"param": [0.0, 1.0, 2.0], "lb": [-1.0, -1.5, -2.0], "ub": [-0.5, 0.0, 0.5]}
        ),
    }


def _all_figures(synthetic: bool) -> dict[str, object]:
    f = _frames()
    kw = {"source": "test", "synthetic": synthetic}
    return {
        "raw": figures.raw_series(
            f["raw"],
            treated="JPN",
            base=(date(2009, 1, 1), date(2009, 12, 1)),
            events=EVENTS,
            title="raw",
            quantity="net weight",
            **kw,
        ),
        "es": figures.event_study(f["es"], title="es", **kw),
        "sc": figures.synth_gap(
            f["gap"], f["placebos"], treated="JPN", events=EVENTS, title="sc", **kw
        ),
        "div": figures.diversion(f["div"], events=EVENTS, title="div", **kw),
        "mirror": figures.mirror_gap(
            f["mirror"], exporter="CHN", importer="JPN", events=EVENTS, title="mirror", **kw
        ),
        "hd": figures.honestdid(
            f["hd"], (-0.9, -0.6), restriction="relative_magnitudes", title="hd", **kw
        ),
    }


def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts] + [ax.get_title(loc="left")]
    return out


UNITS = {
    "raw": "index",
    "es": "log points",
    "sc": "log points",
    "div": "tonnes",
    "mirror": "tonnes",
    "hd": "log points",
}


@pytest.mark.parametrize("synthetic", [True, False])
def test_labels_units_and_synthetic_marks(synthetic):
    import matplotlib.pyplot as plt

    for name, fig in _all_figures(synthetic).items():
        texts = " | ".join(_texts(fig))  # type: ignore[arg-type]
        assert ("SYNTHETIC" in texts) == synthetic, name
        if synthetic:
            assert fig._suptitle.get_text().startswith("SYNTHETIC: "), name  # type: ignore[attr-defined]
        assert "Source: test" in texts, name
        ax = fig.axes[0]  # type: ignore[attr-defined]
        assert UNITS[name] in ax.get_ylabel(), (name, ax.get_ylabel())
        assert fig.axes[-1].get_xlabel(), name  # type: ignore[attr-defined]  # the lowest panel
        # event marks outside the data's months are left out (the 2015 mark)
        assert "later" not in texts, name
        assert fig.get_figwidth() == style.SINGLE_COLUMN  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]


def test_files_deterministic_300dpi_no_timestamps(tmp_path):
    paths_a = style.save_figure(_all_figures(True)["es"], tmp_path / "a", "SYNTHETIC_es")  # type: ignore[arg-type]
    paths_b = style.save_figure(_all_figures(True)["es"], tmp_path / "b", "SYNTHETIC_es")  # type: ignore[arg-type]
    for ext in ("pdf", "svg", "png"):
        assert paths_a[ext].read_bytes() == paths_b[ext].read_bytes(), ext
    pdf = paths_a["pdf"].read_bytes()
    assert b"/CreationDate" not in pdf and b"/Producer" not in pdf
    assert b"<dc:date>" not in paths_a["svg"].read_bytes()
    with Image.open(paths_a["png"]) as im:
        assert im.size == (round(style.SINGLE_COLUMN * 300), round(2.6 * 300))
        assert "Software" not in im.info
        assert round(im.info["dpi"][0]) == 300
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(paths_a["pdf"]), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "SYNTHETIC" in text and "log points" in text


def test_index_series_base_mean_is_100():
    f = _frames()["raw"]
    idx = figures.index_series(f, (date(2009, 1, 1), date(2009, 12, 1)))
    base = (
        idx.filter(pl.col("period") <= date(2009, 12, 1))
        .group_by("unit")
        .agg(pl.col("index").mean())
    )
    assert np.allclose(base["index"].to_numpy(), 100.0)
