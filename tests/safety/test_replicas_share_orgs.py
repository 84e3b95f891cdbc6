"""Three ``serve`` replicas on PostgreSQL share six orgs; a killed replica's orgs are taken over.

Real processes, one deployment file, one database schema (the harness is
:mod:`tests.bench.replica_scaling`, which the benchmark suite times). Each replica leads its fair
share: two orgs each with three live replicas, three each after one is killed with SIGKILL (its
session ends and Postgres frees its locks); a "run now" on every replica runs each org once.
"""

from __future__ import annotations

import signal

import pytest

from tests.bench.replica_scaling import replica_world

pytestmark = pytest.mark.postgres


def test_replicas_share_the_orgs_and_take_over_a_dead_ones() -> None:
    with replica_world(6) as world:
        replicas = [world.start() for _ in range(3)]
        led = world.settle(replicas)
        assert sorted(len(names) for names in led) == [2, 2, 2]

        runs = world.run_now_everywhere()
        assert runs == {s.org_id: 1 for s in world.sandboxes}  # only each org's leader ran it

        replicas[0].stop(signal.SIGKILL)
        led = world.settle(replicas[1:])
        assert sorted(len(names) for names in led) == [3, 3]
