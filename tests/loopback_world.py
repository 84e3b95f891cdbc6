"""What the chaos and the replica tests share: a sandbox in its own process, the policy, the seeded store.

Both suites run the real client against ``tests.chaos.sandbox_proc`` (control API on) and seed
the SQL stores with WARNED cases and PLANNED suspends before their worker processes start.
"""

from __future__ import annotations

import asyncio
import selectors
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.store import open_stores
from core.audit import AuditEntry
from core.ledger import EntryState, LedgerEntry, entry_id_for
from core.lifecycle import Case, CaseState, Op
from core.planner import PlanBuilder, Verdict
from core.policy import Action, Policy, parse_policy
from core.usecases import plan_account
from tests.policies import uncapped

REPO = Path(__file__).resolve().parents[1]

#: The sandbox's API key (``tests.chaos.sandbox_proc`` serves with it).
API_KEY = "sandbox-key"


def suspend_policy(rule: str, source: str) -> Policy:
    """One org-wide suspend rule named ``rule``, every rail that could hold or stop the run switched off."""
    return parse_policy(
        {
            "mode": "enforce",
            "new_account_grace_days": 0,
            "last_active_lag_days": 0,
            "rules": [{"name": rule, "product": "any", "inactive_days": 1, "action": "suspend", "warn_days_before": 0}],
            "safety": {
                "caps": uncapped(),
                "canary": {"size": 0},
                "circuit_breaker": {"consecutive_failures": 1_000_000},
            },
        },
        source=source,
    )


def directory_config(base_url: str, org_id: str) -> AtlassianConfig:
    """The real client's settings against the sandbox: no client-side rate limit, short waits."""
    return AtlassianConfig(
        org_id=org_id,
        api_key=API_KEY,
        base_url=base_url,
        requests_per_second=None,
        timeout=30.0,
        backoff_base=0.1,
        backoff_cap=1.0,
    )


# -- the sandbox process ---------------------------------------------------------------------------


@dataclass
class Sandbox:
    """The sandbox process and its control API."""

    proc: subprocess.Popen[str]
    base_url: str
    org_id: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log after ``since`` (``GET /_sandbox/requests``)."""
        response = self.http.get("/_sandbox/requests", params={"since": since})
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def last_seq(self) -> int:
        """The newest request sequence number."""
        response = self.http.get("/_sandbox/requests", params={"since": 2**62})
        response.raise_for_status()
        return int(response.json()["last_seq"])

    def users(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Raw state of each account, from one ``GET /_sandbox/users``."""
        response = self.http.get("/_sandbox/users")
        response.raise_for_status()
        every = {u["accountId"]: u for u in response.json()["data"]}
        return {a: every[a] for a in account_ids}

    def user(self, account_id: str) -> dict[str, Any]:
        """Raw state of one account (``GET /_sandbox/users/{accountId}``)."""
        response = self.http.get(f"/_sandbox/users/{account_id}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        return data


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of ``proc``, waiting at most ``timeout`` seconds (no sleeping)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output from {proc.args!r} within {timeout}s")
    return proc.stdout.readline().strip()


@contextmanager
def sandbox_process(
    users: int, seed: int, log_dir: Path, timeout: float = 60, requests_per_minute: int | None = None
) -> Iterator[Sandbox]:
    """Start ``sandbox_proc``, wait for its READY line, SIGTERM it on exit."""
    command = [sys.executable, "-m", "tests.chaos.sandbox_proc", "--users", str(users), "--seed", str(seed)]
    if requests_per_minute is not None:
        command += ["--requests-per-minute", str(requests_per_minute)]
    with (log_dir / f"sandbox-{users}-{seed}.log").open("w") as stderr:
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        sandbox: Sandbox | None = None
        try:
            line = _read_line(proc, timeout)
            ready, base_url, org_id = line.split()
            assert ready == "READY", line
            sandbox = Sandbox(proc, base_url, org_id)
            yield sandbox
        finally:
            if sandbox is not None:
                sandbox.http.close()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


# -- the world before the first worker -------------------------------------------------------------


def eligible_accounts(sandbox: Sandbox, policy: Policy, n: int | None) -> list[str]:
    """``n`` account ids (in id order; every one when ``n`` is None) the policy's rule acts on now, read
    with the real client.

    A suspend can only succeed, and pass the engine's final check, on a billable (atlassian,
    active, member) account that is not an admin, not SCIM-synced and past the threshold:
    exactly the accounts :func:`core.planner.decide` gives ``ACT``, less those whose API tokens send
    them to review (or could not be read), as a scan does.
    """

    async def read() -> list[str]:
        builder = PlanBuilder(policy, datetime.now(UTC))
        found: list[str] = []
        async with open_directory(directory_config(sandbox.base_url, sandbox.org_id)) as directory:
            async for page in directory.iter_accounts():
                for a in page:  # as a scan plans it (API tokens read for managed candidates)
                    if any(d.verdict is Verdict.ACT for d in await plan_account(builder, a, directory)):
                        found.append(a.account_id)
        return sorted(found)

    found = asyncio.run(read())
    if n is None:
        return found
    assert len(found) >= n, f"the sandbox has only {len(found)} eligible accounts, {n} wanted"
    return found[:n]


def seed_store(
    db: str, org_id: str, account_ids: Sequence[str], *, rule: str, actor: str, run_id: str, reason: str = ""
) -> None:
    """For each account: a WARNED case (delivered, deadline passed) and one PLANNED suspend entry."""
    now = datetime.now(UTC)
    scans, store = open_stores(db)
    try:
        entries = []
        for account_id in account_ids:
            case = Case(
                case_id=uuid.uuid4().hex,
                org_id=org_id,
                account_id=account_id,
                rule=rule,
                product="any",
                action=Action.SUSPEND,
                state=CaseState.WARNED,
                opened_at=now - timedelta(days=20),
                updated_at=now - timedelta(days=10),
                deadline=now - timedelta(days=1),
                delivered_at=now - timedelta(days=10),
                delivery_channel="slack",
            )
            audit = AuditEntry(
                at=now,
                actor=actor,
                action="warn.open",
                outcome="ok",
                org_id=org_id,
                subject=account_id,
                reason=reason,
            )
            store.create_case(case, audit)
            entries.append(
                LedgerEntry(
                    entry_id=entry_id_for(org_id, case.case_id, Op.SUSPEND),
                    org_id=org_id,
                    run_id=run_id,
                    case_id=case.case_id,
                    account_id=account_id,
                    rule=rule,
                    op=Op.SUSPEND,
                    state=EntryState.PLANNED,
                    created_at=now,
                    updated_at=now,
                )
            )
        assert store.add_entries(entries) == len(account_ids)
    finally:
        scans.close()
        store.close()


# -- what the sandbox saw --------------------------------------------------------------------------


def account_events(log: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, int | None]]]:
    """Per account, in request order: ``("read", status)`` for a v2 user GET, ``("suspend", status)`` for a POST."""
    events: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    for record in log:
        parts = record["path"].split("/")
        if record["method"] == "POST" and parts[-1] == "suspend" and parts[-3] == "users":
            events[parts[-2]].append(("suspend", record["status"]))
        elif record["method"] == "GET" and parts[1:3] == ["admin", "v2"] and parts[-2] == "users":
            events[parts[-1]].append(("read", record["status"]))
    return events


def ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def suspends(events: Sequence[tuple[str, int | None]]) -> list[int | None]:
    return [status for kind, status in events if kind == "suspend"]
