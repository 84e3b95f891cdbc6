"""Use cases: the imperative shell around the pure planner.

``scan_and_plan`` reads an org page by page, plans each account as it arrives, stores the
snapshot and the decisions, and returns the plan hash and summary. It never writes to
Atlassian: scanning is read-only by construction (it only holds a ``DirectoryReader``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.model import Account, Org
from core.planner import Decision, PlanBuilder, PlanSummary
from core.policy import Policy
from core.ports import (
    ApiEvidenceStore,
    ApiTokenReader,
    Clock,
    DirectoryReader,
    OpenCaseReader,
    ProtectionStore,
    ScanStore,
)
from core.protection import effective_policy
from core.token_evidence import TokenEvidence, settled_warnings

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
    api_reused: int = 0


async def scan_and_plan(
    directory: DirectoryReader,
    store: ScanStore,
    policy: Policy,
    clock: Clock,
    *,
    on_decisions: DecisionsCallback | None = None,
    on_progress: ProgressCallback | None = None,
    protections: ProtectionStore | None = None,
    cases: OpenCaseReader | None = None,
) -> ScanResult:
    """Scan every account of the org, plan it under ``policy`` (plus the org's stored
    ``protections``, when given) and store both.

    When ``directory`` can read API tokens, each candidate's evidence is applied before its
    decisions are final (:mod:`core.token_evidence`): read (``ScanResult.api_reads``), or reused
    from a ``store`` that keeps it where a newer read could not change the outcome
    (``api_reused``; ``cases`` tells which warnings are already delivered).

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
        evidence = await _token_evidence(directory, store, builder, org.org_id, cases)
        await _plan_pages(directory, store, builder, org, run_id, tally, on_decisions, on_progress, evidence)
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
        api_reused=tally.api_reused,
    )


@dataclass(slots=True)
class _Tally:
    """How far a scan got (kept when it fails half-way)."""

    accounts: int = 0
    decisions: int = 0
    api_reads: int = 0
    api_reused: int = 0


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
    evidence: TokenEvidence | None,
) -> None:
    """Plan and store the accounts page by page, counting them in ``tally``."""
    async for page in directory.iter_accounts():
        if evidence is not None:
            planned = await evidence.plan_page(page)
            tally.api_reads, tally.api_reused = evidence.reads, evidence.reused
        else:
            planned = [(account, builder.add(account)) for account in page]
        page_decisions: list[Decision] = []
        for account, decisions in planned:
            page_decisions.extend(decisions)
            if on_decisions is not None:
                on_decisions(org, account, decisions)
        await asyncio.to_thread(store.save_accounts, run_id, org.org_id, page)
        await asyncio.to_thread(store.save_decisions, run_id, org.org_id, page_decisions)
        tally.accounts += len(page)
        tally.decisions += len(page_decisions)
        if on_progress is not None:
            on_progress(tally.accounts)


async def _token_evidence(
    directory: DirectoryReader,
    store: ScanStore,
    builder: PlanBuilder,
    org_id: str,
    cases: OpenCaseReader | None,
) -> TokenEvidence | None:
    """How this scan reads API tokens: None when the directory cannot read them."""
    if not isinstance(directory, ApiTokenReader):
        return None
    max_age = timedelta(days=builder.policy.lifecycle.api_token_recheck_days)
    cache = store if isinstance(store, ApiEvidenceStore) and max_age else None
    settled: frozenset[tuple[str, str]] = frozenset()
    if cache is not None and cases is not None:
        settled = settled_warnings(await asyncio.to_thread(cases.open_cases, org_id))
    return TokenEvidence(directory, builder, org_id, cache=cache, max_age=max_age, settled=settled)


async def plan_account(builder: PlanBuilder, account: Account, tokens: ApiTokenReader) -> tuple[Decision, ...]:
    """Plan ``account`` as a scan does, reading its API tokens when the plan would warn or act on it."""
    return (await TokenEvidence(tokens, builder, org_id="").plan_page([account]))[0][1]


def latest_accounts(scans: ScanStore, org_id: str, account_ids: Iterable[str]) -> dict[str, Account | None]:
    """The accounts as of ``org_id``'s latest scan (None: not in it, or no scan yet)."""
    latest = scans.latest_scan(org_id)
    return {a: None if latest is None else scans.get_account(latest.run_id, a) for a in set(account_ids)}


def latest_account(scans: ScanStore, org_id: str, account_id: str) -> Account | None:
    """One account as of ``org_id``'s latest scan (None: not in it, or no scan yet)."""
    return latest_accounts(scans, org_id, (account_id,))[account_id]
