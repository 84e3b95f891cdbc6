"""The admins' report chart as a PNG (matplotlib, no display): inactivity, seats freed over time, the funnel.

Drawing takes a few hundred milliseconds of CPU: callers on the event loop use :func:`render_async`,
which draws in a worker thread. matplotlib's pyplot state is not thread-safe, so figures are made
with the object API only, and one lock serialises drawing.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from adapters.wording import product_name
from core.chart_data import BUCKETS, NEVER, ChartData, load_chart_data
from core.policy import Policy
from core.ports import LifecycleStore, ScanStore

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_IN, HEIGHT_IN, DPI = 13.0, 4.2, 100
MAX_DATE_TICKS = 6
_LOCK: Final = threading.Lock()
#: One colour per histogram bucket, light (recent) to dark (long unused), grey for "never".
_BUCKET_COLOURS: Final = ("#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b", "#999999")


def chart_path(folder: Path, org_id: str, stamp: str) -> Path:
    """Where a chart is written: beside the run CSVs, named like them."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in org_id)
    return folder / f"jira-cleanup-{safe}-{stamp}-chart.png"


def render(data: ChartData, path: Path) -> Path:
    """Draw ``data`` into ``path`` (PNG); return the path."""
    from matplotlib.figure import Figure

    with _LOCK:
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
        left, middle, right = figure.subplots(1, 3)
        _inactivity(left, data)
        _freed(middle, data)
        _funnel(right, data)
        figure.suptitle(f"jira-cleanup · {data.org_id} · {data.at:%d %b %Y %H:%M} UTC", fontsize=10)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    return path


async def report_chart(
    lifecycle: LifecycleStore, scans: ScanStore, org_id: str, policy: Policy, folder: Path, now: datetime
) -> Path:
    """Read the org's figures and draw them into the report folder, off the event loop; the PNG's path."""

    def draw() -> Path:
        data = load_chart_data(lifecycle, scans, org_id, policy, now)
        return render(data, chart_path(folder, org_id, now.strftime("%Y%m%dT%H%M%SZ")))

    return await asyncio.to_thread(draw)


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
    ax.set_ylabel("accounts")
    ax.tick_params(axis="x", labelsize=7, labelrotation=15)
    if products:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no scan yet", ha="center", va="center", transform=ax.transAxes)


def _freed(ax: Axes, data: ChartData) -> None:
    days = [float(day.toordinal()) for day, _, _ in data.freed]
    seats = [count for _, count, _ in data.freed]
    money = [value for _, _, value in data.freed]
    if days:
        ax.step(days, seats, where="post", color="#31a354", label="seats")
        twin = ax.twinx()
        twin.step(days, money, where="post", color="#e6550d", linestyle="--", label=f"{data.currency}/month")
        twin.set_ylabel(f"{data.currency} per month")
        ax.set_ylim(bottom=0)
        twin.set_ylim(bottom=0)
        ticks = data.freed[:: max(1, len(data.freed) // MAX_DATE_TICKS)]
        ax.set_xticks([float(day.toordinal()) for day, _, _ in ticks], [f"{day:%d %b}" for day, _, _ in ticks])
        ax.tick_params(axis="x", labelsize=7, labelrotation=30)
    else:
        ax.text(0.5, 0.5, "nothing freed yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Seats freed, net of restores", fontsize=10)
    ax.set_ylabel("seats")


def _funnel(ax: Axes, data: ChartData) -> None:
    stages = [stage for stage, _ in data.funnel]
    counts = [count for _, count in data.funnel]
    bars = ax.bar(stages, counts, color=["#fdae6b", "#74c476", "#de2d26"])
    ax.bar_label(bars)
    ax.set_title("Last 30 days: warned → kept → acted", fontsize=10)
