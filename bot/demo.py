"""``jira-cleanup demo``: a preview, then a whole lifecycle on the sandbox with a simulated clock.

Everything happens against the in-process sandbox org over loopback HTTP and a local SQLite
file: day 0 warnings, keeps by some users, day 14 actions (held by the blast-radius cap, then
approved by a second admin), deletions 30 days later (with their own approval), one restore,
and finally the audit chain verified and the CSV written.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.console_notifier import ConsoleNotifier
from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from bot.charts import report_chart
from bot.compose import Stores, stores
from bot.lifecycle import worker_id
from bot.render import run_table, scan_report
from bot.scanning import ProgressSink, scan_to_csv
from core.audit import ChainReport, verify_chain
from core.chat import Actor
from core.clock import FixedClock, SystemClock
from core.engine import Engine, RunReport
from core.lifecycle import Case, CaseState
from core.model import Account
from core.policy import Mode, Policy, Rule
from core.ports import Delivery
from core.restore import RestoreDesk
from core.usecases import ScanResult


class SimulatedInboxes(ConsoleNotifier):
    """The demo's people are simulated, and so are their inboxes: a message written here counts as read.

    Only the demo uses this; every production path counts a warning as delivered only when a
    real channel (Slack, Teams, SMTP) confirmed it.
    """

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """Write the warning to the transcript and count it delivered to the simulated inbox."""
        await super().warn(account, case, rule)
        return Delivery(True, "demo-inbox", "simulated person")

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Like :meth:`warn`, for the notice after an action."""
        await super().actioned(account, case)
        return Delivery(True, "demo-inbox", "simulated person")

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """Like :meth:`warn`, for a plain message to a simulated person."""
        await super().tell(account, subject, text)
        return Delivery(True, "demo-inbox", "simulated person")


REQUESTER = "demo:it-admin"
APPROVER = "demo:security-lead"


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did: the preview scan, the cycle's runs, and the files it wrote."""

    preview: ScanResult
    csv_path: Path
    requests: int
    mutating_requests: int
    runs: list[RunReport]
    kept: int
    restored: str | None
    audit: ChainReport | None
    chart: Path | None = None


async def run_demo(
    *,
    users: int,
    seed: int,
    csv_path: Path | None,
    database_url: str,
    policy: Policy,
    cycle: bool,
    console: Console | None,
    progress: ProgressSink | None = None,
) -> DemoResult:
    """Preview the sample policy on a simulated org; with ``cycle``, play the whole lifecycle too."""
    clock = FixedClock(SystemClock().now())
    server = SandboxServer(generate_org(users=users, seed=seed, now=clock.now()), SandboxConfig(now=clock.now))
    await server.start()
    db = stores(database_url)
    try:
        config = AtlassianConfig(
            org_id=server.org_id, api_key="sandbox-key", base_url=server.base_url, requests_per_second=None
        )
        async with open_directory(config) as directory:
            preview, path = await scan_to_csv(
                directory,
                db.scans,
                replace(policy, mode=Mode.DRY_RUN),
                csv_path=csv_path,
                clock=clock,
                progress=progress,
            )
            requests = len(server.request_log)
            mutating = len(server.mutating_requests())
            if console is not None:
                console.print(scan_report(preview, policy, str(path)))
                console.print(
                    f"Sandbox served {requests:,} requests ({requests / max(preview.accounts, 1):.4f} per user), "
                    f"{mutating} of them mutating."
                )
            if not cycle:
                return DemoResult(preview, path, requests, mutating, [], 0, None, None)
            engine = Engine(
                directory,
                db.scans,
                db.lifecycle,
                SimulatedInboxes(),
                clock,
                worker_id=worker_id(),
                protections=db.protections,
            )
            return await _cycle(
                engine, db, clock, replace(policy, mode=Mode.ENFORCE), preview, path, requests, mutating, console, seed
            )
    finally:
        await server.stop()


