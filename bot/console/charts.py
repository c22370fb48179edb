"""The owner's charts as PNG bytes: weekly revenue with the members who bought, cohort
retention as a heatmap, and labelled horizontal bars (the RFM groups of /segments).

Rendering is CPU work: call these through ``asyncio.to_thread``, never on the event loop.
They build a ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot, whose
global state is not thread-safe); matplotlib is imported on first use, so starting the bot
does not pay for it. Every label is translated by the ``Translator`` given.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, cast

from babel.dates import format_date

from bot.console.stats import Cohort, Week
from bot.core.i18n import Translator
from bot.loyalty.money import MINOR_PER_UNIT

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

DPI = 100
WEEKLY_SIZE = (900, 500)  # pixels, width × height
COHORT_SIZE = (900, 640)
BAR_COLOR, LINE_COLOR = "#8fb8de", "#d1495b"
PARTIAL_HATCH, PARTIAL_EDGE = "///", "#4a5568"


def _figure(size: tuple[int, int]) -> Figure:
    import matplotlib

    matplotlib.use("Agg")  # no display, whatever the environment says
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # no bbox_inches: exactly the size asked
    return buffer.getvalue()


def weekly_png(weeks: Sequence[Week], t: Translator, currency: str, tz: tzinfo) -> bytes:
    """Bars: revenue of each week; line: members who bought in it."""
    _ = t.gettext
    figure = _figure(WEEKLY_SIZE)
    bars = figure.add_subplot()
    labels = [format_date(week.start.astimezone(tz).date(), "d MMM", locale=t.babel_locale)
              for week in weeks]
    positions = list(range(len(weeks)))
    bars.bar(positions, [week.revenue / MINOR_PER_UNIT for week in weeks], color=BAR_COLOR,
             label=_("Revenue"))
    bars.set_ylabel(_("Revenue, {currency}").format(currency=t.currency_symbol(currency)))
    bars.set_xlabel(_("Week starting"))
    bars.set_xticks(positions, labels, rotation=45, ha="right")
    bars.yaxis.set_major_formatter(lambda value, _pos: t.number(int(value)))
    line = bars.twinx()
    line.plot(positions, [week.buyers for week in weeks], color=LINE_COLOR, marker="o",
              label=_("Members who bought"))
    line.set_ylabel(_("Members who bought"))
    line.set_ylim(bottom=0)
    # the default locator, an AutoLocator, is a MaxNLocator
    cast("MaxNLocator", line.yaxis.get_major_locator()).set_params(integer=True)
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    bars.legend(handles, [str(h.get_label()) for h in handles], loc="upper left")
    bars.set_title(_("Revenue and buying members by week"))
    return _png(figure)


def cohort_png(cohorts: Sequence[Cohort], t: Translator, partial: bool = False) -> bytes:
    return _png(cohort_figure(cohorts, t, partial))


def cohort_figure(cohorts: Sequence[Cohort], t: Translator, partial: bool = False) -> Figure:
    """Rows: month of joining (oldest first); columns: months since; colour: the share of
    the cohort who bought in that month. Empty where the month has not come yet. ``partial``:
    the last month is still running, so its cells (the last of each row) are hatched and a
    legend says why their shares are low."""
    import numpy as np

    _ = t.gettext
    figure = _figure(COHORT_SIZE)
    axes = figure.add_subplot()
    width = max((len(cohort.buying) for cohort in cohorts), default=0)
    grid = np.full((len(cohorts), max(width, 1)), np.nan)
    for row, cohort in enumerate(cohorts):
        for column, buyers in enumerate(cohort.buying):
            if cohort.members:
                grid[row, column] = buyers / cohort.members
    image = axes.imshow(np.ma.masked_invalid(grid), cmap="YlGn", vmin=0, vmax=1, aspect="auto")
    for row, column in zip(*np.nonzero(~np.isnan(grid)), strict=True):
        value = grid[row, column]
        axes.text(column, row, t.percent(round(100 * value)), ha="center", va="center",
                  fontsize=8, color="white" if value > 0.6 else "black")
    axes.set_xticks(range(grid.shape[1]), [str(k) for k in range(grid.shape[1])])
    axes.set_yticks(range(len(cohorts)), [
        _("{month} ({members})").format(
            month=format_date(cohort.month, "LLL y", locale=t.babel_locale),
            members=t.number(cohort.members))
        for cohort in cohorts])
    axes.set_xlabel(_("Months since joining"))
    axes.set_ylabel(_("Month of joining (members)"))
    axes.set_title(_("Share of each month's new members who bought, by month since joining"))
    bar = figure.colorbar(image, ax=axes)
    bar.ax.yaxis.set_major_formatter(lambda value, _pos: t.percent(round(100 * value)))
    if partial and cohorts:
        _hatch_the_current_month(axes, grid, t)
    return figure


def _hatch_the_current_month(axes: Axes, grid: np.ndarray, t: Translator) -> None:
    """Each row's last cell is the current month: lighter and hatched, with a legend."""
    import numpy as np
    from matplotlib.patches import Patch, Rectangle

    style: dict[str, Any] = {"facecolor": (1, 1, 1, 0.35), "edgecolor": PARTIAL_EDGE,
                             "hatch": PARTIAL_HATCH, "linewidth": 0}
    for row in range(grid.shape[0]):
        filled = np.nonzero(~np.isnan(grid[row]))[0]
        if filled.size:
            column = filled[-1]
            axes.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, **style))
    axes.legend(handles=[Patch(**{**style, "linewidth": 0.5},
                               label=t.gettext("current month, partial"))],
                loc="lower right")


BARS_SIZE = (800, 900)  # portrait: it fills a phone's width with legible labels
BARS_FONT = 15


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # translated
    value: int
    note: str  # written right of the bar: the value and its share, formatted
    colour: str


def bars_png(bars: Sequence[Bar], title: str) -> bytes:
    """Horizontal bars, the first at the top, each with its note."""
    figure = _figure(BARS_SIZE)
    axes = figure.add_subplot()
    positions = list(range(len(bars)))[::-1]
    values = [bar.value for bar in bars]
    axes.barh(positions, values, color=[bar.colour for bar in bars])
    axes.set_yticks(positions, [bar.label for bar in bars], fontsize=BARS_FONT)
    widest = max(values, default=0) or 1
    for position, bar in zip(positions, bars, strict=True):
        axes.text(bar.value + widest * 0.02, position, bar.note, va="center",
                  fontsize=BARS_FONT - 1)
    axes.set_xlim(0, widest * 1.45)  # room for the notes right of the longest bar
    axes.xaxis.set_visible(False)
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)
    figure.suptitle(title, fontsize=BARS_FONT + 2)  # centred on the picture, not the bars
    return _png(figure)
