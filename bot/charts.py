"""The admins' report chart as a PNG (matplotlib, no display): inactivity, seats freed over time, the funnel.

Drawing takes a few hundred milliseconds of CPU: callers on the event loop use :func:`report_chart`,
which draws in a worker thread. matplotlib's pyplot state is not thread-safe, so figures are made
with the object API only, and one lock serialises drawing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from adapters.wording import product_name
from core.chart_data import BUCKETS, NEVER, ChartData, load_chart_data
from core.policy import Policy
from core.ports import LifecycleStore, ScanStore

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

WIDTH_IN, HEIGHT_IN, DPI = 13.0, 4.2, 100
MAX_DATE_TICKS = 6
_LOCK: Final = threading.Lock()
#: One colour per histogram bucket, light (recent) to dark (long unused), grey for "never".
_BUCKET_COLOURS: Final = ("#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b", "#999999")
#: Colours of the seats-freed panel's two lines.
SEATS_COLOUR: Final = "#31a354"
MONEY_COLOUR: Final = "#e6550d"
#: Days shown either side of the seats-freed series at least (one day of data is otherwise a zero-width range).
FREED_MIN_PAD_DAYS: Final = 3.0
#: Room above the tallest bar of a count panel, as a factor of its height (for the bar's label).
COUNT_HEADROOM: Final = 1.12
#: Days with a change beyond which the seats-freed lines go without markers.
DENSE_DAYS: Final = 60


def chart_path(folder: Path, org_id: str, stamp: str) -> Path:
    """Where a chart is written: beside the run CSVs, named like them."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in org_id)
    return folder / f"jira-cleanup-{safe}-{stamp}-chart.png"