async def _cycle(
    engine: Engine,
    db: Stores,
    clock: FixedClock,
    policy: Policy,
    preview: ScanResult,
    path: Path,
    requests: int,
    mutating: int,
    console: Console | None,
    seed: int,
) -> DemoResult:
    runs: list[RunReport] = []
    org_id = preview.org.org_id

    def show(title: str, report: RunReport) -> None:
        runs.append(report)
        if console is not None:
            console.rule(title)
            console.print(run_table(report))

    show("Day 0 — warnings", await engine.run(policy, requested_by=REQUESTER))
    keepers = await _some_keep(engine, db, policy, org_id, seed, console)

    clock.advance(timedelta(days=14))
    day14 = await engine.run(policy, requested_by=REQUESTER)
    show("Day 14 — the deadline", day14)
    if day14.held:
        show(f"Day 14 — approved by {APPROVER}", await engine.approve(day14.run_id, APPROVER, policy))

    clock.advance(timedelta(days=max((r.delete_after_days or 0) for r in policy.rules) or 30))
    later = await engine.run(policy, requested_by=REQUESTER)
    show("Deletion day", later)
    if later.held:
        show(f"Deletions approved by {APPROVER}", await engine.approve(later.run_id, APPROVER, policy))

    restored = None
    done = [
        c
        for c in db.lifecycle.open_cases(org_id).values()
        if c.state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED)
    ]
    if done:
        target = sorted(done, key=lambda c: c.account_id)[0].account_id
        restored = await _ask_back(engine, db, clock, policy, org_id, target, console)
    chart = await report_chart(db.lifecycle, db.scans, org_id, policy, path.parent, clock.now())
    audit = verify_chain(db.lifecycle.iter_audit())
    if console is not None:
        console.print(f"Report chart (what admins get after each scheduled run and on /jira-cleanup report): {chart}")
        console.print(_audit_table(audit))
    return DemoResult(preview, path, requests, mutating, runs, len(keepers), restored, audit, chart)


async def _some_keep(
    engine: Engine, db: Stores, policy: Policy, org_id: str, seed: int, console: Console | None
) -> list[str]:
    """About one warned person in twenty presses "Keep my access" (chosen by ``seed``); returns who."""
    warned = sorted(
        {
            c.account_id
            for c in db.lifecycle.open_cases(org_id).values()
            if c.state is CaseState.WARNED and c.delivered_at is not None
        }
    )
    keepers = random.Random(seed).sample(warned, k=max(1, len(warned) // 20)) if warned else []
    for account_id in keepers:
        await engine.keep(
            org_id,
            account_id,
            f"sandbox-user:{account_id}",
            policy,
            justification="I still need this for quarterly reporting",
        )
    if console is not None:
        console.print(f'{len(keepers)} people pressed "Keep my access".')
    return keepers


async def _ask_back(
    engine: Engine, db: Stores, clock: FixedClock, policy: Policy, org_id: str, account_id: str, console: Console | None
) -> str | None:
    """The person asks for access back (the email link's path); no rule auto-approves, so an admin decides."""

    @asynccontextmanager
    async def this_engine() -> AsyncIterator[Engine]:
        yield engine

    desk = RestoreDesk(
        org_id,
        requests=db.restores,
        lifecycle=db.lifecycle,
        scans=db.scans,
        tokens=db.tokens,
        clock=clock,
        open_engine=this_engine,
        load_policy=lambda: policy,
    )
    latest = db.scans.latest_scan(org_id)
    account = db.scans.get_account(latest.run_id, account_id) if latest is not None else None
    email = account.email if account is not None and account.email else account_id
    asked = await desk.submit("email", Actor("email", "", email.lower()), account_id, reply_to=email)
    if console is not None:
        console.print(f"{email} asks for access back by email: {asked.text}")
    if asked.request is None or not asked.buttons:
        return None
    decided = await desk.decide(asked.request.request_id, True, Actor("demo", "", "security-lead"))
    if console is not None:
        console.print(f"Admin: {decided.text}")
    return account_id if decided.ok else None


def _audit_table(report: ChainReport) -> Table:
    table = Table(title="Audit trail", title_justify="left")
    table.add_column("Events verified", justify="right")
    table.add_column("Hash chain")
    table.add_row(f"{report.checked:,}", "intact" if report.ok else f"BROKEN: {report.problem}")
    return table
