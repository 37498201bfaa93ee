"""Publication style for every figure of the report: palette, fonts, labels, deterministic files.

* Palette: Okabe & Ito (2008) colour-blind-safe colours (the same as seaborn's ``"colorblind"``
  order for the first entries); Japan, the treated unit, is always vermillion, controls grey/blue.
* Size: single-column width (3.5 in) with 8-pt DejaVu Sans (shipped with matplotlib, so the glyphs
  and hence the bytes do not depend on the fonts installed on the machine).
* Every figure gets a source note at the bottom; figures made from synthetic data carry a
  diagonal ``SYNTHETIC`` watermark, a ``SYNTHETIC`` prefix in the title and ``SYNTHETIC`` in
  the file name.
* Files: vector PDF, SVG and 300-dpi PNG with every timestamp and software stamp removed
  (``metadata`` below, ``svg.hashsalt`` fixed), written atomically; the same figure gives the
  same bytes on every run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib as mpl
from cycler import cycler

mpl.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Okabe & Ito (2008), "Color Universal Design": black, orange, sky blue, bluish green, yellow,
#: blue, vermillion, reddish purple.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: Cycle used for several series (yellow left out: too light on white).
PALETTE: list[str] = [
    OKABE_ITO[k]
    for k in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "vermillion", "black")
]
TREATED = OKABE_ITO["vermillion"]
CONTROL = "#7F7F7F"
ESTIMATE = OKABE_ITO["blue"]
BAND = OKABE_ITO["sky_blue"]

#: Single-column width of a journal page, inches.
SINGLE_COLUMN = 3.5
DPI = 300
SVG_HASHSALT = "tradeimpact"

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 7.5,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 6.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "lines.linewidth": 1.1,
    "axes.prop_cycle": cycler(color=PALETTE),
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": SVG_HASHSALT,
    "path.simplify": True,
    "axes.formatter.use_mathtext": False,
}

PDF_METADATA: dict[str, Any] = {"Creator": None, "Producer": None, "CreationDate": None}
PNG_METADATA: dict[str, Any] = {"Software": None}
SVG_METADATA: dict[str, Any] = {"Date": None, "Creator": None}

SYNTHETIC_WORD = "SYNTHETIC"


@contextlib.contextmanager
def publication_style() -> Iterator[None]:
    """Context in which matplotlib uses the report's style (restored on exit)."""
    with mpl.rc_context(RC):  # type: ignore[arg-type]
        yield


def new_figure(height: float = 2.5, width: float = SINGLE_COLUMN) -> tuple[Figure, Axes]:
    """A single-axes figure at single-column width (call inside :func:`publication_style`)."""
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def mark_events(
    ax: Axes, events: Sequence[tuple[date | float, str]], *, ymax: float = 0.98, min_gap: float = 40
) -> None:
    """Vertical dashed lines at event dates, each labelled at the top of the axes.

    Labels are written vertically beside the line; a label closer than ``min_gap`` days (or
    x units) to the previous label is left out (its line stays) so that labels never overlap.
    """
    import matplotlib.dates as mdates

    last: float | None = None
    for x, label in sorted(events, key=lambda e: e[0]):  # type: ignore[arg-type, return-value]
        ax.axvline(x, color=OKABE_ITO["black"], lw=0.6, ls=(0, (3, 2)), zorder=1)  # type: ignore[arg-type]
        xn = float(mdates.date2num(x)) if isinstance(x, date) else float(x)
        if last is not None and xn - last < min_gap:
            continue
        last = xn
        ax.text(
            x,  # type: ignore[arg-type]
            ymax,
            " " + label,
            transform=ax.get_xaxis_transform(),
            rotation=90,
            ha="right",
            va="top",
            fontsize=5.5,
            color="#333333",
        )


def finish(
    fig: Figure,
    *,
    title: str,
    source: str,
    synthetic: bool,
) -> None:
    """Title, source note and (for synthetic data) the SYNTHETIC label and watermark; tight layout."""
    fig.suptitle(
        f"{SYNTHETIC_WORD}: {title}" if synthetic else title,
        x=0.01,
        ha="left",
        fontsize=RC["axes.titlesize"],
    )
    note = f"Source: {source}"
    if synthetic:
        note += f". {SYNTHETIC_WORD} DATA."
    fig.text(0.01, 0.005, note, ha="left", va="bottom", fontsize=5, color="#444444", wrap=True)
    if synthetic:
        fig.text(
            0.5,
            0.5,
            SYNTHETIC_WORD,
            ha="center",
            va="center",
            rotation=25,
            fontsize=30,
            color="#D55E00",
            alpha=0.12,
            zorder=0,
            fontweight="bold",
        )
    fig.tight_layout(rect=(0, 0.05, 1, 1), pad=0.4)


def legend_above(ax: Axes, ncols: int = 3, **kw: Any) -> None:
    """Legend in a row above the axes (so it never hides data or event labels)."""
    ax.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncols=ncols,
        borderaxespad=0.0,
        handlelength=1.6,
        columnspacing=1.0,
        **kw,
    )


def figure_stem(name: str, synthetic: bool) -> str:
    """File stem of a figure: ``SYNTHETIC_<name>`` for synthetic data, ``<name>`` otherwise."""
    return f"{SYNTHETIC_WORD}_{name}" if synthetic else name


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_figure(fig: Figure, outdir: Path, stem: str) -> dict[str, Path]:
    """Write ``stem.pdf`` (vector), ``stem.svg`` (vector) and ``stem.png`` (300 dpi) atomically.

    Every timestamp and software stamp is removed, so the bytes depend only on the figure.
    Closes the figure.

    Returns
    -------
    dict
        ``{"pdf": path, "svg": path, "png": path}``.
    """
    outdir = Path(outdir)
    paths = {ext: outdir / f"{stem}.{ext}" for ext in ("pdf", "svg", "png")}
    with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        _atomic_write(paths["pdf"], lambda p: fig.savefig(p, format="pdf", metadata=PDF_METADATA))
        _atomic_write(paths["svg"], lambda p: fig.savefig(p, format="svg", metadata=SVG_METADATA))
        _atomic_write(
            paths["png"],
            lambda p: fig.savefig(p, format="png", dpi=DPI, metadata=PNG_METADATA),
        )
    plt.close(fig)
    return paths
