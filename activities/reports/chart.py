"""The reconciliation's chart, unused value by category, drawn by matplotlib: a PNG for the
email (Gmail and Outlook show images, not inline SVG) and SVG for the web page, from one
drawing so both say the same.

Drawn on the Agg canvas of a fresh `Figure` (no pyplot, no display, no global figure
state), so it is safe in a worker thread; callers in async code run it through
`asyncio.to_thread` (a chart takes tens of milliseconds).
"""

from __future__ import annotations

import io
import re

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from activities.reports.models import ReconciliationReport
from workflows import texts

CHART_WIDTH_PX = 640  # as shown; the PNG has twice the pixels for sharp phone screens
PNG_SCALE = 2
_DPI = 100
_INK, _MUTED, _BAR = "#1d2330", "#5b6472", "#3f6fc4"
CHART_ALT = "Unused value of open packages by category"


def _figure(report: ReconciliationReport) -> Figure | None:
    """Horizontal bars, largest first, each labelled with its dollars; None: no categories."""
    cats = report.categories
    if not cats:
        return None
    height_in = (60 + 38 * len(cats)) / _DPI
    # Constrained layout makes room for the longest label and the amounts at the bars' ends.
    fig = Figure(
        figsize=(CHART_WIDTH_PX / _DPI, height_in),
        dpi=_DPI,
        facecolor="white",
        layout="constrained",
    )
    ax = fig.add_subplot()
    names = [_short(c.category) for c in cats][::-1]
    values = [max(c.unused_value_cents, 0) / 100 for c in cats][::-1]
    bars = ax.barh(names, values, color=_BAR, height=0.6)
    ax.bar_label(
        bars,
        labels=[texts.money(c.unused_value_cents) for c in cats][::-1],
        padding=6,
        color=_INK,
        fontsize=13,
    )
    ax.set_xlim(0, max(max(values), 1.0) * 1.3)  # room for the amount after the longest bar
    ax.xaxis.set_visible(False)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(_MUTED)
    ax.tick_params(axis="y", length=0, labelsize=14, labelcolor=_INK, pad=8)
    return fig


def _short(name: str, limit: int = 18) -> str:
    """A category name that fits the label column (the table below has it whole)."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def chart_png(report: ReconciliationReport) -> bytes | None:
    """The chart as a PNG (1280 px wide, shown at 640), or None when nothing is open."""
    fig = _figure(report)
    if fig is None:
        return None
    out = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(out, format="png", dpi=_DPI * PNG_SCALE, metadata={"Software": None})
    return out.getvalue()


def chart_svg(report: ReconciliationReport) -> str | None:
    """The chart as an `<svg>` element to put inline in a page (no XML prologue, no
    fixed size: it scales to the column), or None when nothing is open."""
    fig = _figure(report)
    if fig is None:
        return None
    out = io.StringIO()
    FigureCanvasSVG(fig)
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    start = text.index("<svg")
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", text[start:], count=1, flags=re.DOTALL)
    # The page sets the width; the viewBox keeps the proportions.
    svg = re.sub(r' width="[\d.]+pt" height="[\d.]+pt"', ' width="100%"', svg, count=1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{CHART_ALT}" id="chart" ', 1)
