"""Keep-abuse review: accounts that keep pressing "Keep my access" and stay inactive.

A keep is a promise that the access is still needed. Someone who presses Keep again and again and
never uses the product in between is keeping a licence nobody uses; admins see them listed with
their history (every keep: when, by whom, the reason given) and the last time they were active.

Pure: the keeps come from the audit trail (accepted ``keep`` events) and the activity from the
latest scan, both passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.audit import AuditEvent
from core.model import Account
from core.policy import KeepRules
from core.ports import LifecycleStore, ScanStore
from core.usecases import latest_accounts

#: The audit action and outcome of an accepted keep.
KEEP_ACTION = "keep"
KEEP_ACCEPTED = "ok"


@dataclass(frozen=True, slots=True)
class KeepPress:
    """One accepted keep of an account's access under one rule."""

    at: datetime
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class KeepReview:
    """An account to review: its keeps of one rule's access within the period and the last time it was active."""

    account_id: str
    rule: str  # "" for keeps recorded before the rule was
    email: str | None
    name: str
    presses: tuple[KeepPress, ...]
    last_active: datetime | None  # the latest over every product; None: never used any

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons given, in order, without blanks or repeats."""
        return tuple(dict.fromkeys(p.reason for p in self.presses if p.reason.strip()))


#: (account id, rule): the keeps of one access.
Kept = tuple[str, str]


def keep_presses(events: Iterable[AuditEvent], since: datetime) -> dict[Kept, list[KeepPress]]:
    """Accepted keeps from ``since`` on, per account and rule, oldest first."""
    presses: dict[Kept, list[KeepPress]] = {}
    for event in events:
        entry = event.entry
        if entry.action != KEEP_ACTION or entry.outcome != KEEP_ACCEPTED or not entry.subject or entry.at < since:
            continue
        rule = str(entry.after.get("rule") or "")
        presses.setdefault((entry.subject, rule), []).append(KeepPress(entry.at, entry.actor, entry.reason))
    for found in presses.values():
        found.sort(key=lambda p: p.at)
    return presses


def last_active(account: Account) -> datetime | None:
    """The last time the account used any of its products (None: never)."""
    dates = [p.last_active for p in account.products if p.last_active is not None]
    return max(dates) if dates else None


def review_keeps(
    presses: Mapping[Kept, list[KeepPress]], accounts: Mapping[str, Account | None], *, min_keeps: int
) -> list[KeepReview]:
    """Accounts with at least ``min_keeps`` keeps of one access that were not active after the first one.

    An account missing from ``accounts`` (no longer in the org's latest scan) or whose activity
    Atlassian could not tell is left out: nothing is claimed about it. Most keeps first.
    """
    found = []
    for (account_id, rule), kept in presses.items():
        account = accounts.get(account_id)
        if len(kept) < min_keeps or account is None or not account.activity_known:
            continue
        active = last_active(account)
        if active is not None and active > kept[0].at:
            continue  # used the product after keeping it: the keep was meant
        found.append(KeepReview(account_id, rule, account.email, account.name, tuple(kept), active))
    return sorted(found, key=lambda r: (-len(r.presses), r.presses[0].at, r.account_id, r.rule))


def load_keep_review(
    lifecycle: LifecycleStore, scans: ScanStore, org_id: str, rules: KeepRules, now: datetime
) -> list[KeepReview]:
    """The review of ``org_id`` now: keeps of the keep period from its audit trail, activity from its latest scan."""
    since = now - timedelta(days=rules.period_days)
    presses = keep_presses(lifecycle.iter_audit(since=since, org_id=org_id), since)
    if not presses:
        return []
    accounts = latest_accounts(scans, org_id, (account_id for account_id, _rule in presses))
    return review_keeps(presses, accounts, min_keeps=rules.review_after)


def review_line(review: KeepReview) -> tuple[str, str]:
    """(who, what) for one account: its keeps, the last activity and the reasons given."""
    who = (review.email or review.name or review.account_id) + (f" ({review.rule})" if review.rule else "")
    dates = ", ".join(f"{p.at:%d %b %Y}" for p in review.presses)
    active = f"last active {review.last_active:%d %b %Y}" if review.last_active else "never active"
    reasons = " · reasons: " + "; ".join(f"“{r}”" for r in review.reasons) if review.reasons else ""
    return who, f"{len(review.presses)} keeps ({dates}) · {active}{reasons}"
