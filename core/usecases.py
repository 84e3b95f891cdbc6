"""Use cases: the imperative shell around the pure planner.

``scan_and_plan`` reads an org page by page, plans each account as it arrives, stores the
snapshot and the decisions, and returns the plan hash and summary. It never writes to
Atlassian: scanning is read-only by construction (it only holds a ``DirectoryReader``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core.model import Account, Org
from core.planner import Decision, PlanBuilder, PlanSummary
from core.policy import Policy
from core.ports import Clock, DirectoryReader, ProtectionStore, ScanStore
from core.protection import effective_policy

DecisionsCallback = Callable[[Org, Account, tuple[Decision, ...]], None]
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a finished scan produced."""

    run_id: str
    org: Org
    accounts: int
    decisions: int
    plan_hash: str
    summary: PlanSummary
    started_at: datetime
    finished_at: datetime


async def scan_and_plan(
    directory: DirectoryReader,
    store: ScanStore,
    policy: Policy,
    clock: Clock,
    *,
    on_decisions: DecisionsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    protections: ProtectionStore | None = None,
) -> ScanResult:
    """Scan every account of the org, plan it under ``policy`` and store both.

    With ``protections``, the plan uses the effective policy: ``policy`` plus the protections
    stored for the org (added from chat or the CLI).

    Memory stays bounded by one page: accounts are planned and stored as they arrive.
    ``on_decisions`` sees each account with its decisions (the CLI writes the CSV there);
    ``on_progress`` gets the running account count after every page. On any error the
    scan is stored as ``failed`` with the error text, and the error is re-raised.
    """
    org = await directory.describe_org()
    if protections is not None:
        policy = await asyncio.to_thread(effective_policy, policy, protections, org.org_id)
    await asyncio.to_thread(store.upsert_org, org)
    started = clock.now()
    run_id = await asyncio.to_thread(store.start_scan, org.org_id, started, policy.policy_hash)
    builder = PlanBuilder(policy, started)
    count = 0
    decision_count = 0
    try:
        async for page in directory.iter_accounts():
            page_decisions: list[Decision] = []
            for account in page:
                decisions = builder.add(account)
                page_decisions.extend(decisions)
                if on_decisions is not None:
                    on_decisions(org, account, decisions)
            await asyncio.to_thread(store.save_accounts, run_id, org.org_id, page)
            await asyncio.to_thread(store.save_decisions, run_id, org.org_id, page_decisions)
            count += len(page)
            decision_count += len(page_decisions)
            if on_progress is not None:
                on_progress(count)
    except BaseException as exc:
        await asyncio.to_thread(
            store.finish_scan,
            run_id,
            clock.now(),
            status="failed",
            plan_hash=None,
            accounts=count,
            summary=None,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    finished = clock.now()
    plan_hash = builder.plan_hash
    await asyncio.to_thread(
        store.finish_scan,
        run_id,
        finished,
        status="completed",
        plan_hash=plan_hash,
        accounts=count,
        summary=builder.summary,
    )
    return ScanResult(
        run_id=run_id,
        org=org,
        accounts=count,
        decisions=decision_count,
        plan_hash=plan_hash,
        summary=builder.summary,
        started_at=started,
        finished_at=finished,
    )
