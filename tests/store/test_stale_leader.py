"""Bar 16 with real engines: a leader that pauses while another takes over cannot write afterwards.

The old leader's engine is paused at a named crash point (its hook runs the takeover: the old
lock is lost, a new leader acquires the next epoch), then resumes with its stale epoch. The
ledger refuses it (``FencedOut``) and records nothing; the new leader reconciles by reading the
account and finishes every entry, each account suspended exactly once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.store import PostgresLeader
from core.audit import AuditEntry
from core.clock import FixedClock
from core.engine import Engine, RunReport
from core.errors import FencedOut
from core.ledger import EntryState, LedgerEntry, RunStatus, entry_id_for
from core.lifecycle import Case, CaseState, Op
from core.policy import Action, Policy, parse_policy
from core.ports import LeaderLock, LifecycleStore
from tests.fakes import NOW, FakeDirectory, FakeStore, RecordingNotifier, make_account
from tests.fakes_lifecycle import FakeLeaderLock, FakeLifecycleStore

from .leader_db import Db, open_db

ORG = "org-1"
RULE = "idle"
ACCOUNTS = ("a1", "a2", "a3")

POLICY: Policy = parse_policy(
    {
        "mode": "enforce",
        "rules": [{"name": RULE, "product": "any", "inactive_days": 90, "action": "suspend", "warn_days_before": 0}],
        "safety": {
            "caps": {
                "per_run": {"max_actions": None, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
            },
            "canary": {"size": 0},
        },
    },
    source="stale leader policy",
)


@dataclass
class World:
    store: LifecycleStore
    db: Db | None
    directory: FakeDirectory
    clock: FixedClock

    def leader(self, holder: str) -> LeaderLock:
        if self.db is None:
            assert isinstance(self.store, FakeLifecycleStore)
            return FakeLeaderLock(self.store, holder)
        return self.db.leader(holder)

    def engine(self, name: str, epoch: int, crash: object = None) -> Engine:
        return Engine(
            self.directory,
            FakeStore(),
            self.store,
            RecordingNotifier(),
            self.clock,
            worker_id=name,
            crash=crash,  # type: ignore[arg-type]
            concurrency=1,
            claim_batch=1,
            epoch=epoch,
        )


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = FixedClock(NOW)
    directory = FakeDirectory([make_account(a, products={"jira-software": 200}) for a in ACCOUNTS])
    if request.param == "fake":
        store = FakeLifecycleStore(clock=clock)
        seed(store)
        yield World(store, None, directory, clock)
        return
    with open_db(request.param, tmp_path, clock) as db:
        seed(db.store)
        yield World(db.store, db, directory, clock)


def seed(store: LifecycleStore) -> None:
    """Per account: a WARNED case (delivered, deadline passed) and one PLANNED suspend, in account order."""
    entries = []
    for n, account_id in enumerate(ACCOUNTS):
        opened = NOW - timedelta(days=20) + timedelta(minutes=n)
        case = Case(
            case_id=f"case-{account_id}-{uuid.uuid4().hex[:6]}",
            org_id=ORG,
            account_id=account_id,
            rule=RULE,
            product="any",
            action=Action.SUSPEND,
            state=CaseState.WARNED,
            opened_at=opened,
            updated_at=opened,
            deadline=NOW - timedelta(days=1),
            delivered_at=opened,
            delivery_channel="slack",
        )
        store.create_case(case, AuditEntry(at=opened, actor="test", action="warn.open", outcome="ok", org_id=ORG))
        entries.append(
            LedgerEntry(
                entry_id=entry_id_for(ORG, case.case_id, Op.SUSPEND),
                org_id=ORG,
                run_id="seed",
                case_id=case.case_id,
                account_id=account_id,
                rule=RULE,
                op=Op.SUSPEND,
                state=EntryState.PLANNED,
                created_at=opened,
                updated_at=opened,
            )
        )
    assert store.add_entries(entries) == len(ACCOUNTS)


def by_account(store: LifecycleStore) -> dict[str, LedgerEntry]:
    return {e.account_id: e for e in store.entries(ORG)}


def suspend_audits(store: LifecycleStore) -> Counter[str | None]:
    return Counter(e.entry.subject for e in store.iter_audit() if e.entry.action == "act.suspend")


@pytest.mark.parametrize("point", ["after_claim", "after_requested", "before_confirm"])
async def test_a_paused_leader_cannot_write_after_a_takeover(world: World, point: str) -> None:
    old = world.leader("old")
    assert old.acquire(ORG) == 1
    new = world.leader("new")
    took_over: list[int | None] = []

    def pause_and_take_over(at: str) -> None:
        if at == point and not took_over:
            # While the old leader is stuck here its lock goes away (a GC pause outlasting the
            # session, a dropped connection) and a standby takes over with the next epoch.
            if isinstance(old, PostgresLeader):
                assert world.db is not None
                world.db.terminate(old.backend_pid)
                assert not old.still_leader()
            elif isinstance(old, FakeLeaderLock):
                old.lose()
            else:
                old.release()
            took_over.append(new.acquire(ORG))

    stale = world.engine("old", 1, pause_and_take_over)
    with pytest.raises(FencedOut) as refused:
        await stale.execute(ORG, POLICY, RunReport("stale", ORG, "enforce", RunStatus.RUNNING), run_id=None)
    assert took_over == [2]
    assert (refused.value.epoch, refused.value.current) == (1, 2)

    # The stale leader's last ledger write is the one before the takeover; nothing after it.
    first = by_account(world.store)["a1"]
    expected_state = EntryState.CLAIMED if point == "after_claim" else EntryState.REQUESTED
    assert (first.state, first.epoch) == (expected_state, 1)
    assert [(e.state, e.epoch) for a, e in by_account(world.store).items() if a != "a1"] == [
        (EntryState.PLANNED, None),
        (EntryState.PLANNED, None),
    ]
    assert suspend_audits(world.store) == Counter()
    # Fencing guards the ledger, not Atlassian: an entry whose REQUESTED commit was fenced in
    # time is never sent, but one paused after it still sends its write when it wakes up (the
    # new leader then finds the account already suspended; see the module docstring of
    # adapters.store.leader for why a takeover must wait out in-flight writes).
    sent_by_stale = [] if point == "after_claim" else [("suspend", "a1")]
    assert world.directory.writes == sent_by_stale

    # The new leader recovers (releases CLAIMED, reconciles REQUESTED by reading) and finishes;
    # an older leader's REQUESTED entry is left alone until its write can no longer be in flight.
    leader = world.engine("new", 2)
    assert await leader.recover(ORG, POLICY) == 1
    if point != "after_claim":
        assert by_account(world.store)["a1"].state is EntryState.REQUESTED
        world.clock.advance(leader.in_flight_grace + timedelta(seconds=1))
        assert await leader.recover(ORG, POLICY) == 1
    report = RunReport("new", ORG, "enforce", RunStatus.RUNNING)
    await leader.execute(ORG, POLICY, report, run_id=None)
    entries = by_account(world.store)
    assert {a: (e.state, e.epoch) for a, e in entries.items()} == dict.fromkeys(ACCOUNTS, (EntryState.CONFIRMED, 2))
    assert Counter(world.directory.writes) == Counter(("suspend", a) for a in ACCOUNTS)
    assert suspend_audits(world.store) == Counter(ACCOUNTS)
    if sent_by_stale:
        assert entries["a1"].outcome == "already in the target state"
    assert new.still_leader()
    new.release()
