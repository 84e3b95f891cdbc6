"""Rich renderings for the terminal. Pure: data in, renderables out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from adapters.console_notifier import ConsoleNotifier
from core.engine import RunReport
from core.ledger import LifecycleRun
from core.planner import PlanSummary
from core.policy import Policy
from core.restore_model import RestoreRequest
from core.savings import Savings
from core.usecases import ScanResult


def summary_table(summary: PlanSummary, *, title: str = "Plan by product") -> Table:
    """Per-product table: billable seats, inactive, to warn, to act, protected, savings."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Product", overflow="fold", min_width=14)
    for header in ("Seats", "Inactive", "Warn", "Act", "Protected", "IdP"):
        table.add_column(header, justify="right", no_wrap=True, min_width=6)
    table.add_column(f"{summary.currency}/month", justify="right", no_wrap=True, min_width=10)
    totals = [0] * 6
    for key in sorted(summary.products):
        row = summary.products[key]
        counts = [
            row.billable_seats,
            row.inactive,
            row.to_warn,
            row.to_act,
            row.protected,
            row.manage_in_idp,
        ]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        table.add_row(key, *(f"{c:,}" for c in counts), f"{row.monthly_savings:,.2f}")
    table.add_section()
    table.add_row(
        Text("Total", style="bold"),
        *(f"{c:,}" for c in totals),
        Text(f"{summary.monthly_savings:,.2f}", style="bold green"),
    )
    return table


_LEGEND = (
    "Seats: billable users with access. Inactive: past a rule's threshold. Warn/Act: selected by the plan. "
    "Protected: admins and protected accounts. IdP: inactive but synced from an identity provider "
    "(manage there). Savings: estimated seats freed by Act times the policy's price."
)


def decisions_table(summary: PlanSummary) -> Table:
    """How many (account, rule) decisions of each kind the plan holds."""
    table = Table(title="Decisions", title_justify="left")
    table.add_column("Decision")
    table.add_column("Count", justify="right")
    for code, count in sorted(
        summary.decisions.items(), key=lambda kv: (not kv[0].startswith(("act", "del", "warn")), kv[0])
    ):
        table.add_row(code, f"{count:,}")
    return table


def scan_report(result: ScanResult, policy: Policy, csv_path: str | None) -> Group:
    """Everything ``scan`` and ``demo`` print after a scan."""
    seconds = (result.finished_at - result.started_at).total_seconds()
    lines: list[RenderableType] = [
        summary_table(result.summary),
        Text(_LEGEND, style="dim"),
        decisions_table(result.summary),
        Text(
            f"Scanned {result.accounts:,} accounts of org {result.org.org_id}"
            + (f" in {seconds:.1f} s ({result.accounts / seconds:,.0f} users/s)" if seconds >= 0.01 else "")
            + f". Mode: {policy.mode.value} — nothing was changed."
        ),
        Text(f"Run {result.run_id}  plan hash {result.plan_hash[:16]}…"),
    ]
    if result.summary.api_review or result.summary.api_unknown:
        lines.insert(
            3,
            Text(
                f"Review: {result.summary.api_review:,} used through the API, {result.summary.api_unknown:,} with "
                f"unreadable API tokens ({result.api_reads:,} token reads); none of them is warned."
            ),
        )
    if csv_path is not None:
        lines.append(Text(f"Preview CSV: {csv_path}", style="bold"))
    return Group(*lines)


def policy_table(policy: Policy) -> Table:
    """The rules of a policy, one per row."""
    table = Table(title=f"Policy ({policy.mode.value})", title_justify="left")
    for header in ("Rule", "Product", "Inactive days", "Action", "Warn before", "Delete after"):
        table.add_column(header)
    for r in policy.rules:
        table.add_row(
            r.name,
            r.product,
            str(r.inactive_days),
            r.action.value,
            f"{r.warn_days_before} d",
            "-" if r.delete_after_days is None else f"{r.delete_after_days} d",
        )
    return table


_COUNT_LABELS = {
    "warnings_opened": "Warnings opened",
    "warnings_delivered": "Warnings delivered",
    "warnings_undelivered": "Warnings not delivered (escalated, no action)",
    "escalated": "Escalated to admins",
    "closed": "Warnings withdrawn or closed",
    "due": "Actions due",
    "actions_confirmed": "Actions done",
    "actions_noop": "Already done (no change needed)",
    "actions_skipped": "Skipped at the final check (kept, active again)",
    "actions_failed": "Failed (refused or gone)",
    "actions_transient": "Failed for now (Atlassian unavailable)",
    "restored": "Restored",
    "deletions_cancelled": "Deletions cancelled (the earlier action stays)",
    "deleted": "Deletion grace ended",
    "retried": "Retried after a transient failure",
    "api_review": "Review: used through the API (not warned)",
    "api_unknown": "API tokens unreadable (not warned this run)",
}


