"""The report chart: its figures from known data, and the PNG drawn from them (size, not blank, the bars).

Pixel checks look inside one panel: its box in the figure, in pixels (origin bottom left), cut out
of the PNG (origin top left).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.image import imread

from bot.charts import COUNT_HEADROOM, DPI, HEIGHT_IN, MONEY_COLOUR, SEATS_COLOUR, WIDTH_IN, chart_path, draw, render
from core.chart_data import BUCKETS, NEVER, ChartData, freed_over_time, funnel, inactivity
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus
from core.lifecycle import Op
from core.policy import parse_policy
from tests.fakes import NOW, make_account

POLICY = parse_policy(
    {
        "rules": [{"name": "org", "product": "any", "inactive_days": 180, "action": "suspend", "warn_days_before": 14}],
        "prices": {"jira-software": 8, "confluence": 6},
    },
    source="test",
)


def entry(case: str, op: Op, day: int, *, product: str | None = None, state=EntryState.CONFIRMED) -> LedgerEntry:
    at = NOW + timedelta(days=day)
    return LedgerEntry(f"e-{case}-{op.value}", "org-1", "run-1", case, f"acc-{case}", "org", op, state, at, at, product)


def test_accounts_are_bucketed_per_product_by_days_since_last_use() -> None:
    accounts = [
        make_account("a", products={"jira-software": 5, "confluence": 400}),
        make_account("b", products={"jira-software": 120, "confluence": None}),
        make_account("c", products={"jira-software": 200}, activity_known=False),  # unknown: not drawn
    ]
    found = inactivity(accounts, NOW)
    assert list(found) == ["confluence", "jira-software"]
    assert found["jira-software"]["< 30 d"] == 1
    assert found["jira-software"]["90–179 d"] == 1
    assert found["confluence"]["≥ 365 d"] == 1
    assert found["confluence"][NEVER] == 1
    assert sum(found["jira-software"].values()) == 2


def test_seats_freed_over_time_are_net_of_restores() -> None:
    suspended = make_account("acc-s", products={"jira-software": 200, "confluence": 200})
    entries = [
        entry("p", Op.REMOVE_PRODUCT_ACCESS, 1, product="jira-software"),
        entry("s", Op.SUSPEND, 2),
        entry("s", Op.RESTORE, 5),
        entry("x", Op.SUSPEND, 3, state=EntryState.FAILED),  # never carried out: frees nothing
    ]
    points = freed_over_time(entries, lambda run, account: suspended if account == "acc-s" else None, POLICY)
    days = [NOW.date() + timedelta(days=d) for d in (1, 2, 5)]
    assert points == [(days[0], 1, 8.0), (days[1], 3, 22.0), (days[2], 1, 8.0)]


def test_the_funnel_counts_the_last_thirty_days() -> None:
    def run(days_ago: int, **counts: int) -> LifecycleRun:
        at = NOW - timedelta(days=days_ago)
        return LifecycleRun(f"r{days_ago}", "org-1", "enforce", RunStatus.COMPLETED, "s", at, at, counts=counts)

    runs = [run(2, warnings_delivered=7, actions_confirmed=3), run(40, warnings_delivered=100)]
    assert funnel(runs, [], NOW - timedelta(days=30)) == [("warned", 7), ("kept", 0), ("acted", 3)]


def colours(path: Path) -> np.ndarray:
    pixels = imread(path)[:, :, :3]
    return np.unique((pixels * 255).round().astype(int).reshape(-1, 3), axis=0)


def has(found: np.ndarray, hex_colour: str) -> bool:
    want = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    return bool((np.abs(found - want).sum(axis=1) <= 3).any())


def test_the_png_has_the_size_and_the_bars_of_its_data(tmp_path: Path) -> None:
    data = ChartData(
        "org-1",
        datetime(2026, 12, 5, 8, 0, tzinfo=UTC),
        {"jira-software": {"< 30 d": 3, "30–89 d": 0, "90–179 d": 0, "180–364 d": 0, "≥ 365 d": 5, NEVER: 0}},
        [(NOW.date(), 2, 17.2), (NOW.date() + timedelta(days=3), 5, 43.0)],
        [("warned", 9), ("kept", 2), ("acted", 5)],
        "EUR",
    )
    path = render(data, chart_path(tmp_path, "org/1", "20261205T080000Z"))
    assert path.name == "jira-cleanup-org-1-20261205T080000Z-chart.png"
    image = imread(path)
    assert image.shape[:2] == (round(HEIGHT_IN * DPI), round(WIDTH_IN * DPI))
    found = colours(path)
    assert len(found) > 50, "not a blank image"
    assert has(found, "#9ecae1"), "the < 30 d bar"
    assert has(found, "#08306b"), "the ≥ 365 d bar"
    assert not has(found, "#3182bd"), "no 90–179 d bar: nobody is in it"
    assert has(found, "#31a354"), "the seats-freed line"
    assert has(found, "#de2d26"), "the acted bar"


def test_an_org_with_nothing_yet_still_draws(tmp_path: Path) -> None:
    data = ChartData("org-1", NOW, {}, [], [("warned", 0), ("kept", 0), ("acted", 0)], "EUR")
    path = render(data, tmp_path / "empty.png")
    assert imread(path).shape[:2] == (HEIGHT_IN * DPI, WIDTH_IN * DPI)
    left, _, right = draw(data).axes[:3]
    assert texts_on(left) == ["no scan yet"]
    assert list(left.get_xticks()) == [], "no scale on an empty frame"
    assert list(left.get_yticks()) == [], "no scale on an empty frame"
    # all-zero counts: whole numbers from 0, not a -0.06 … 0.06 scale
    assert right.get_ylim()[0] == 0
    assert [float(t) for t in right.get_yticks() if t <= right.get_ylim()[1]] == [0.0, 1.0]


def test_count_axes_are_whole_numbers_from_zero() -> None:
    data = ChartData(
        "org-1",
        NOW,
        {"jira-software": dict.fromkeys([label for label, _ in BUCKETS] + [NEVER], 0) | {NEVER: 3}},
        [],
        [("warned", 3), ("kept", 1), ("acted", 2)],
        "EUR",
    )
    left, _, right = draw(data).axes[:3]
    for panel in (left, right):
        low, high = panel.get_ylim()
        assert low == 0
        assert high >= 3 * COUNT_HEADROOM, "room for the tallest bar's label"
        assert all(float(t).is_integer() and t >= 0 for t in panel.get_yticks() if t <= high)


def middle_panel(data: ChartData, path: Path, inset: int = 0) -> tuple[np.ndarray, Axes]:
    """The seats-freed panel's pixels (inside its frame, less ``inset``) and the panel itself."""
    figure = draw(data)
    figure.savefig(path, format="png")
    middle = figure.axes[1]
    box = middle.get_window_extent()
    pixels = (imread(path)[:, :, :3] * 255).round().astype(int)
    height = pixels.shape[0]
    top, bottom = height - round(box.y1) + inset, height - round(box.y0) - inset
    return pixels[top:bottom, round(box.x0) + inset : round(box.x1) - inset], middle


