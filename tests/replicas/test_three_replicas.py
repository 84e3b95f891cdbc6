"""Bar 35: three replicas on PostgreSQL, one leads; SIGKILL it mid-run, another takes over; nothing twice.

Real processes: the sandbox (``tests.chaos.sandbox_proc``) keeps the authoritative request log;
three ``tests.replicas.replica`` processes compete for the advisory lock and the leader runs
the real engine (real Atlassian client, real SQL stores) with its fencing epoch. The test
process never sleeps: it waits on the replicas' output (``selectors``) with short timeouts and
reads the ledger between waits.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.store import leader_key, open_stores
from core.audit import verify_chain
from core.ledger import EntryState
from tests.loopback_world import REPO, Sandbox, account_events, eligible_accounts, ok, sandbox_process, seed_store
from tests.replicas.common import POLICY, RULE
from tests.store.pg import postgres_schema_url

pytestmark = pytest.mark.postgres

USERS = 1000
ACCOUNTS = 600
SEED = 11
#: Kill the leader once this many entries are CONFIRMED (well before the end).
KILL_AFTER = 150
#: Upper bound for any single wait of the test (a healthy run needs a fraction of it).
DEADLINE = 60.0
#: A standby must lead within this many seconds of the leader's death (it retries every 0.2 s).
TAKEOVER_LIMIT = 10.0


# -- processes -------------------------------------------------------------------------------------


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    lines: list[tuple[float, str]] = field(default_factory=list)
    partial: bytes = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def said(self, prefix: str) -> list[str]:
        return [line for _, line in self.lines if line.startswith(prefix)]

    def stderr(self) -> str:
        return self.stderr_path.read_text()[-4000:]


class Replicas:
    """Three replica processes and everything they printed, with the time each line arrived."""

    def __init__(self, db: str, sandbox: Sandbox, log_dir: Path, count: int = 3) -> None:
        self.members: list[Replica] = []
        self._selector = selectors.DefaultSelector()
        for n in range(count):
            stderr_path = log_dir / f"replica-{n}.err"
            with stderr_path.open("w") as stderr:
                proc = subprocess.Popen(
                    [
                        *(sys.executable, "-m", "tests.replicas.replica"),
                        *("--db", db, "--base", sandbox.base_url, "--org", sandbox.org_id),
                        *("--batch", "10", "--concurrency", "4"),
                    ],
                    cwd=REPO,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    bufsize=0,
                )
            replica = Replica(f"replica-{n}", proc, stderr_path)
            self.members.append(replica)
            assert proc.stdout is not None
            self._selector.register(proc.stdout, selectors.EVENT_READ, replica)

    def pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for output and record every complete line that arrived.

        Raw ``os.read`` on unbuffered pipes: a buffered reader could keep a second line in its
        buffer where the selector no longer sees it.
        """
        for key, _ in self._selector.select(timeout):
            replica: Replica = key.data
            chunk = os.read(key.fd, 65536)
            if not chunk:
                self._selector.unregister(key.fileobj)
                continue
            *complete, replica.partial = (replica.partial + chunk).split(b"\n")
            now = time.monotonic()
            replica.lines += [(now, line.decode().strip()) for line in complete]

    def leaders(self) -> list[tuple[int, Replica, float]]:
        """(epoch, replica, when) of every LEADER line so far, by epoch."""
        found = []
        for replica in self.members:
            for when, line in replica.lines:
                if line.startswith("LEADER "):
                    found.append((int(line.split()[1]), replica, when))
        return sorted(found, key=lambda item: item[0])

    def wait_for(self, what: str, condition: Any, timeout: float = DEADLINE) -> None:
        """Pump output until ``condition()`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}: {self.describe()}")
            self.pump(min(left, 0.05))
            for replica in self.members:
                code = replica.proc.poll()
                if code not in (None, 0, -signal.SIGKILL):
                    raise AssertionError(f"{replica.name} exited {code}:\n{replica.stderr()}")

    def finish(self, timeout: float = DEADLINE) -> None:
        """Wait for every replica to exit, recording the rest of their output."""
        self.wait_for("every replica to exit", lambda: all(r.proc.poll() is not None for r in self.members), timeout)
        while self._selector.get_map():
            self.pump(0)

    def describe(self) -> str:
        return "; ".join(f"{r.name}(pid {r.pid}, rc {r.proc.poll()}): {[x for _, x in r.lines]}" for r in self.members)

    def close(self) -> None:
        for replica in self.members:
            if replica.proc.poll() is None:
                replica.proc.kill()
                replica.proc.wait(timeout=30)
            if replica.proc.stdout is not None:
                replica.proc.stdout.close()
        self._selector.close()


# -- the world before the replicas -------------------------------------------------------------------


class Ledger:
    """Short read-only queries on the ledger and the lock tables."""

    def __init__(self, db: str) -> None:
        self.engine = sa.create_engine(db, poolclass=sa.NullPool)
        self._conn = self.engine.connect()

    def scalar(self, sql: str, **params: Any) -> Any:
        value = self._conn.execute(sa.text(sql), params).scalar()
        self._conn.commit()
        return value

    def confirmed(self) -> int:
        return int(self.scalar("SELECT count(*) FROM ledger WHERE state = 'confirmed'"))

    def lock_holders(self, key: int) -> list[int]:
        """Backend pids holding the advisory lock ``key``."""
        high, low = (key & 0xFFFF_FFFF_FFFF_FFFF) >> 32, key & 0xFFFF_FFFF
        rows = self._conn.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"
            ),
            {"high": high, "low": low},
        ).scalars()
        pids = [int(p) for p in rows]
        self._conn.commit()
        return pids

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()


# -- the test ----------------------------------------------------------------------------------------


def test_three_replicas_one_leads_a_killed_leader_is_replaced_and_nothing_happens_twice(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        timings[name] = now - mark
        mark = now

    with postgres_schema_url() as db, sandbox_process(USERS, SEED, tmp_path, timeout=DEADLINE) as sandbox:
        accounts = eligible_accounts(sandbox, POLICY, ACCOUNTS)
        seed_store(db, sandbox.org_id, accounts, rule=RULE, actor="test:replicas", run_id="replicas-seed")
        lap("setup")
        ledger = Ledger(db)
        schema = str(ledger.scalar("SELECT current_schema()"))
        key = leader_key(sandbox.org_id, schema)
        replicas = Replicas(db, sandbox, tmp_path)
        try:
            # Exactly one of the three leads.
            replicas.wait_for(
                "a leader", lambda: replicas.leaders() and all(r.said("STANDBY") for r in replicas.members)
            )
            lap("first leader")
            [(epoch, first, _)] = replicas.leaders()
            assert epoch == 1
            holder = ledger.scalar("SELECT holder FROM leader_epochs WHERE org_id = :org", org=sandbox.org_id)
            assert holder == f"replica-{first.pid}"
            assert len(ledger.lock_holders(key)) == 1
            others = [r for r in replicas.members if r is not first]
            assert all(r.proc.poll() is None and not r.said("LEADER") for r in others)

            # Kill the leader mid-way, chosen by the ledger's progress.
            replicas.wait_for(f"{KILL_AFTER} confirmed entries", lambda: ledger.confirmed() >= KILL_AFTER)
            assert len(ledger.lock_holders(key)) == 1
            assert all(not r.said("LEADER") for r in others)
            first.proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert first.proc.wait(timeout=30) == -signal.SIGKILL
            confirmed_at_kill = ledger.confirmed()
            assert confirmed_at_kill < ACCOUNTS, "the leader finished before it could be killed: raise ACCOUNTS"
            lap("run until the kill")

            # Another replica takes over with a higher epoch, soon.
            replicas.wait_for("a new leader", lambda: len(replicas.leaders()) >= 2, timeout=TAKEOVER_LIMIT + 5)
            second_epoch, second, took_over_at = replicas.leaders()[1]
            takeover = took_over_at - killed_at
            assert second_epoch == 2
            assert second is not first
            assert takeover < TAKEOVER_LIMIT
            lap("takeover")

            replicas.finish()
            lap("rest of the run")
        finally:
            replicas.close()
        try:
            codes = {r.name: r.proc.returncode for r in replicas.members}
            assert sorted(codes.values()) == [-signal.SIGKILL, 0, 0], replicas.describe()
            assert second.said("DONE leader"), replicas.describe()
            epochs = [e for e, _, _ in replicas.leaders()]
            assert epochs == list(range(1, len(epochs) + 1)), replicas.describe()  # one leader per epoch
            assert ledger.lock_holders(key) == []

            # The ledger: every entry CONFIRMED, by the first leader or by its successor.
            scans, store = open_stores(db)
            try:
                entries = store.entries(sandbox.org_id)
                assert Counter(e.state for e in entries) == {EntryState.CONFIRMED: ACCOUNTS}
                by_epoch = Counter(e.epoch for e in entries)
                # The first leader, then its successor (which may re-take the lead with a new epoch
                # while it waits out the killed leader's possibly in-flight requests).
                assert 1 in by_epoch, by_epoch
                assert set(by_epoch) <= set(epochs), (by_epoch, epochs)
                assert (
                    sum(n for e, n in by_epoch.items() if e >= 2) >= ACCOUNTS - confirmed_at_kill - 10
                )  # what was left, give or take the batch in flight
                audited = Counter(e.entry.subject for e in store.iter_audit() if e.entry.action == "act.suspend")
                assert audited == Counter(dict.fromkeys(accounts, 1))
                chain = verify_chain(store.iter_audit())
                assert chain.ok, chain.problem
            finally:
                scans.close()
                store.close()

            # The sandbox: exactly one successful suspend per account, never re-sent without a read.
            events = account_events(sandbox.requests())
            strangers = {a for a, ev in events.items() if any(kind == "suspend" for kind, _ in ev)} - set(accounts)
            assert not strangers
            successes = {a: sum(ok(s) for kind, s in events[a] if kind == "suspend") for a in accounts}
            assert Counter(successes.values()) == {1: ACCOUNTS}, {a: events[a] for a, n in successes.items() if n != 1}
            for account_id in accounts:
                kinds = [kind for kind, _ in events[account_id]]
                assert not any(kinds[i] == kinds[i - 1] == "suspend" for i in range(1, len(kinds))), kinds
            assert {u["membership_status"] for u in sandbox.users(accounts).values()} == {"suspended"}
            lap("verify")
        finally:
            ledger.close()
    print(
        f"\n[replicas] {ACCOUNTS} suspends, leader killed at {confirmed_at_kill} confirmed; takeover "
        f"{takeover:.2f}s; epochs {epochs}; successor {second.said('DONE')}; "
        + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
    )