def run_table(report: RunReport) -> Group:
    """What a lifecycle run did."""
    table = Table(
        title=f"Run {report.run_id[:12]}… {report.status.value}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        min_width=44,
    )
    table.add_column("What")
    table.add_column("Count", justify="right")
    for key, count in sorted(report.counts.items()):
        label = _COUNT_LABELS.get(key) or key.replace("_", " ").capitalize()
        table.add_row(label, f"{count:,}")
    parts: list[RenderableType] = [table]
    if report.held:
        parts.append(
            Text(
                f"{report.held} actions are held for approval ({report.note}). "
                f"Another admin approves with: jira-cleanup approve {report.run_id}",
                style="bold yellow",
            )
        )
    elif report.note:
        parts.append(Text(report.note))
    return Group(*parts)


def counts_text(counts: Mapping[str, int]) -> str:
    """A run's counters in one line, e.g. ``3 actions done, 1 failed``."""
    parts = [f"{n:,} {(_COUNT_LABELS.get(k) or k.replace('_', ' ')).lower()}" for k, n in sorted(counts.items()) if n]
    return ", ".join(parts) or "nothing to do"


def transcript_text(transcript: ConsoleNotifier, limit: int = 10) -> str:
    """What a dry run would have told people: the first ``limit`` warnings and how many more."""
    total = transcript.counts.get("warn", 0)
    if not total:
        return ""
    warnings = [n for n in transcript.transcript if n.kind == "warn"][:limit]
    lines = [f"Dry run: {total:,} people would be warned (nothing was sent). For example:"]
    lines += [f"  to {n.to}: {n.text}" for n in warnings]
    if total > len(warnings):
        lines.append(f"  … and {total - len(warnings):,} more (every account is in the run CSV)")
    return "\n".join(lines)


def runs_table(runs: Sequence[LifecycleRun]) -> Table:
    """Recent lifecycle runs."""
    table = Table(title="Recent runs", title_justify="left", box=box.SIMPLE_HEAD)
    for header in ("Run", "When (UTC)", "Mode", "Status", "Held", "By", "Note"):
        table.add_column(header, overflow="fold")
    for run in runs:
        table.add_row(
            run.run_id,
            f"{run.created_at:%Y-%m-%d %H:%M}",
            run.mode,
            run.status.value,
            str(run.held),
            run.requested_by,
            run.note,
        )
    return table


def restore_summary(policy: Policy) -> str:
    """Delivery order and self-service restore rules, in two lines."""
    rules = policy.restore
    auto = ", ".join(r.name for r in rules.auto_approve) or "none (an admin decides every request)"
    deny = ", ".join(sorted(rules.deny_groups)) or "none"
    return (
        f"Warnings go by: {' → '.join(policy.lifecycle.delivery_order)}.\n"
        f"Restore requests from {', '.join(sorted(rules.sources)) or 'nowhere (self-service off)'}; "
        f"auto-approve rules: {auto}; at most {rules.limit_max} auto-restores per {rules.limit_days} days; "
        f"deny groups: {deny}; {rules.requests_per_day} requests per account per day."
    )


def requests_table(requests: Sequence[RestoreRequest]) -> Table:
    """Restore requests waiting for an admin."""
    table = Table(title="Restore requests waiting for an admin", title_justify="left", box=box.SIMPLE_HEAD)
    for header in ("Request", "Asked (UTC)", "Account", "From", "Why an admin"):
        table.add_column(header, overflow="fold")
    for request in requests:
        table.add_row(
            request.request_id,
            f"{request.created_at:%Y-%m-%d %H:%M}",
            request.account_id,
            f"{request.source}: {request.requester.name or request.requester.user_id}",
            request.reason,
        )
    return table


def savings_table(savings: Savings) -> Table:
    """Seats freed and money saved per month, net of restores."""
    table = Table(title="License savings (net of restores)", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("Product")
    table.add_column("Seats freed", justify="right")
    table.add_column(f"{savings.currency}/month", justify="right")
    for product in sorted(savings.seats):
        table.add_row(product, f"{savings.seats[product]:,}", f"{savings.monthly[product]:,.2f}")
    table.add_section()
    table.add_row("Total", f"{sum(savings.seats.values()):,}", f"{savings.total:,.2f}")
    table.caption = f"{savings.restored} restored accounts are not counted."
    return table
