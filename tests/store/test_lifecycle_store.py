"""The LifecycleStore contract, run against the in-memory fake, SQLite and PostgreSQL.

Concurrency tests use threads with barriers and events only: no sleeps, no timing asserts.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from core.audit import GENESIS, AuditEvent, verify_chain, verify_org_chain
from core.clock import FixedClock
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus
from core.lifecycle import GIVING_BACK, CaseState, Op
from core.ports import LifecycleStore

from .lifecycle_data import IST, NOW, ORG, at, audit, full_case, make_case, make_entry, make_run


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run ``target(i)`` in ``count`` threads and re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def audit_log(store: LifecycleStore) -> list[AuditEvent]:
    return list(store.iter_audit())


# --------------------------------------------------------------------------- cases


def test_create_and_get_round_trip_exactly(lifecycle_store: LifecycleStore) -> None:
    case = full_case()
    lifecycle_store.create_case(case, audit("warn"))
    got = lifecycle_store.get_case(case.case_id)
    assert got == case
    assert got.opened_at.utcoffset() == timedelta(0)
    assert all(k.utcoffset() == timedelta(0) for k in got.keeps)
    minimal = make_case("case-min", account_id="acc-2")
    lifecycle_store.create_case(minimal, audit("warn"))
    assert lifecycle_store.get_case("case-min") == minimal
    assert lifecycle_store.get_case("case-min").effect is None


def test_create_case_writes_its_audit_event(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case(), audit("warn", reason="inactive 120 days"))
    [event] = audit_log(lifecycle_store)
    assert (event.seq, event.prev_hash) == (1, GENESIS)
    assert (event.entry.action, event.entry.reason) == ("warn", "inactive 120 days")


def test_unknown_case_is_a_lookup_error(lifecycle_store: LifecycleStore) -> None:
    with pytest.raises(LookupError):
        lifecycle_store.get_case("nope")
    with pytest.raises(LookupError), lifecycle_store.lock_case("nope"):
        pytest.fail("entered the lock of an unknown case")


def test_open_cases_and_find_cases(lifecycle_store: LifecycleStore) -> None:
    cases = [
        make_case("c1", account_id="acc-1", rule="r1", opened=0),
        make_case("c2", account_id="acc-1", rule="r2", state=CaseState.KEPT, opened=5),
        make_case("c3", account_id="acc-1", rule="r1", state=CaseState.CLOSED, opened=-60),
        make_case("c4", account_id="acc-2", rule="r1", state=CaseState.ACTIONED, opened=1),
        make_case("c5", account_id="acc-3", rule="r1", state=CaseState.DELETION_SCHEDULED, opened=2),
        make_case("c6", account_id="acc-4", rule="r1", state=CaseState.DELETED, opened=3),
        make_case("c7", account_id="acc-5", rule="r1", state=CaseState.RESTORED, opened=4),
        make_case("c8", org_id="org-2", account_id="acc-1", rule="r1", opened=0),
    ]
    for case in cases:
        lifecycle_store.create_case(case, audit(org_id=case.org_id))
    opened = lifecycle_store.open_cases(ORG)
    assert dict(opened) == {
        ("acc-1", "r1"): cases[0],
        ("acc-1", "r2"): cases[1],
        ("acc-2", "r1"): cases[3],
        ("acc-3", "r1"): cases[4],
    }
    assert lifecycle_store.open_cases("org-3") == {}
    assert [c.case_id for c in lifecycle_store.find_cases(ORG, "acc-1")] == ["c2", "c1", "c3"]
    assert [c.case_id for c in lifecycle_store.find_cases("org-2", "acc-1")] == ["c8"]
    assert list(lifecycle_store.find_cases(ORG, "acc-9")) == []


def test_one_open_case_per_account_and_rule(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case("old", state=CaseState.CLOSED, opened=-100), audit())
    lifecycle_store.create_case(make_case("c1"), audit())  # a closed case does not count
    before = audit_log(lifecycle_store)
    with pytest.raises(ValueError, match="open"):
        lifecycle_store.create_case(make_case("c2", state=CaseState.KEPT), audit())
    assert audit_log(lifecycle_store) == before  # the refused case left no audit event
    with pytest.raises(LookupError):
        lifecycle_store.get_case("c2")
    with pytest.raises(ValueError, match="c1"):
        lifecycle_store.create_case(make_case("c1", rule="other"), audit())  # duplicate id
    # another rule, another account, another org, or a closed case: all fine
    lifecycle_store.create_case(make_case("c3", rule="other"), audit())
    lifecycle_store.create_case(make_case("c4", account_id="acc-2"), audit())
    lifecycle_store.create_case(make_case("c5", org_id="org-2"), audit(org_id="org-2"))
    lifecycle_store.create_case(make_case("c6", state=CaseState.CLOSED), audit())
    assert len(audit_log(lifecycle_store)) == 6
    # closing the open case frees the slot
    with lifecycle_store.lock_case("c1") as tx:
        tx.save_case(replace(tx.case, state=CaseState.CLOSED, closed_reason="active again"))
    lifecycle_store.create_case(make_case("c7"), audit())
    assert lifecycle_store.open_cases(ORG)[("acc-1", "jira-90d")].case_id == "c7"


def test_reopening_a_case_next_to_an_open_one_is_refused(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case("old", state=CaseState.CLOSED, opened=-100), audit())
    lifecycle_store.create_case(make_case("new"), audit())
    with pytest.raises(ValueError, match="open"), lifecycle_store.lock_case("old") as tx:
        tx.save_case(replace(tx.case, state=CaseState.WARNED))
    assert lifecycle_store.get_case("old").state is CaseState.CLOSED


# --------------------------------------------------------------------------- lock_case


def test_lock_case_commits_case_entries_and_audit_together(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case("c1"), audit())
    lifecycle_store.create_case(make_case("c2", account_id="acc-2"), audit())
    e1 = make_entry("c1", Op.REMOVE_PRODUCT_ACCESS, created=1)
    other = make_entry("c2", Op.SUSPEND, created=0)
    assert lifecycle_store.add_entries([e1, other]) == 2
    with lifecycle_store.lock_case("c1") as tx:
        assert tx.case == make_case("c1")
        assert tx.entries == [e1]
        kept = replace(tx.case, state=CaseState.KEPT, keep_until=at(60), keeps=(at(1),), updated_at=at(1))
        tx.save_case(kept)
        assert tx.case == kept
        skipped = replace(e1, state=EntryState.SKIPPED, outcome="kept", updated_at=at(1))
        restore = make_entry("c1", Op.RESTORE, created=2)
        tx.save_entry(skipped)
        tx.save_entry(restore)
        assert tx.entries == [skipped, restore]
        tx.audit(audit("keep", minute=1))
        tx.audit(audit("skip", minute=1))
    assert lifecycle_store.get_case("c1") == kept
    assert lifecycle_store.get_entry(e1.entry_id) == skipped
    assert lifecycle_store.get_entry(restore.entry_id) == restore
    assert lifecycle_store.get_entry(other.entry_id) == other
    events = audit_log(lifecycle_store)
    assert [e.entry.action for e in events] == ["warn", "warn", "keep", "skip"]
    assert verify_chain(events).ok


def test_lock_case_rolls_everything_back_on_error(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case("c1"), audit())
    entry = make_entry("c1")
    lifecycle_store.add_entries([entry])
    before = audit_log(lifecycle_store)

    class Boom(Exception):
        pass

    def act_then_fail() -> None:
        with lifecycle_store.lock_case("c1") as tx:
            tx.save_case(replace(tx.case, state=CaseState.ACTIONED, actioned_at=at(1)))
            tx.save_entry(replace(entry, state=EntryState.REQUESTED, updated_at=at(1)))
            tx.save_entry(make_entry("c1", Op.RESTORE))
            tx.audit(audit("act.remove_product_access", minute=1))
            raise Boom

    with pytest.raises(Boom):
        act_then_fail()
    assert lifecycle_store.get_case("c1") == make_case("c1")
    assert lifecycle_store.entries(ORG) == [entry]
    assert audit_log(lifecycle_store) == before
    # the chain continues cleanly after the rollback
    event = lifecycle_store.append_audit(audit("after"))
    assert event.seq == 2
    assert verify_chain(lifecycle_store.iter_audit()).ok


def test_lock_case_refuses_foreign_cases_and_entries(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case("c1"), audit())
    with pytest.raises(ValueError, match="c1"), lifecycle_store.lock_case("c1") as tx:
        tx.save_case(make_case("c2"))
    with pytest.raises(ValueError, match="c2"), lifecycle_store.lock_case("c1") as tx:
        tx.save_entry(make_entry("c2"))
    assert lifecycle_store.entries(ORG) == []


def test_concurrent_lock_case_blocks_serialize(lifecycle_store: LifecycleStore) -> None:
    """Read-modify-write of the same case from two threads never loses an update."""
    lifecycle_store.create_case(make_case("c1", keep_reason="0"), audit())
    rounds = 10
    barrier = threading.Barrier(2)

    def bump(_: int) -> None:
        barrier.wait()
        for _ in range(rounds):
            with lifecycle_store.lock_case("c1") as tx:
                count = int(tx.case.keep_reason or "0")
                tx.save_case(replace(tx.case, keep_reason=str(count + 1)))
                tx.audit(audit("bump"))

    run_threads(2, bump)
    assert lifecycle_store.get_case("c1").keep_reason == str(2 * rounds)
    events = audit_log(lifecycle_store)
    assert len(events) == 1 + 2 * rounds
    assert verify_chain(events).ok


def test_second_lock_sees_the_first_locks_commit(lifecycle_store: LifecycleStore) -> None:
    lifecycle_store.create_case(make_case("c1"), audit())
    first_holds = threading.Event()
    second_starting = threading.Event()
    seen: list[CaseState] = []

    def first() -> None:
        with lifecycle_store.lock_case("c1") as tx:
            first_holds.set()
            assert second_starting.wait(30)
            tx.save_case(replace(tx.case, state=CaseState.KEPT, keep_until=at(60)))

    def second() -> None:
        assert first_holds.wait(30)
        second_starting.set()
        with lifecycle_store.lock_case("c1") as tx:  # waits for the first block to commit
            seen.append(tx.case.state)
            tx.save_case(replace(tx.case, closed_reason="seen"))

    run_threads(2, lambda i: (first, second)[i]())
    assert seen == [CaseState.KEPT]
    assert lifecycle_store.get_case("c1").closed_reason == "seen"
    assert lifecycle_store.get_case("c1").state is CaseState.KEPT


def test_lock_case_holds_its_entries_against_compare_and_set(lifecycle_store: LifecycleStore) -> None:
    """A CAS racing with a case transaction waits for it, then re-checks: no update is lost."""
    lifecycle_store.create_case(make_case("c1"), audit())
    entry = make_entry("c1", state=EntryState.CLAIMED)
    lifecycle_store.add_entries([entry])
    locked = threading.Event()
    cas_starting = threading.Event()
    results: list[bool] = []

    def keeper() -> None:
        with lifecycle_store.lock_case("c1") as tx:
            locked.set()
            assert cas_starting.wait(30)
            tx.save_entry(replace(tx.entries[0], state=EntryState.SKIPPED, outcome="kept", updated_at=at(1)))

    def executor() -> None:
        assert locked.wait(30)
        cas_starting.set()
        results.append(lifecycle_store.set_entry_state(entry.entry_id, EntryState.CLAIMED, EntryState.REQUESTED, at(2)))

    run_threads(2, lambda i: (keeper, executor)[i]())
    assert results == [False]
    assert lifecycle_store.get_entry(entry.entry_id).state is EntryState.SKIPPED


# --------------------------------------------------------------------------- ledger


def test_add_entries_is_idempotent_by_id(lifecycle_store: LifecycleStore) -> None:
    first = make_entry("c1", created=1, group_ids=("g-1", "g-2"), product="jira-software", epoch=3)
    second = make_entry("c2", Op.SUSPEND, created=0, worker="w-1", attempts=2, http_status=204, request_id="r-1")
    assert lifecycle_store.add_entries([first, second, first]) == 2
    changed = replace(first, state=EntryState.CONFIRMED)
    third = make_entry("c3", Op.DELETE_MANAGED, created=2)
    assert lifecycle_store.add_entries([changed, third]) == 1
    assert lifecycle_store.add_entries([]) == 0
    assert lifecycle_store.get_entry(first.entry_id) == first  # an existing entry is never replaced
    assert lifecycle_store.entries(ORG) == [second, first, third]
    with pytest.raises(LookupError):
        lifecycle_store.get_entry("nope")


def test_entries_filters_by_state_and_run(lifecycle_store: LifecycleStore) -> None:
    a = make_entry("c1", created=0, run_id="run-1")
    b = make_entry("c2", created=1, run_id="run-2", state=EntryState.HELD)
    c = make_entry("c3", created=2, run_id="run-1", state=EntryState.CONFIRMED)
    d = make_entry("c4", created=3, org_id="org-2", run_id="run-1")
    lifecycle_store.add_entries([d, c, b, a])
    assert lifecycle_store.entries(ORG) == [a, b, c]
    assert lifecycle_store.entries(ORG, run_id="run-1") == [a, c]
    assert lifecycle_store.entries(ORG, states=[EntryState.HELD, EntryState.CONFIRMED]) == [b, c]
    assert lifecycle_store.entries(ORG, states=iter([EntryState.PLANNED]), run_id="run-1") == [a]
    assert lifecycle_store.entries(ORG, states=[]) == []
    assert lifecycle_store.entries("org-2") == [d]


def test_claim_takes_oldest_planned_entries_once(lifecycle_store: LifecycleStore, lifecycle_clock: FixedClock) -> None:
    planned = [make_entry(f"c{i}", created=i, attempts=i % 2) for i in range(5)]
    other_run = make_entry("r2", created=-1, run_id="run-2")
    held = make_entry("h", created=-2, state=EntryState.HELD)
    other_org = make_entry("o", created=-3, org_id="org-2")
    lifecycle_store.add_entries([*reversed(planned), other_run, held, other_org])
    lifecycle_clock.advance(timedelta(minutes=30))
    now = lifecycle_clock.now()
    got = lifecycle_store.claim(ORG, "w-1", 2, run_id="run-1")
    assert got == [
        replace(e, state=EntryState.CLAIMED, worker="w-1", attempts=e.attempts + 1, updated_at=now) for e in planned[:2]
    ]
    assert [lifecycle_store.get_entry(e.entry_id) for e in planned[:2]] == got
    assert [e.entry_id for e in lifecycle_store.claim(ORG, "w-2", 10)] == [other_run.entry_id] + [
        e.entry_id for e in planned[2:]
    ]
    assert lifecycle_store.claim(ORG, "w-3", 10) == []
    assert lifecycle_store.claim(ORG, "w-3", 0) == []
    assert lifecycle_store.get_entry(held.entry_id) == held
    assert [e.entry_id for e in lifecycle_store.claim("org-2", "w-4", 10)] == [other_org.entry_id]


def test_claim_by_op_takes_only_those_ops(lifecycle_store: LifecycleStore) -> None:
    """A keep or a restore claims what gives access back, never the reductions waiting beside it."""
    suspend = make_entry("s", Op.SUSPEND, created=0)
    restore = make_entry("r", Op.RESTORE, created=1, run_id="run-0")
    cancel = make_entry("c", Op.CANCEL_DELETE, created=2)
    lifecycle_store.add_entries([suspend, restore, cancel])
    got = lifecycle_store.claim(ORG, "w-1", 10, ops=GIVING_BACK)
    assert [e.entry_id for e in got] == [restore.entry_id, cancel.entry_id]
    assert lifecycle_store.get_entry(suspend.entry_id).state is EntryState.PLANNED
    assert lifecycle_store.claim(ORG, "w-1", 10, ops=GIVING_BACK) == []
    assert [e.entry_id for e in lifecycle_store.claim(ORG, "w-2", 10, run_id="run-0", ops=[Op.SUSPEND])] == []
    assert [e.entry_id for e in lifecycle_store.claim(ORG, "w-2", 10, ops=[Op.SUSPEND])] == [suspend.entry_id]


def test_parallel_claims_hand_out_every_entry_exactly_once(lifecycle_store: LifecycleStore) -> None:
    total, workers, batch = 2000, 8, 50
    lifecycle_store.add_entries([make_entry(f"c{i:05d}", entry_id=f"e{i:05d}", created=i % 7) for i in range(total)])
    barrier = threading.Barrier(workers)
    claimed: list[list[LedgerEntry]] = [[] for _ in range(workers)]

    def work(i: int) -> None:
        barrier.wait()
        while got := lifecycle_store.claim(ORG, f"w-{i}", batch):
            assert len(got) <= batch
            claimed[i].extend(got)

    run_threads(workers, work)
    ids = Counter(e.entry_id for batch_ in claimed for e in batch_)
    assert len(ids) == total
    assert set(ids.values()) == {1}
    stored = lifecycle_store.entries(ORG)
    assert {e.state for e in stored} == {EntryState.CLAIMED}
    assert {e.attempts for e in stored} == {1}
    by_worker = {e.entry_id: f"w-{i}" for i, batch_ in enumerate(claimed) for e in batch_}
    assert all(e.worker == by_worker[e.entry_id] for e in stored)


def test_set_entry_state_is_compare_and_set(lifecycle_store: LifecycleStore) -> None:
    entry = make_entry("c1", state=EntryState.CLAIMED, outcome="")
    lifecycle_store.add_entries([entry])
    assert lifecycle_store.set_entry_state(entry.entry_id, EntryState.CLAIMED, EntryState.REQUESTED, at(1))
    assert not lifecycle_store.set_entry_state(entry.entry_id, EntryState.CLAIMED, EntryState.REQUESTED, at(2))
    assert lifecycle_store.get_entry(entry.entry_id) == replace(entry, state=EntryState.REQUESTED, updated_at=at(1))
    assert lifecycle_store.set_entry_state(entry.entry_id, EntryState.REQUESTED, EntryState.FAILED, at(3), "http 500")
    assert lifecycle_store.get_entry(entry.entry_id).outcome == "http 500"
    # an empty outcome keeps the stored one
    assert lifecycle_store.set_entry_state(entry.entry_id, EntryState.FAILED, EntryState.PLANNED, at(4).astimezone(IST))
    got = lifecycle_store.get_entry(entry.entry_id)
    assert (got.state, got.outcome, got.updated_at) == (EntryState.PLANNED, "http 500", at(4))
    assert not lifecycle_store.set_entry_state("nope", EntryState.PLANNED, EntryState.CLAIMED, at(5))


def test_set_entry_state_lets_one_of_many_racers_win(lifecycle_store: LifecycleStore) -> None:
    entry = make_entry("c1", state=EntryState.CLAIMED)
    lifecycle_store.add_entries([entry])
    barrier = threading.Barrier(4)
    wins: list[int] = []

    def race(i: int) -> None:
        barrier.wait()
        if lifecycle_store.set_entry_state(entry.entry_id, EntryState.CLAIMED, EntryState.REQUESTED, at(i)):
            wins.append(i)

    run_threads(4, race)
    assert len(wins) == 1


def test_count_reducing_since_counts_the_window(lifecycle_store: LifecycleStore) -> None:
    entries = [
        make_entry("a", Op.SUSPEND, state=EntryState.CLAIMED, created=-10, updated_at=at(0)),  # edge: counted
        make_entry("b", Op.DEACTIVATE, state=EntryState.REQUESTED, created=-10, updated_at=at(5)),
        make_entry("c", Op.DELETE_MANAGED, state=EntryState.CONFIRMED, created=-10, updated_at=at(9)),
        make_entry("d", Op.RESTORE, state=EntryState.CONFIRMED, created=-10, updated_at=at(5)),  # restore
        make_entry("e", Op.SUSPEND, state=EntryState.CONFIRMED, created=-10, updated_at=at(-1)),  # too old
        make_entry("f", Op.SUSPEND, state=EntryState.PLANNED, created=-10, updated_at=at(5)),
        make_entry("g", Op.SUSPEND, state=EntryState.SKIPPED, created=-10, updated_at=at(5)),
        make_entry("h", Op.SUSPEND, state=EntryState.FAILED, created=-10, updated_at=at(5)),
        make_entry("i", Op.SUSPEND, state=EntryState.HELD, created=-10, updated_at=at(5)),
        make_entry("j", Op.SUSPEND, org_id="org-2", state=EntryState.CONFIRMED, created=-10, updated_at=at(5)),
    ]
    lifecycle_store.add_entries(entries)
    assert lifecycle_store.count_reducing_since(ORG, at(0)) == 3
    assert lifecycle_store.count_reducing_since(ORG, at(0).astimezone(IST)) == 3
    assert lifecycle_store.count_reducing_since(ORG, at(-60)) == 4
    assert lifecycle_store.count_reducing_since(ORG, at(6)) == 1
    assert lifecycle_store.count_reducing_since(ORG, at(10)) == 0
    assert lifecycle_store.count_reducing_since("org-2", at(0)) == 1


# --------------------------------------------------------------------------- runs


def test_runs_save_get_and_recent(lifecycle_store: LifecycleStore) -> None:
    first = make_run("run-a", created=0)
    second = make_run(
        "run-b",
        created=10,
        status=RunStatus.AWAITING_APPROVAL,
        plan_hash="p" * 64,
        action_hash="a" * 64,
        held=3,
        approved_by="slack:T1/U2",
        approved_at=at(11).astimezone(IST),
        expires_at=at(60),
        billable=7,
        counts={"suspend": 2, "warn": 5},
        note="needs approval",
    )
    other = make_run("run-c", org_id="org-2", created=5)
    for run in (first, second, other):
        lifecycle_store.save_run(run)
    assert lifecycle_store.get_run("run-b") == second
    assert lifecycle_store.get_run("run-a") == first
    assert [r.run_id for r in lifecycle_store.recent_runs(ORG)] == ["run-b", "run-a"]
    assert [r.run_id for r in lifecycle_store.recent_runs(None)] == ["run-b", "run-c", "run-a"]
    assert [r.run_id for r in lifecycle_store.recent_runs(None, limit=1)] == ["run-b"]
    assert lifecycle_store.recent_runs(ORG, limit=0) == []
    done = replace(second, status=RunStatus.COMPLETED, updated_at=at(20), counts={"suspend": 2})
    lifecycle_store.save_run(done)
    assert lifecycle_store.get_run("run-b") == done
    with pytest.raises(LookupError):
        lifecycle_store.get_run("nope")


# --------------------------------------------------------------------------- pause switch


def test_pause_switch_writes_its_audit_event(lifecycle_store: LifecycleStore) -> None:
    assert not lifecycle_store.is_paused(ORG)
    lifecycle_store.set_paused(ORG, True, audit("pause", actor="slack:T1/U2", reason="incident"))
    assert lifecycle_store.is_paused(ORG)
    assert not lifecycle_store.is_paused("org-2")
    lifecycle_store.set_paused(ORG, False, audit("resume", actor="cli:alice"))
    assert not lifecycle_store.is_paused(ORG)
    events = audit_log(lifecycle_store)
    assert [(e.entry.action, e.entry.actor) for e in events] == [("pause", "slack:T1/U2"), ("resume", "cli:alice")]
    assert verify_chain(events).ok


# --------------------------------------------------------------------------- audit chain


def test_append_audit_seals_a_chain_that_round_trips(lifecycle_store: LifecycleStore) -> None:
    entries = [
        audit("warn", minute=0),
        audit(
            "act.suspend",
            minute=1,
            approver="slack:T1/U3",
            reason="inactive — 120 days",
            run_id="run-1",
            plan_hash="p" * 64,
            mode="enforce",
            before={"membership": "active", "groups": ["g-1", "g-2"]},
            after={"membership": "suspended", "nested": {"n": 1, "f": 0.5, "none": None}},
            http_status=204,
            request_id="req-1",
        ),
        audit("keep", minute=2, subject=None),
    ]
    sealed = [lifecycle_store.append_audit(e) for e in entries]
    assert [e.seq for e in sealed] == [1, 2, 3]
    assert sealed[0].prev_hash == GENESIS
    assert [e.prev_hash for e in sealed[1:]] == [e.hash for e in sealed[:-1]]
    assert all(len(e.event_id) == 32 for e in sealed)
    assert sealed[1].entry == entries[1]
    events = audit_log(lifecycle_store)
    assert events == sealed
    assert verify_chain(events).ok
    assert verify_chain(events).checked == 3
    assert [e.seq for e in lifecycle_store.iter_audit(since=at(1))] == [2, 3]
    assert list(lifecycle_store.iter_audit(since=at(3))) == []


def test_each_org_has_its_own_chain_verifiable_from_its_rows_alone(lifecycle_store: LifecycleStore) -> None:
    """Interleaved events of two orgs, some appended together: each org's rows form their own chain."""
    lifecycle_store.append_audit(audit("a1", org_id="org-a"))
    lifecycle_store.append_audit(audit("b1", org_id="org-b"))
    lifecycle_store.create_case(make_case("case-a", org_id="org-a"), audit("a2", org_id="org-a"))
    with lifecycle_store.lock_case("case-a") as tx:
        tx.audit(audit("a3", org_id="org-a"))
    lifecycle_store.append_audit(audit("b2", org_id="org-b"))
    for org, actions in (("org-a", ["a1", "a2", "a3"]), ("org-b", ["b1", "b2"])):
        events = list(lifecycle_store.iter_audit(org_id=org))
        assert [e.entry.action for e in events] == actions
        assert [e.org.seq for e in events if e.org] == list(range(1, len(actions) + 1))
        assert events[0].org is not None
        assert events[0].org.prev_hash == GENESIS
        report = verify_org_chain(events, org)
        assert report.ok, report.problem
        assert report.checked == len(actions)
    assert verify_chain(lifecycle_store.iter_audit()).ok  # the global chain is unchanged by it
    everything = list(lifecycle_store.iter_audit())
    assert not verify_org_chain(everything, "org-a").ok  # another org's rows are not this org's trail


