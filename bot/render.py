"""Rich renderings for the terminal. Pure: data in, renderables out."""

from __future__ import annotations

from decimal import Decimal

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from core.planner import PlanSummary
from core.policy import Policy
from core.usecases import ScanResult


def money(amount: Decimal, currency: str) -> str:
    """``1234.5`` -> ``USD 1,234.50``."""
    return f"{currency} {amount:,.2f}"


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
    seconds = max((result.finished_at - result.started_at).total_seconds(), 1e-9)
    lines: list[RenderableType] = [
        summary_table(result.summary),
        Text(_LEGEND, style="dim"),
        decisions_table(result.summary),
        Text(
            f"Scanned {result.accounts:,} accounts of org {result.org.org_id} in {seconds:.1f} s "
            f"({result.accounts / seconds:,.0f} users/s). Mode: {policy.mode.value} — nothing was changed."
        ),
        Text(f"Run {result.run_id}  plan hash {result.plan_hash[:16]}…"),
    ]
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
