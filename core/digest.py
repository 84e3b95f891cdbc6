"""The weekly digest for the admin channels: what happened, what comes next week, what looks wrong.

Pure: the runs, open cases and keeps are read by the caller (:func:`load_digest`) and passed in.
An anomaly is only raised on evidence an admin can check: the numbers behind it are in its text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.chatops.replies import Reply
from core.keep_review import KeepPress, Kept, keep_presses
from core.ledger import LifecycleRun, RunStatus
from core.lifecycle import Case, CaseState
from core.model import Account
from core.ports import LifecycleStore, ScanStore
from core.usecases import latest_accounts

WEEK = timedelta(days=7)
#: Weeks before this one that make "the usual" number of due actions.
BASELINE_WEEKS = 4
#: This week's due actions are unusual above this many times the usual weekly number…
JUMP_FACTOR = 2
#: …and at least this many more than usual (small numbers jump easily).
JUMP_MINIMUM = 10
#: Keeps from one group are unusual from this many in the week, when they are at least half of all keeps.
GROUP_KEEPS_MINIMUM = 5
#: How many runs :func:`load_digest` reads back (a run every hour for five weeks fits).
RUNS_READ = 1000


@dataclass(frozen=True, slots=True)
class Digest:
    """One org's week."""

    org_id: str
    start: datetime
    end: datetime
    runs: int
    failed_runs: int
    warned: int
    undelivered: int
    kept: int
    actions: int
    restored: int
    due_next_week: int  # warned accounts whose deadline falls in the coming week
    deletions_next_week: int
    anomalies: tuple[str, ...]


def _week_counts(runs: Iterable[LifecycleRun]) -> Counter[str]:
    total: Counter[str] = Counter()
    for run in runs:
        total.update(run.counts)
    return total


def _due_jump(this_week: int, earlier: Sequence[LifecycleRun], start: datetime) -> str | None:
    """This week's due actions against the weekly average of the weeks before (weeks without runs count as 0)."""
    first = start - BASELINE_WEEKS * WEEK
    before = [r for r in earlier if first <= r.created_at < start]
    if not before:
        return None  # no history: nothing is "usual" yet
    usual = sum(r.counts.get("due", 0) for r in before) / BASELINE_WEEKS
    if this_week >= JUMP_MINIMUM + usual and this_week > JUMP_FACTOR * usual:
        return (
            f"{this_week} actions came due this week, against {usual:.0f} a week over the {BASELINE_WEEKS} weeks "
            "before: check the policy and the last scans before approving more"
        )
    return None


def _group_keeps(keeps_by_group: Mapping[str, int], kept: int) -> list[str]:
    return [
        f"{count} of this week's {kept} keeps came from members of {group}"
        for group, count in sorted(keeps_by_group.items(), key=lambda item: (-item[1], item[0]))
        if count >= GROUP_KEEPS_MINIMUM and 2 * count >= kept
    ]


def build_digest(
    org_id: str,
    now: datetime,
    runs: Sequence[LifecycleRun],
    open_cases: Iterable[Case],
    keeps_by_group: Mapping[str, int],
    kept: int,
) -> Digest:
    """The digest of the week ending ``now``: ``runs`` (newest or oldest first), ``kept``: accepted keeps."""
    start = now - WEEK
    week = [r for r in runs if start <= r.created_at <= now]
    counts = _week_counts(week)
    failed = sum(1 for r in week if r.status is RunStatus.FAILED)
    cases = list(open_cases)
    due = sum(1 for c in cases if c.state is CaseState.WARNED and c.deadline and now <= c.deadline < now + WEEK)
    deletions = sum(
        1 for c in cases if c.state is CaseState.DELETION_SCHEDULED and c.delete_due_at and c.delete_due_at < now + WEEK
    )
    anomalies = [a for a in (_due_jump(counts["due"], runs, start),) if a]
    anomalies += _group_keeps(keeps_by_group, kept)
    if failed:
        anomalies.append(f"{failed} of {len(week)} runs failed (the Atlassian API or the database): see `status`")
    if counts["warnings_undelivered"]:
        anomalies.append(
            f"{counts['warnings_undelivered']} warnings could not be delivered: those accounts are not acted on "
            "until someone reaches them"
        )
    return Digest(
        org_id,
        start,
        now,
        len(week),
        failed,
        counts["warnings_delivered"],
        counts["warnings_undelivered"],
        kept,
        counts["actions_confirmed"],
        counts["restored"],
        due,
        deletions,
        tuple(anomalies),
    )


def digest_reply(digest: Digest) -> Reply:
    """The digest as a chat reply (Slack and Teams render its lines as a list)."""
    lines = (
        ("Runs", f"{digest.runs}" + (f" ({digest.failed_runs} failed)" if digest.failed_runs else "")),
        ("Warned", f"{digest.warned} delivered, {digest.undelivered} not delivered"),
        ("Kept", str(digest.kept)),
        ("Access removed", str(digest.actions)),
        ("Restored", str(digest.restored)),
        ("Next week", f"{digest.due_next_week} deadlines, {digest.deletions_next_week} deletions"),
    )
    period = f"{digest.start:%d %b} – {digest.end:%d %b %Y}"
    if digest.anomalies:
        text = f"Week of {period}. Worth a look: " + "; ".join(digest.anomalies) + "."
    else:
        text = f"Week of {period}. Nothing unusual."
    return Reply(text, title="Weekly digest", lines=lines, public=True, ok=not digest.anomalies)


def groups_of_keepers(presses: Mapping[Kept, list[KeepPress]], accounts: Mapping[str, Account | None]) -> Counter[str]:
    """How many keeps came from members of each group (an account in two groups counts in both)."""
    counts: Counter[str] = Counter()
    for (account_id, _rule), found in presses.items():
        account = accounts.get(account_id)
        if account is not None:
            counts.update({group.name: len(found) for group in account.groups})
    return counts


def load_digest(lifecycle: LifecycleStore, scans: ScanStore, org_id: str, now: datetime) -> Digest:
    """Read what the digest needs for ``org_id`` and build it."""
    runs = [r for r in lifecycle.recent_runs(org_id, RUNS_READ) if r.created_at >= now - (BASELINE_WEEKS + 1) * WEEK]
    presses = keep_presses(lifecycle.iter_audit(since=now - WEEK, org_id=org_id), now - WEEK)
    accounts = latest_accounts(scans, org_id, (account_id for account_id, _rule in presses))
    kept = sum(len(found) for found in presses.values())
    cases = lifecycle.open_cases(org_id).values()
    return build_digest(org_id, now, runs, cases, groups_of_keepers(presses, accounts), kept)