def test_audit_entries_are_normalised_before_sealing(lifecycle_store: LifecycleStore) -> None:
    """Non-UTC times and non-JSON values would not hash the same after a round trip: they are normalised."""
    entry = audit(
        "restore",
        at=at(0).astimezone(IST),
        before={"when": at(1), "price": Decimal("8.60"), "groups": ("g-1",)},
        after={3: "int key"},
    )
    event = lifecycle_store.append_audit(entry)
    assert event.entry.at == at(0)
    assert event.entry.at.utcoffset() == timedelta(0)
    assert event.entry.before == {"when": str(at(1)), "price": "8.60", "groups": ["g-1"]}
    assert event.entry.after == {"3": "int key"}
    assert audit_log(lifecycle_store) == [event]
    assert verify_chain(lifecycle_store.iter_audit()).ok


def test_naive_times_are_refused(lifecycle_store: LifecycleStore) -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        lifecycle_store.append_audit(audit(at=naive))
    with pytest.raises(ValueError, match="timezone-aware"):
        lifecycle_store.create_case(make_case(opened_at=naive), audit())
    with pytest.raises(ValueError, match="timezone-aware"):
        lifecycle_store.count_reducing_since(ORG, naive)
    assert audit_log(lifecycle_store) == []


def test_audit_appends_from_two_threads_form_one_chain(lifecycle_store: LifecycleStore) -> None:
    barrier = threading.Barrier(2)

    def append(i: int) -> None:
        barrier.wait()
        for n in range(10):
            lifecycle_store.append_audit(audit(f"t{i}.{n}", minute=n))

    run_threads(2, append)
    events = audit_log(lifecycle_store)
    assert [e.seq for e in events] == list(range(1, 21))
    assert verify_chain(events).ok
    assert {e.entry.action for e in events} == {f"t{i}.{n}" for i in range(2) for n in range(10)}


