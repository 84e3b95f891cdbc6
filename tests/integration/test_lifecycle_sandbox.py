"""The lifecycle against the sandbox over loopback HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.sandbox import Fault
from core.audit import verify_chain
from core.ledger import EntryState, RunStatus
from core.policy import Mode, parse_policy
from tests.policies import JIRA_RULE, ORG_RULE

POLICY = parse_policy(
    {
        "mode": "enforce",
        "rules": [JIRA_RULE, ORG_RULE],
        "safety": {
            "caps": {
                "per_run": {"max_actions": None, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
                "deletions_per_run": None,
            },
            "canary": {"size": 3},
            "approval": {"deletions_need_approval": False},
        },
    }
)


def mutating_keys(world):
    """(method, path) of every mutating request the sandbox answered successfully."""
    return [(r.method, r.path) for r in world.mutating() if r.status is not None and r.status < 300]


async def test_dry_run_makes_zero_mutating_requests(world_factory):
    """The default mode reads only: the sandbox sees no POST/DELETE besides searches."""
    world = await world_factory()
    dry = replace(POLICY, mode=Mode.DRY_RUN)
    for _ in range(3):
        report = await world.engine.run(dry, requested_by="cli:alice")
        assert report.status is RunStatus.DRY_RUN
        world.clock.advance(timedelta(days=15))
    assert world.mutating() == []
    assert world.notifier.warnings == []


async def test_cycle_acts_exactly_once_and_restores(world_factory):
    """Warn, act at the deadline, delete later; every write happens once; the audit chain holds."""
    world = await world_factory(users=150)
    engine, org = world.engine, world.sandbox.org
    first = await engine.run(POLICY, requested_by="cli:alice")
    assert first.counts["warnings_delivered"] > 0
    assert world.mutating() == []

    world.clock.advance(timedelta(days=14))
    acted = await engine.run(POLICY, requested_by="cli:alice")
    assert acted.status is RunStatus.COMPLETED, acted.note
    assert acted.counts["actions_confirmed"] > 0
    writes = mutating_keys(world)
    assert len(writes) == len(set(writes)), "a write was repeated"
    suspended = {r.path.split("/")[-2] for r in world.mutating() if r.path.endswith("/suspend")}
    assert suspended
    assert all(org.users[a].membership_status == "suspended" for a in suspended)

    # Re-running changes nothing more.
    before = len(world.mutating())
    await engine.run(POLICY, requested_by="cli:alice")
    assert len(world.mutating()) == before

    world.clock.advance(timedelta(days=30))
    deleted = await engine.run(POLICY, requested_by="cli:alice")
    assert deleted.counts.get("actions_confirmed", 0) > 0
    target = sorted(suspended)[0]
    assert org.users[target].for_deletion or org.users[target].membership_status == "no_membership"

    result = await engine.restore(org.org_id, target, "cli:bob", POLICY, reason="needed again")
    assert result.accepted, result.reason
    user = org.users[target]
    assert user.membership_status == "active"
    assert user.account_status == "active"
    assert not user.for_deletion
    report = verify_chain(world.store.iter_audit())
    assert report.ok, report.problem
    assert report.checked > 0


async def test_fault_injection_every_action_ends_known(world_factory):
    """30 % 5xx and resets over many actions: each entry ends confirmed, skipped or failed."""
    world = await world_factory(users=2800, seed=11)
    # The canary and the breaker would (rightly) stop a run this faulty; this test is about what
    # the retries leave behind, so both are set out of the way.
    policy = replace(
        POLICY,
        rules=(POLICY.rules[1],),
        safety=replace(POLICY.safety, canary_size=0, breaker_failures=10_000),
    )
    await world.engine.run(policy, requested_by="cli:alice")
    world.clock.advance(timedelta(days=14))
    faults = world.sandbox.config.faults
    plan = (("503", "/suspend"), ("reset", "/suspend"), ("500", "/users/"), ("502", "/users/"))
    for seed, (kind, path) in enumerate(plan, start=100):
        faults.add(Fault(kind=kind, path=path, probability=0.075, seed=seed))
    report = await world.engine.run(policy, requested_by="cli:alice")
    entries = world.store.entries(world.sandbox.org_id)
    states = Counter(e.state for e in entries)
    assert len(entries) >= 450
    assert set(states) <= {EntryState.CONFIRMED, EntryState.SKIPPED, EntryState.FAILED}, (states, report.note)
    suspends = [r for r in world.sandbox.request_log if r.method == "POST" and r.path.endswith("/suspend")]
    assert len(suspends) <= len(entries) * 6
    succeeded = Counter(r.path for r in suspends if r.status is not None and r.status < 300)
    assert all(n == 1 for n in succeeded.values()), "a suspend took effect twice"


@pytest.mark.parametrize("race_seed", [4, 17, 23, 42])
async def test_keep_races_the_executor_and_is_never_lost(world_factory, race_seed):
    """Keeps fired at random points around the executor: each kept account ends with access."""
    world = await world_factory(users=200, seed=5)
    policy = replace(POLICY, rules=(POLICY.rules[1],))
    engine, org = world.engine, world.sandbox.org
    await engine.run(policy, requested_by="cli:alice")
    warned = sorted({c.account_id for c in world.store.open_cases(org.org_id).values()})
    assert len(warned) > 20
    keepers = random.Random(9).sample(warned, 15)
    world.clock.advance(timedelta(days=14))

    async def keep_later(account_id, yields):
        for _ in range(yields):
            await asyncio.sleep(0)
        return await engine.keep(org.org_id, account_id, f"slack:T1/{account_id}", policy)

    rng = random.Random(race_seed)
    results = await asyncio.gather(
        engine.run(policy, requested_by="cli:alice"),
        *(keep_later(a, rng.randint(0, 400)) for a in keepers),
    )
    keeps = results[1:]
    assert all(k.accepted for k in keeps), [k.reason for k in keeps]
    # Whatever the interleaving, every kept account has its access at the end.
    await engine.run(policy, requested_by="cli:alice")
    for account_id in keepers:
        assert org.users[account_id].membership_status == "active", account_id
