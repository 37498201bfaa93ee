"""Publication style for every figure of the report: seaborn theme, palette, labels, files.

* Theme: seaborn's ``"ticks"`` axes style in its ``"paper"`` context (scaled to 8-pt text at
  single-column width, 3.5 in), its colour-blind-safe ``"colorblind"`` palette (Okabe & Ito's
  hues; Japan, the treated unit, always vermillion, controls grey, estimates blue), top and
  right spines removed with :func:`seaborn.despine`. Applied in a :func:`matplotlib.rc_context`
  (:func:`publication_style`), so that importing the report never changes a user's global
  matplotlib or seaborn settings.
* Fonts: DejaVu Sans (shipped with matplotlib, so the glyphs and hence the bytes do not depend
  on the fonts installed on the machine; seaborn's first choice, Arial, would).
* Every report figure gets a source note at the bottom; figures made from synthetic data carry
  a diagonal ``SYNTHETIC`` watermark, ``SYNTHETIC`` in the title (or, with the title left off
  for a journal, ``title=None``, in the note) and ``SYNTHETIC`` in the file name.
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
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: seaborn's "colorblind" palette (10 colours; Okabe & Ito's hues).
COLORBLIND: list[str] = list(sns.color_palette("colorblind").as_hex())
#: Named colours of the palette (the names of Okabe & Ito 2008, "Color Universal Design").
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "blue": COLORBLIND[0],
    "orange": COLORBLIND[1],
    "bluish_green": COLORBLIND[2],
    "vermillion": COLORBLIND[3],
    "reddish_purple": COLORBLIND[4],
    "yellow": COLORBLIND[8],
    "sky_blue": COLORBLIND[9],
}
#: Cycle used for several series (yellow left out: too light on white).
PALETTE: list[str] = [
    OKABE_ITO[k]
    for k in ("blue", "orange", "bluish_green", "reddish_purple", "sky_blue", "vermillion", "black")
]
TREATED = OKABE_ITO["vermillion"]
CONTROL = COLORBLIND[7]
ESTIMATE = OKABE_ITO["blue"]
BAND = OKABE_ITO["sky_blue"]
#: One marker per model in multi-model plots (distinct in greyscale print too).
MARKERS: list[str] = ["o", "s", "D", "^", "v", "P", "X"]

#: Single-column width of a journal page, inches.
SINGLE_COLUMN = 3.5
DPI = 300
SVG_HASHSALT = "tradeimpact"

#: seaborn's "paper" context scaled to 8-pt text (its 9.6-pt base times 0.8 = 7.7 pt).
FONT_SCALE = 0.8

#: What the report sets on top of seaborn's theme: fixed font, thin lines, deterministic files.
OVERRIDES: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "axes.titlesize": 8,
    "legend.frameon": False,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 6.5,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "lines.linewidth": 1.1,
    "patch.force_edgecolor": False,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": SVG_HASHSALT,
    "path.simplify": True,
    "axes.formatter.use_mathtext": False,
}


def _theme() -> dict[str, Any]:
    """seaborn's "ticks" style, "paper" context and "colorblind" cycle, then :data:`OVERRIDES`."""
    rc: dict[str, Any] = {}
    rc.update(sns.axes_style("ticks"))
    rc.update(sns.plotting_context("paper", font_scale=FONT_SCALE))
    rc["axes.prop_cycle"] = cycler(color=PALETTE)
    rc.update(OVERRIDES)
    return rc


#: The full rc of :func:`publication_style` (seaborn's theme and the overrides).
RC: dict[str, Any] = _theme()


def palette(n: int) -> list[str]:
    """``n`` colours for ``n`` models or series: :data:`PALETTE`, then seaborn's "colorblind"."""
    base = PALETTE + [c for c in COLORBLIND if c not in PALETTE]
    return [base[i % len(base)] for i in range(n)]


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
    """A single-axes figure at single-column width (call inside :func:`publication_style`),
    top and right spines removed (:func:`seaborn.despine`)."""
    fig, ax = plt.subplots(figsize=(width, height))
    sns.despine(fig)
    return fig, ax


def label_synthetic(fig: Figure) -> None:
    """The SYNTHETIC marks of a figure without a source note: a diagonal watermark and
    ``SYNTHETIC DATA`` in the lower right corner of the figure, below the axes (lay the figure
    out with ``tight_layout(rect=(0, 0.04, 1, 1))`` so that it stays clear of the data)."""
    fig.text(0.99, 0.005, f"{SYNTHETIC_WORD} DATA", ha="right", va="bottom", fontsize=6,
             color=TREATED, fontweight="bold", zorder=5)  # fmt: skip
    _watermark(fig)


def _watermark(fig: Figure) -> None:
    fig.text(
        0.5,
        0.5,
        SYNTHETIC_WORD,
        ha="center",
        va="center",
        rotation=25,
        fontsize=30,
        color=TREATED,
        alpha=0.12,
        zorder=0,
        fontweight="bold",
    )


def mark_events(
    ax: Axes,
    events: Sequence[tuple[date | float, str]],
    *,
    ymax: float = 0.98,
    min_gap: float = 40,
    labels: bool = True,
) -> None:
    """Vertical dashed lines at event dates, each labelled at the top of the axes.

    ``labels=False`` draws the lines only (a second panel under a labelled one).

    Labels are written vertically beside the line; a label closer than ``min_gap`` days (or
    x units) to the previous label is left out (its line stays) so that labels never overlap.
    """
    import matplotlib.dates as mdates

    last: float | None = None
    for x, label in sorted(events, key=lambda e: e[0]):  # type: ignore[arg-type, return-value]
        ax.axvline(x, color=OKABE_ITO["black"], lw=0.6, ls=(0, (3, 2)), zorder=1)  # type: ignore[arg-type]
        xn = float(mdates.date2num(x)) if isinstance(x, date) else float(x)
        if not labels or (last is not None and xn - last < min_gap):
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
    title: str | None,
    source: str,
    synthetic: bool,
) -> None:
    """Title (none when ``title`` is None: the caption carries it), source note and, for
    synthetic data, the SYNTHETIC label (title prefix and note) and watermark; tight layout."""
    if title:
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
        _watermark(fig)
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