def render(data: ChartData, path: Path) -> Path:
    """Draw ``data`` into ``path`` (PNG); return the path."""
    with _LOCK:
        figure = draw(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    return path


def draw(data: ChartData) -> Figure:
    """The chart's figure, laid out, one panel per ``figure.axes[0:3]`` (:func:`render` serialises calls)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    left, middle, right = figure.subplots(1, 3)
    _inactivity(left, data)
    _freed(middle, data)
    _funnel(right, data)
    figure.suptitle(f"jira-cleanup · {data.org_id} · {data.at:%d %b %Y %H:%M} UTC", fontsize=10)
    figure.tight_layout()
    return figure


async def report_chart(
    lifecycle: LifecycleStore, scans: ScanStore, org_id: str, policy: Policy, folder: Path, now: datetime
) -> Path:
    """Read the org's figures and draw them into the report folder, off the event loop; the PNG's path."""

    def load_and_render() -> Path:
        data = load_chart_data(lifecycle, scans, org_id, policy, now)
        return render(data, chart_path(folder, org_id, now.strftime("%Y%m%dT%H%M%SZ")))

    return await asyncio.to_thread(load_and_render)


def _inactivity(ax: Axes, data: ChartData) -> None:
    products = list(data.inactivity)
    names = [product_name(p) for p in products]
    labels = [label for label, _ in BUCKETS] + [NEVER]
    bottoms = [0] * len(products)
    for label, colour in zip(labels, _BUCKET_COLOURS, strict=True):
        heights = [data.inactivity[p][label] for p in products]
        if not any(heights):
            continue  # no bar and no legend entry for a range nobody is in
        ax.bar(names, heights, bottom=bottoms, color=colour, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_title("Accounts by days since last use", fontsize=10)
    if not products:  # an empty frame: no axis to read a scale off
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no scan yet", ha="center", va="center", transform=ax.transAxes)
        return
    _counted(ax, max(bottoms))
    ax.set_ylabel("accounts")
    ax.tick_params(axis="x", labelsize=7, labelrotation=15)
    ax.legend(fontsize=7)


def _freed(ax: Axes, data: ChartData) -> None:
    """Seats (left axis) and money per month (right axis) freed so far, one marker per day with a change.

    The latest level is held up to the chart's day, a lone day gets a few days either side, and when
    there are few changes each is labelled with its seat count, so even the first run's figure shows.
    """
    ax.set_title("Seats freed, net of restores", fontsize=10)
    if not data.freed:
        ax.text(0.5, 0.5, "nothing freed yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    days = [float(day.toordinal()) for day, _, _ in data.freed]
    seats = [count for _, count, _ in data.freed]
    money = [value for _, _, value in data.freed]
    end = max(days[-1], float(data.at.date().toordinal()))
    seats_line = _held_steps(ax, days, seats, end, colour=SEATS_COLOUR, marker="o", label=f"seats (now {seats[-1]:,})")
    twin = ax.twinx()
    money_label = f"{data.currency}/month (now {money[-1]:,.2f})"
    money_line = _held_steps(twin, days, money, end, colour=MONEY_COLOUR, marker="s", label=money_label, dashed=True)
    if len(days) <= MAX_DATE_TICKS:
        for day, count in zip(days, seats, strict=True):
            ax.annotate(
                f"{count:,}", (day, count), xytext=(4, 4), textcoords="offset points", fontsize=8, color=SEATS_COLOUR
            )
    _freed_axes(ax, twin, data, days, end, max(seats), max(money))
    ax.legend(handles=[seats_line, money_line], loc="upper left", fontsize=7)


def _held_steps(
    ax: Axes,
    days: list[float],
    values: Sequence[float],
    end: float,
    *,
    colour: str,
    marker: str,
    label: str,
    dashed: bool = False,
) -> Line2D:
    """A step line through ``values`` held flat up to ``end``, with a marker on each day (not on ``end``)."""
    xs, ys = (list(days), list(values)) if end <= days[-1] else ([*days, end], [*values, values[-1]])
    # big markers while there are few days to see, small ones as the line fills up, none once it is dense
    size = 6 if len(days) <= 2 * MAX_DATE_TICKS else 3 if len(days) <= DENSE_DAYS else 0
    (line,) = ax.step(
        xs,
        ys,
        where="post",
        color=colour,
        linestyle="--" if dashed else "-",
        marker=marker,
        markersize=size,
        markevery=list(range(len(days))),
        clip_on=False,
        label=label,
    )
    return line


def _freed_axes(ax: Axes, twin: Axes, data: ChartData, days: list[float], end: float, top: int, cash: float) -> None:
    """Ranges and ticks of the seats-freed panel: room around a lone day, headroom above the lines."""
    from matplotlib.ticker import MaxNLocator

    span = end - days[0]
    # more room on the right, for the latest value's label
    low, high = days[0] - max(FREED_MIN_PAD_DAYS, span * 0.05), end + max(FREED_MIN_PAD_DAYS, span * 0.2)
    ax.set_xlim(low, high)
    ticks: list[float] = []
    for day in days:  # a date under each change, but none crowding the one before it
        if not ticks or day - ticks[-1] >= (high - low) / (2 * MAX_DATE_TICKS):
            ticks.append(day)
    ax.set_xticks(ticks, [f"{date.fromordinal(int(day)):%d %b}" for day in ticks])
    # different headroom on each axis, so money proportional to seats does not hide the seats line
    ax.set_ylim(0, max(top, 1) * 1.3)
    twin.set_ylim(0, max(cash, 1.0) * 1.7)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("seats")
    twin.set_ylabel(f"{data.currency} per month")
    ax.tick_params(axis="x", labelsize=7, labelrotation=30)


def _funnel(ax: Axes, data: ChartData) -> None:
    stages = [stage for stage, _ in data.funnel]
    counts = [count for _, count in data.funnel]
    bars = ax.bar(stages, counts, color=["#fdae6b", "#74c476", "#de2d26"])
    ax.bar_label(bars)
    _counted(ax, max(counts, default=0))
    ax.set_title("Last 30 days: warned → kept → acted", fontsize=10)


def _counted(ax: Axes, tallest: float) -> None:
    """A count axis: whole numbers from 0 (an all-zero panel otherwise gets a -0.06 … 0.06 scale).

    Headroom above the tallest bar keeps its value label inside the frame.
    """
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0, top=max(tallest, 1) * COUNT_HEADROOM)