def test_audit_appends_race_with_case_transactions(lifecycle_store: LifecycleStore) -> None:
    """Audit rows from case transactions, create_case, set_paused and append_audit share one chain."""
    for i in range(3):
        lifecycle_store.create_case(make_case(f"c{i}", account_id=f"acc-{i}"), audit())
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        barrier.wait()
        for n in range(5):
            if i < 3:
                with lifecycle_store.lock_case(f"c{i}") as tx:
                    tx.audit(audit(f"tx{i}.{n}a"))
                    tx.audit(audit(f"tx{i}.{n}b"))
            else:
                lifecycle_store.append_audit(audit(f"direct.{n}"))
                lifecycle_store.set_paused(ORG, n % 2 == 0, audit(f"pause.{n}"))

    run_threads(4, work)
    events = audit_log(lifecycle_store)
    assert len(events) == 3 + 3 * 5 * 2 + 5 * 2
    assert verify_chain(events).ok
    for i in range(3):  # the two events of one transaction are adjacent
        seqs = {e.entry.action: e.seq for e in events}
        assert all(seqs[f"tx{i}.{n}b"] == seqs[f"tx{i}.{n}a"] + 1 for n in range(5))


def test_is_a_lifecycle_store(lifecycle_store: LifecycleStore) -> None:
    for name in (
        "open_cases",
        "get_case",
        "find_cases",
        "create_case",
        "lock_case",
        "add_entries",
        "get_entry",
        "claim",
        "entries",
        "set_entry_state",
        "count_reducing_since",
        "save_run",
        "get_run",
        "recent_runs",
        "is_paused",
        "set_paused",
        "append_audit",
        "iter_audit",
    ):
        assert callable(getattr(lifecycle_store, name))
    assert isinstance(make_run(), LifecycleRun)
