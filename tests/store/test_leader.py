"""Leader election and fencing: PostgreSQL advisory locks, the SQLite file lock, and the fake.

No sleeps: concurrency is arranged with threads and events, a dead session with
``pg_terminate_backend``, a dead process with ``SIGKILL``; lock waits are bounded by
``lock_timeout`` so the outcome is deterministic.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from adapters.store import (
    LeaderLockError,
    PoolerDetected,
    PostgresLeader,
    SqliteLeader,
    create_lifecycle_store,
    leader_for,
    leader_key,
)
from core.clock import FixedClock
from core.errors import FencedOut, StoreError
from core.ledger import EntryState
from core.ports import LeaderLock, LifecycleStore
from tests.fakes_lifecycle import FakeLeaderLock, FakeLifecycleStore

from .leader_db import Db, open_db
from .lifecycle_data import ORG, at, audit, make_case, make_entry
from .pg import postgres_schema_url

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path, lifecycle_clock: FixedClock) -> Iterator[Db]:
    """A migrated SQLite file or PostgreSQL schema."""
    with open_db(request.param, tmp_path, lifecycle_clock) as made:
        yield made


@pytest.fixture
def pg(tmp_path: Path, lifecycle_clock: FixedClock) -> Iterator[Db]:
    """PostgreSQL only."""
    with open_db("postgresql", tmp_path, lifecycle_clock) as made:
        yield made


@dataclass
class Fenced:
    """A lifecycle store and a way to make competing leaders over it."""

    store: LifecycleStore
    leader: Callable[[str], LeaderLock]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fenced(request: pytest.FixtureRequest, tmp_path: Path, lifecycle_clock: FixedClock) -> Iterator[Fenced]:
    """The fencing contract on the fake (with :class:`FakeLeaderLock`), SQLite and PostgreSQL."""
    if request.param == "fake":
        fake = FakeLifecycleStore(clock=lifecycle_clock)
        yield Fenced(fake, lambda holder: FakeLeaderLock(fake, holder))
        return
    with open_db(request.param, tmp_path, lifecycle_clock) as made:
        yield Fenced(made.store, made.leader)


def seed(store: LifecycleStore, *cases: str) -> list[str]:
    """One WARNED case and one PLANNED entry per case id (account ``acc-<case>``); return the entry ids."""
    entries = []
    for n, case_id in enumerate(cases):
        store.create_case(make_case(case_id, account_id=f"acc-{case_id}", opened=n), audit("warn.open"))
        entries.append(make_entry(case_id, account_id=f"acc-{case_id}", created=n))
    assert store.add_entries(entries) == len(entries)
    return [e.entry_id for e in entries]


def snapshot(store: LifecycleStore) -> tuple[object, ...]:
    """Everything a fenced write could change: the ledger, the cases and the audit chain."""
    return (
        sorted(store.entries(ORG), key=lambda e: e.entry_id),
        sorted(store.open_cases(ORG).items()),
        [e.hash for e in store.iter_audit()],
    )


def advisory_locks(db: Db, key: int) -> int:
    """Granted advisory locks on ``key`` in the database (any session)."""
    high, low = (key & 0xFFFF_FFFF_FFFF_FFFF) >> 32, key & 0xFFFF_FFFF
    return int(
        db.scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1",
            high=high,
            low=low,
        )
    )


def schema_of(db: Db) -> str:
    return str(db.scalar("SELECT current_schema()"))


# --------------------------------------------------------------------------- election


def test_only_one_of_three_replicas_leads(db: Db) -> None:
    replicas = [db.leader(f"replica-{i}") for i in range(3)]
    assert [r.acquire(ORG) for r in replicas] == [1, None, None]
    assert [r.still_leader() for r in replicas] == [True, False, False]
    assert [r.acquire(ORG) for r in replicas[1:]] == [None, None]  # retrying changes nothing
    assert db.scalar("SELECT holder FROM leader_epochs WHERE org_id = :org", org=ORG) == "replica-0"
    if db.postgres:
        assert advisory_locks(db, leader_key(ORG, schema_of(db))) == 1


def test_each_new_leadership_bumps_the_epoch(db: Db) -> None:
    a, b = db.leader("a"), db.leader("b")
    assert a.acquire(ORG) == 1
    a.release()
    assert not a.still_leader()
    assert b.acquire(ORG) == 2
    assert a.acquire(ORG) is None
    b.release()
    b.release()  # idempotent
    assert a.acquire(ORG) == 3
    assert a.epoch == 3
    assert db.scalar("SELECT epoch FROM leader_epochs WHERE org_id = :org", org=ORG) == 3


def test_acquire_while_leading_keeps_the_epoch(fenced: Fenced) -> None:
    a, b = fenced.leader("a"), fenced.leader("b")
    assert a.acquire(ORG) == 1
    assert a.acquire(ORG) == 1  # still leading: same epoch, no bump
    assert b.acquire(ORG) is None
    assert a.still_leader()


def test_a_lost_leader_competes_again_without_release(pg: Db) -> None:
    """What ``serve`` does at each scheduled run: ``acquire`` again, whatever happened since."""
    a = pg.leader("a")
    assert isinstance(a, PostgresLeader)
    assert a.acquire(ORG) == 1
    pg.terminate(a.backend_pid)
    assert a.acquire(ORG) == 2  # the dead session is noticed, released, and the org won again
    assert a.still_leader()


def test_orgs_are_led_independently_on_postgres(pg: Db) -> None:
    a, b = pg.leader("a"), pg.leader("b")
    assert a.acquire("org-a") == 1
    assert b.acquire("org-b") == 1
    with pytest.raises(RuntimeError, match="already leads"):
        a.acquire("org-b")


def siblings(db: Db, holder: str, count: int) -> list[Any]:
    """``count`` leaders of one replica over one lock session (released at the end of the test)."""
    first = db.leader(holder)
    made = [first, *(first.sibling() for _ in range(count - 1))]
    db.leaders.extend(made[1:])
    return made


def test_siblings_lead_many_orgs_on_one_session(db: Db) -> None:
    """One replica leads many orgs through siblings: one lock connection, a lock and an epoch per org."""
    ours, theirs = siblings(db, "a", 4), siblings(db, "b", 3)
    assert [s.acquire(f"org-{i}") for i, s in enumerate(ours[:3])] == [1, 1, 1]
    assert [s.acquire(f"org-{i}") for i, s in enumerate(theirs)] == [None, None, None]
    # Postgres: a lock per org, so an org nobody leads goes to the other replica. SQLite: one
    # file lock per database, so the process holding it leads every org.
    assert theirs[0].acquire("org-free") == (1 if db.postgres else None)
    with pytest.raises(RuntimeError, match="already leads"):
        ours[3].acquire("org-1")  # two siblings for one org would share its lock
    if db.postgres:
        pids = {s.backend_pid for s in ours[:3]}
        assert len(pids) == 1
        assert None not in pids
    ours[1].release()  # one org given up, the others still led on the same session
    assert [s.still_leader() for s in ours[:3]] == [True, False, True]
    assert theirs[1].acquire("org-1") == (2 if db.postgres else None)
    ours[0].release()
    ours[2].release()
    assert theirs[2].acquire("org-2") == 2


def test_a_dead_sibling_session_frees_every_org_it_led(pg: Db) -> None:
    ours, theirs = siblings(pg, "a", 2), siblings(pg, "b", 2)
    assert [s.acquire(f"org-{i}") for i, s in enumerate(ours)] == [1, 1]
    pg.terminate(ours[0].backend_pid)
    assert [s.still_leader() for s in ours] == [False, False]
    assert [s.acquire(f"org-{i}") for i, s in enumerate(theirs)] == [2, 2]


def test_one_sqlite_file_has_one_leader_process(tmp_path: Path, lifecycle_clock: FixedClock) -> None:
    """SQLite is one host: the file lock is per database file, whatever the org."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    create_lifecycle_store(url, clock=lifecycle_clock).close()
    a, b = SqliteLeader(url, holder="a"), SqliteLeader(tmp_path / "one.db", holder="b")
    try:
        assert a.acquire("org-a") == 1
        assert b.acquire("org-b") is None
        assert a.lock_path == tmp_path / "one.db.leader.lock"
        assert a.lock_path.read_text() == "a org-a\n"
    finally:
        a.release()
        b.release()