def texts_on(panel: Axes) -> list[str]:
    legend = panel.get_legend()
    return [t.get_text() for t in panel.texts] + ([t.get_text() for t in legend.get_texts()] if legend else [])


def mask_of(crop: np.ndarray, hex_colour: str) -> np.ndarray:
    want = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    return np.abs(crop - want).sum(axis=2) <= 3


def test_one_day_of_freed_seats_shows_its_point_and_values(tmp_path: Path) -> None:
    data = ChartData("org-1", NOW, {}, [(NOW.date(), 3, 24.0)], [("warned", 4), ("kept", 0), ("acted", 3)], "EUR")
    crop, middle = middle_panel(data, tmp_path / "one-day.png")
    assert mask_of(crop, SEATS_COLOUR).sum() >= 20, "the seats marker"
    assert mask_of(crop, MONEY_COLOUR).sum() >= 20, "the money marker"
    texts = texts_on(middle)
    assert "3" in texts, "the day's seat count beside its marker"
    assert "seats (now 3)" in texts
    assert "EUR/month (now 24.00)" in texts


def test_the_latest_level_is_held_up_to_the_charts_day(tmp_path: Path) -> None:
    day = NOW.date() - timedelta(days=10)
    data = ChartData("org-1", NOW, {}, [(day, 2, 16.0)], [("warned", 0), ("kept", 0), ("acted", 2)], "EUR")
    crop, _ = middle_panel(data, tmp_path / "held.png", inset=3)
    columns = np.flatnonzero(mask_of(crop, SEATS_COLOUR).any(axis=0))
    assert columns.size, "the seats line"
    assert columns.max() - columns.min() > crop.shape[1] // 2, "a line across the ten days, not a lone marker"


def test_no_freed_seats_says_so_in_the_panel(tmp_path: Path) -> None:
    data = ChartData("org-1", NOW, {}, [], [("warned", 0), ("kept", 0), ("acted", 0)], "EUR")
    crop, middle = middle_panel(data, tmp_path / "none.png", inset=3)
    assert texts_on(middle) == ["nothing freed yet"]
    assert (crop.sum(axis=2) < 200).sum() >= 30, "the message is drawn inside the frame"
    assert not mask_of(crop, SEATS_COLOUR).any()
    assert len(middle.get_xticks()) == 0, "no made-up 0–1 scale"
    assert len(middle.get_yticks()) == 0
