"""What the admins' report chart shows, computed from the stores (pure; the drawing is in ``bot.charts``).

* **Inactivity per product**: accounts of the latest scan by days since they last used each product.
* **Seats freed over time, net of restores**: confirmed actions add the seats they freed on the day
  they were confirmed; a restore takes them back on its day.
* **Warn → keep → act**: warnings delivered, keeps and actions carried out in the last 30 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.audit import AuditEvent
from core.keep_review import KEEP_ACCEPTED, KEEP_ACTION
from core.ledger import EntryState, LedgerEntry, LifecycleRun
from core.lifecycle import Op
from core.model import Account
from core.policy import Policy
from core.ports import LifecycleStore, ScanStore
from core.savings import Snapshot

#: Day ranges of the inactivity histogram (upper bounds, days since last use), then "never".
BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("< 30 d", 30),
    ("30–89 d", 90),
    ("90–179 d", 180),
    ("180–364 d", 365),
    ("≥ 365 d", None),
)
NEVER = "never"
FUNNEL_DAYS = 30
#: (day, seats freed net of restores so far, money per month so far)
Point = tuple[date, int, float]


@dataclass(frozen=True, slots=True)
class ChartData:
    """Everything the report chart draws."""

    org_id: str
    at: datetime
    #: product → counts per :data:`BUCKETS` label plus :data:`NEVER`, in that order
    inactivity: dict[str, dict[str, int]]
    #: one point per day with a change
    freed: list[Point]
    #: (stage, count): warned, kept, acted over the last :data:`FUNNEL_DAYS` days
    funnel: list[tuple[str, int]]
    currency: str


def inactivity(accounts: Iterable[Account], now: datetime) -> dict[str, dict[str, int]]:
    """Accounts per product by days since last use (accounts whose activity is unknown are left out)."""
    result: dict[str, dict[str, int]] = {}
    for account in accounts:
        if not account.activity_known:
            continue
        for access in account.products:
            row = result.setdefault(access.key, {label: 0 for label, _ in BUCKETS} | {NEVER: 0})
            if access.last_active is None:
                row[NEVER] += 1
                continue
            days = (now - access.last_active).days
            label = next(lbl for lbl, upper in BUCKETS if upper is None or days < upper)
            row[label] += 1
    return dict(sorted(result.items()))


def freed_over_time(entries: Iterable[LedgerEntry], snapshot: Snapshot, policy: Policy) -> list[Point]:
    """Cumulative seats (and money per month) freed by confirmed actions, less those restores gave back."""
    confirmed = sorted((e for e in entries if e.state is EntryState.CONFIRMED), key=lambda e: e.updated_at)
    seats_of: dict[str, list[str]] = {}  # case id → products its action freed
    changes: dict[date, list[float]] = {}
    for entry in confirmed:
        delta = changes.setdefault(entry.updated_at.date(), [0, 0.0])
        if entry.op is Op.RESTORE:
            products = seats_of.pop(entry.case_id, [])
            sign = -1
        elif entry.op.reduces_access:
            if entry.op is Op.REMOVE_PRODUCT_ACCESS and entry.product:
                products = [entry.product]
            else:
                account = snapshot(entry.run_id, entry.account_id)
                products = [p.key for p in account.products] if account is not None else []
            seats_of[entry.case_id] = products
            sign = 1
        else:
            continue
        delta[0] += sign * len(products)
        delta[1] += sign * float(sum(policy.price(p) for p in products))
    points: list[Point] = []
    seats, money = 0, 0.0
    for day, (delta_seats, delta_money) in sorted(changes.items()):
        seats, money = seats + int(delta_seats), money + delta_money
        points.append((day, seats, round(money, 2)))
    return points


def funnel(runs: Sequence[LifecycleRun], keeps: Iterable[AuditEvent], since: datetime) -> list[tuple[str, int]]:
    """Warnings delivered, keeps and actions carried out since ``since``."""
    recent = [r for r in runs if r.created_at >= since]
    kept = sum(
        1 for e in keeps if e.entry.action == KEEP_ACTION and e.entry.outcome == KEEP_ACCEPTED and e.entry.at >= since
    )
    return [
        ("warned", sum(r.counts.get("warnings_delivered", 0) for r in recent)),
        ("kept", kept),
        ("acted", sum(r.counts.get("actions_confirmed", 0) for r in recent)),
    ]


def load_chart_data(
    lifecycle: LifecycleStore, scans: ScanStore, org_id: str, policy: Policy, now: datetime
) -> ChartData:
    """Read what the chart needs for ``org_id`` (the latest scan, the ledger, recent runs and keeps)."""
    latest = scans.latest_scan(org_id)
    accounts = [] if latest is None else list(scans.iter_accounts(latest.run_id))
    since = now - timedelta(days=FUNNEL_DAYS)
    return ChartData(
        org_id,
        now,
        inactivity(accounts, now),
        freed_over_time(lifecycle.entries(org_id), scans.get_account, policy),
        funnel(lifecycle.recent_runs(org_id, 1000), lifecycle.iter_audit(since=since, org_id=org_id), since),
        policy.currency,
    )