def test_a_dead_sqlite_leader_process_frees_the_lock(tmp_path: Path, lifecycle_clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'proc.db'}"
    create_lifecycle_store(url, clock=lifecycle_clock).close()
    script = (
        "import sys\n"
        "from adapters.store import SqliteLeader\n"
        f"leader = SqliteLeader({url!r}, holder='child')\n"
        f"print('EPOCH', leader.acquire({ORG!r}), flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    mine = SqliteLeader(url, holder="me")
    try:
        assert child.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            assert selector.select(60), "the child never answered"
        assert child.stdout.readline().split() == ["EPOCH", "1"]
        assert mine.acquire(ORG) is None
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert mine.acquire(ORG) == 2
        assert mine.still_leader()
    finally:
        mine.release()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()


def test_a_replaced_sqlite_lock_file_ends_leadership(tmp_path: Path, lifecycle_clock: FixedClock) -> None:
    with open_db("sqlite", tmp_path, lifecycle_clock) as sqlite:
        leader = sqlite.leader("a")
        assert isinstance(leader, SqliteLeader)
        assert leader.acquire(ORG) == 1
        fresh = leader.lock_path.with_suffix(".tmp")
        fresh.write_text("someone else\n")
        os.replace(fresh, leader.lock_path)
        assert not leader.still_leader()


def test_the_epoch_table_must_exist(tmp_path: Path) -> None:
    bare, other = SqliteLeader(tmp_path / "bare.db"), SqliteLeader(tmp_path / "bare.db")
    with pytest.raises(LeaderLockError, match="leader_epochs"):
        bare.acquire(ORG)
    with pytest.raises(LeaderLockError):  # not None: the failed attempt gave the file lock back
        other.acquire(ORG)
    bare.release()
    other.release()


@pytest.mark.postgres
def test_the_epoch_table_must_exist_on_postgres() -> None:
    with postgres_schema_url() as url:
        bare = PostgresLeader(url)
        with pytest.raises(LeaderLockError, match="leader_epochs"):
            bare.acquire(ORG)
        assert bare.backend_pid is None  # connection closed, advisory lock gone with it
        bare.release()


def test_leader_for_picks_the_backend_and_the_direct_url(tmp_path: Path) -> None:
    assert isinstance(leader_for(f"sqlite:///{tmp_path / 'x.db'}"), SqliteLeader)
    pooled = "postgresql+psycopg://app:secret@pgbouncer.internal:6432/cleanup"
    direct = "postgresql://app:secret@db.internal:5432/cleanup"
    leader = leader_for(pooled, leader_url=direct)
    assert isinstance(leader, PostgresLeader)
    assert leader.url == "postgresql+psycopg://app:***@db.internal:5432/cleanup"
    assert isinstance(leader_for(pooled), PostgresLeader)
    with pytest.raises(LeaderLockError):
        SqliteLeader("sqlite://")
    with pytest.raises(LeaderLockError):
        PostgresLeader(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(StoreError):
        leader_for("mysql://nope/db")


def test_leader_keys_are_stable_and_scoped_by_schema() -> None:
    assert leader_key("org-1") == leader_key("org-1", "public")
    assert leader_key("org-1") != leader_key("org-2")
    assert leader_key("org-1", "tenant_a") != leader_key("org-1", "tenant_b")
    assert -(2**63) <= leader_key("org-1") < 2**63


# --------------------------------------------------------------------------- PostgreSQL sessions


def test_a_killed_lock_connection_ends_leadership_and_frees_the_org(pg: Db, caplog: pytest.LogCaptureFixture) -> None:
    a, b = pg.leader("a"), pg.leader("b")
    assert isinstance(a, PostgresLeader)
    assert a.acquire(ORG) == 1
    assert a.still_leader()
    assert b.acquire(ORG) is None
    assert pg.terminate(a.backend_pid) is True
    with caplog.at_level(logging.WARNING, logger="adapters.store.leader"):
        assert not a.still_leader()
    assert "leadership lost" in caplog.text
    assert not a.still_leader()  # stays lost
    assert b.acquire(ORG) == 2
    a.release()  # nothing left to unlock: no error
    assert a.acquire(ORG) is None  # reconnects and competes again
    b.release()
    assert a.acquire(ORG) == 3


def test_release_warns_when_postgres_says_the_lock_was_not_held(pg: Db, caplog: pytest.LogCaptureFixture) -> None:
    a = pg.leader("a")
    assert isinstance(a, PostgresLeader)
    assert a.acquire(ORG) == 1
    a._conn.execute("SELECT pg_advisory_unlock_all()")  # as if the unlock landed on another session
    assert not a.still_leader()
    with caplog.at_level(logging.WARNING, logger="adapters.store.leader"):
        a.release()
    assert "pg_advisory_unlock returned false" in caplog.text
    assert a.backend_pid is None


def test_the_epoch_bump_waits_for_the_old_leaders_transaction_in_flight(pg: Db) -> None:
    """A fenced transaction that passed its check finishes under its epoch; the bump cannot overtake it."""
    (entry_id,) = seed(pg.store, "c1")
    old = pg.leader("old")
    assert old.acquire(ORG) == 1
    (claimed,) = pg.store.claim(ORG, "w-old", 1, epoch=1)
    inside, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def in_flight() -> None:
        try:
            with pg.store.lock_case("c1", epoch=1) as tx:
                inside.set()
                assert finish.wait(60)
                tx.save_entry(replace(claimed, state=EntryState.REQUESTED, updated_at=at(1)))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_flight)
    thread.start()
    try:
        assert inside.wait(60)
        old.release()  # the old leader's lock connection is gone; its store transaction is not
        new = pg.leader("new", lock_timeout=0.2)
        assert new.acquire(ORG) is None  # the bump timed out behind the FOR SHARE lock...
        assert not new.still_leader()
        assert pg.scalar("SELECT epoch FROM leader_epochs WHERE org_id = :org", org=ORG) == 1
        assert advisory_locks(pg, leader_key(ORG, schema_of(pg))) == 0  # ...and gave the advisory lock back
    finally:
        finish.set()
        thread.join()
    assert errors == []
    assert pg.store.get_entry(entry_id).state is EntryState.REQUESTED
    assert pg.store.get_entry(entry_id).epoch == 1
    assert new.acquire(ORG) == 2
    with pytest.raises(FencedOut), pg.store.lock_case("c1", epoch=1):
        pass  # pragma: no cover - never reached


class PidRewritingProxy:
    """A TCP proxy that answers the handshake with its own backend pid, like PgBouncer.

    Server-to-client messages are framed and ``BackendKeyData`` ('K') gets another pid;
    everything else passes unchanged. The client must not negotiate TLS or GSS encryption.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for target, args in ((self._pump, (client, upstream)), (self._rewrite, (upstream, client))):
                thread = threading.Thread(target=target, args=args)
                self._threads.append(thread)
                thread.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    @staticmethod
    def _rewrite(src: socket.socket, dst: socket.socket) -> None:
        buffer = bytearray()
        try:
            while data := src.recv(65536):
                buffer += data
                out = bytearray()
                while len(buffer) >= 5 and len(buffer) >= 1 + int.from_bytes(buffer[1:5], "big"):
                    size = 1 + int.from_bytes(buffer[1:5], "big")
                    message = buffer[:size]
                    del buffer[:size]
                    if message[0] == ord("K"):
                        pid = int.from_bytes(message[5:9], "big")
                        message[5:9] = ((pid + 7919) % 2**31).to_bytes(4, "big")
                    out += message
                dst.sendall(out)
        except OSError:
            pass

    def close(self) -> None:
        for sock in (self._server, *self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=30)


def test_a_pooled_leader_connection_is_refused(pg: Db) -> None:
    """Bar 36: behind a PgBouncer-like pooler the leader refuses to start and leaves no lock behind."""
    url = make_url(pg.url)
    proxy = PidRewritingProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        pooled = url.set(port=proxy.port).update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
        leader = PostgresLeader(pooled.render_as_string(hide_password=False), holder="pooled")
        with pytest.raises(PoolerDetected, match="the handshake announced backend pid"):
            leader.acquire(ORG)
        leader.release()
    finally:
        proxy.close()
    assert pg.scalar("SELECT count(*) FROM leader_epochs") == 0
    assert pg.leader("direct").acquire(ORG) == 1


def test_a_lock_not_shown_for_this_session_is_refused_and_given_back(pg: Db) -> None:
    """If pg_locks does not show the lock under this backend (a pooler switched it), acquire refuses."""

    class SwitchedBackend(PostgresLeader):
        def _connect(self) -> Any:
            conn = super()._connect()
            self._pid = -1  # what a pooler handing out another server connection looks like
            return conn

    switched = SwitchedBackend(pg.url, holder="switched")
    pg.leaders.append(switched)
    with pytest.raises(PoolerDetected, match="pg_locks"):
        switched.acquire(ORG)
    assert advisory_locks(pg, leader_key(ORG, schema_of(pg))) == 0
    assert pg.leader("direct").acquire(ORG) == 1


# --------------------------------------------------------------------------- fencing


def test_a_stale_epoch_is_fenced_out_and_writes_nothing(fenced: Fenced) -> None:
    store = fenced.store
    first, second = seed(store, "c1", "c2")
    old = fenced.leader("old")
    assert old.acquire(ORG) == 1
    (claimed,) = store.claim(ORG, "w-old", 1, epoch=1)
    assert (claimed.entry_id, claimed.epoch) == (first, 1)
    with store.lock_case("c1", epoch=1) as tx:
        tx.save_entry(replace(claimed, state=EntryState.REQUESTED, updated_at=at(1), epoch=None))
        tx.audit(audit("act.requested", minute=1))
    assert store.get_entry(first).epoch == 1  # the transaction stamps its epoch

    old.release()
    new = fenced.leader("new")
    assert new.acquire(ORG) == 2
    before = snapshot(store)

    with pytest.raises(FencedOut) as fenced_claim:
        store.claim(ORG, "w-old", 10, epoch=1)
    assert (fenced_claim.value.org_id, fenced_claim.value.epoch, fenced_claim.value.current) == (ORG, 1, 2)
    with pytest.raises(FencedOut):
        store.set_entry_state(first, EntryState.REQUESTED, EntryState.CONFIRMED, at(2), "done", epoch=1)
    with pytest.raises(FencedOut):
        store.set_entry_state(second, EntryState.PLANNED, EntryState.SKIPPED, at(2), "stale", epoch=1)
    entered = []
    with pytest.raises(FencedOut), store.lock_case("c1", epoch=1) as tx:
        entered.append(tx)  # pragma: no cover - never reached
    assert entered == []
    assert snapshot(store) == before

    # The new leader writes, and its rows say so.
    assert store.set_entry_state(first, EntryState.REQUESTED, EntryState.CONFIRMED, at(3), "reconciled", epoch=2)
    (taken,) = store.claim(ORG, "w-new", 10, epoch=2)
    assert (taken.entry_id, taken.epoch, taken.worker) == (second, 2, "w-new")
    assert store.get_entry(first).epoch == 2
    with pytest.raises(FencedOut):
        store.claim(ORG, "w", 1, epoch=3)  # a future epoch is no better than a past one


def test_writes_without_an_epoch_are_not_fenced(fenced: Fenced) -> None:
    """Single-replica use (CLI, tests) passes no epoch and is never refused."""
    (entry_id,) = seed(fenced.store, "c1")
    leader = fenced.leader("someone")
    assert leader.acquire(ORG) == 1
    (claimed,) = fenced.store.claim(ORG, "cli", 5)
    assert claimed.epoch is None
    assert fenced.store.set_entry_state(entry_id, EntryState.CLAIMED, EntryState.PLANNED, at(1))
    with fenced.store.lock_case("c1") as tx:
        tx.save_entry(replace(claimed, state=EntryState.SKIPPED))
    assert fenced.store.get_entry(entry_id).epoch is None


def test_an_org_nobody_ever_led_fences_every_epoch(fenced: Fenced) -> None:
    (entry_id,) = seed(fenced.store, "c1")
    with pytest.raises(FencedOut, match="no leader epoch is recorded") as refused:
        fenced.store.claim(ORG, "w", 1, epoch=1)
    assert refused.value.current is None
    assert (
        fenced.store.set_entry_state("no-such-entry", EntryState.PLANNED, EntryState.CLAIMED, at(1), epoch=1) is False
    )
    assert fenced.store.get_entry(entry_id).state is EntryState.PLANNED


def test_replicas_are_counted_per_schema_and_group_while_their_session_lives(pg: Db) -> None:
    a, b, c = pg.leader("a"), pg.leader("b"), pg.leader("c")
    assert isinstance(a, PostgresLeader)
    assert a.replicas("orgs-1") == 1
    assert b.replicas("orgs-1") == 2  # b serves the same orgs: two replicas share them
    assert c.replicas("orgs-2") == 1  # c serves other orgs: not counted with a and b
    pg.terminate(a.backend_pid)
    assert b.replicas("orgs-1") == 1  # a's session ended, and its presence with it
