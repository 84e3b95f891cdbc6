"""Use cases: the imperative shell around the pure planner.

``scan_and_plan`` reads an org page by page, plans each account as it arrives, stores the
snapshot and the decisions, and returns the plan hash and summary. It never writes to
Atlassian: scanning is read-only by construction (it only holds a ``DirectoryReader``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from core.model import Account, ApiUse, Claim, Org
from core.planner import Decision, PlanBuilder, PlanSummary, Verdict
from core.policy import Policy
from core.ports import ApiTokenReader, Clock, DirectoryReader, ProtectionStore, ScanStore
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
    api_reads: int = 0


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

    When ``directory`` can read API tokens (:class:`ApiTokenReader`), the tokens of each account
    the plan would warn, act on or delete are read before its decisions are final: recent API
    use sends it to the review lane, tokens that could not be read fail closed (not warned this
    run, counted in ``summary.api_unknown``). ``ScanResult.api_reads`` counts those requests.

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
    tally = _Tally()
    try:
        await _plan_pages(directory, store, builder, org, run_id, tally, on_decisions, on_progress)
    except BaseException as exc:
        await asyncio.to_thread(_record_failure, store, run_id, clock.now(), tally, exc)
        raise
    finished = clock.now()
    await asyncio.to_thread(
        store.finish_scan,
        run_id,
        finished,
        status="completed",
        plan_hash=builder.plan_hash,
        accounts=tally.accounts,
        summary=builder.summary,
    )
    return ScanResult(
        run_id=run_id,
        org=org,
        accounts=tally.accounts,
        decisions=tally.decisions,
        plan_hash=builder.plan_hash,
        summary=builder.summary,
        started_at=started,
        finished_at=finished,
        api_reads=tally.api_reads,
    )


@dataclass(slots=True)
class _Tally:
    """How far a scan got (kept when it fails half-way)."""

    accounts: int = 0
    decisions: int = 0
    api_reads: int = 0


def _record_failure(store: ScanStore, run_id: str, at: datetime, tally: _Tally, exc: BaseException) -> None:
    """Store the scan as failed, with how far it got and the error text."""
    error = f"{type(exc).__name__}: {exc}"
    store.finish_scan(run_id, at, status="failed", plan_hash=None, accounts=tally.accounts, summary=None, error=error)


async def _plan_pages(
    directory: DirectoryReader,
    store: ScanStore,
    builder: PlanBuilder,
    org: Org,
    run_id: str,
    tally: _Tally,
    on_decisions: DecisionsCallback | None,
    on_progress: ProgressCallback | None,
) -> None:
    """Plan and store the accounts page by page, counting them in ``tally``."""
    tokens = directory if isinstance(directory, ApiTokenReader) else None
    async for page in directory.iter_accounts():
        page_decisions: list[Decision] = []
        for account in page:
            decisions = await plan_account(builder, account, tokens, tally) if tokens else builder.add(account)
            page_decisions.extend(decisions)
            if on_decisions is not None:
                on_decisions(org, account, decisions)
        await asyncio.to_thread(store.save_accounts, run_id, org.org_id, page)
        await asyncio.to_thread(store.save_decisions, run_id, org.org_id, page_decisions)
        tally.accounts += len(page)
        tally.decisions += len(page_decisions)
        if on_progress is not None:
            on_progress(tally.accounts)


async def plan_account(
    builder: PlanBuilder, account: Account, tokens: ApiTokenReader, tally: _Tally | None = None
) -> tuple[Decision, ...]:
    """Plan ``account``, reading its API tokens first when the plan would warn or act on it.

    Only accounts the org manages have readable tokens: Atlassian refuses (403) the token list of
    an unmanaged account to every org, so for those there is no API evidence to wait for and they
    are planned on page views alone (the README says so), rather than never being acted on.
    """
    judged = builder.judge(account)
    if all(d.verdict is Verdict.SKIP for d in judged) or account.claim is not Claim.MANAGED:
        return builder.add(account, judged=judged)
    if tally is not None:
        tally.api_reads += 1
    try:
        api = await tokens.api_use(account.account_id)
    except Exception as exc:  # fail closed: an unread token list never means "unused"
        api = ApiUse.unknown(f"{type(exc).__name__}: {exc}")
    return builder.add(account, api=api, judged=judged)


def latest_accounts(scans: ScanStore, org_id: str, account_ids: Iterable[str]) -> dict[str, Account | None]:
    """The accounts as of ``org_id``'s latest scan (None: not in it, or no scan yet)."""
    latest = scans.latest_scan(org_id)
    return {a: None if latest is None else scans.get_account(latest.run_id, a) for a in set(account_ids)}


def latest_account(scans: ScanStore, org_id: str, account_id: str) -> Account | None:
    """One account as of ``org_id``'s latest scan (None: not in it, or no scan yet)."""
    return latest_accounts(scans, org_id, (account_id,))[account_id]
