"""N ``serve`` replicas on PostgreSQL sharing M sandbox orgs: the process harness and its timing.

:func:`replica_world` starts the sandboxes, the deployment file (every org in ``dry_run``) and a
private PostgreSQL schema; :meth:`ReplicaWorld.start` starts a replica; :meth:`ReplicaWorld.settle`
waits until every org is led by exactly one replica. Used by the safety test of shared orgs and by
the benchmark suite (:func:`time_replicas`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import sqlalchemy as sa
import yaml

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from tests.peers import ThreadedSlack, threaded_slack
from tests.store.pg import postgres_schema_url

EXE = [sys.executable, "-m", "bot.cli"]
RULE = {"name": "all", "product": "any", "inactive_days": 60, "action": "suspend", "warn_days_before": 0}


@dataclass
class Replica:
    """A running ``jira-cleanup serve``."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def leading(self) -> set[str]:
        """The orgs this replica says it leads (its /readyz, from loopback)."""
        orgs = httpx.get(f"{self.url}/readyz", timeout=30).json()["orgs"]
        return {name for name, health in orgs.items() if health["role"] == "leader"}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@dataclass
class ReplicaWorld:
    tmp: Path
    db: str
    sandboxes: list[SandboxServer]
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)

    def start(self) -> Replica:
        proc = subprocess.Popen(
            [*EXE, "serve", "--port", "0"],
            cwd=self.tmp,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"serving on (http://\S+) ", first)
        if match is None:
            proc.wait(timeout=30)
            raise AssertionError(f"serve did not start: {first}{proc.stderr.read() if proc.stderr else ''}")
        replica = Replica(proc, match.group(1))
        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=lambda s=stream: replica.lines.extend(s), daemon=True).start()
        self.replicas.append(replica)
        return replica

    def settle(self, live: list[Replica], timeout: float = 120) -> list[set[str]]:
        """Wait until every org is led by exactly one of ``live``, each leading its fair share."""
        share = -(-len(self.sandboxes) // len(live))
        deadline = time.monotonic() + timeout
        while True:
            led = [r.leading() for r in live]
            counts = Counter(name for names in led for name in names)
            spread = sorted(len(names) for names in led)
            if len(counts) == len(self.sandboxes) and set(counts.values()) == {1} and spread[-1] <= share:
                return led
            if time.monotonic() > deadline:
                raise AssertionError(f"never settled at {share} orgs each: {led}")
            time.sleep(0.2)  # polling real processes

    def runs(self) -> dict[str, int]:
        """Finished lifecycle runs per org id."""
        engine = sa.create_engine(self.db, poolclass=sa.NullPool)
        query = sa.text("SELECT org_id, count(*) FROM lifecycle_runs WHERE status <> 'running' GROUP BY org_id")
        try:
            with engine.connect() as conn:
                return {str(org): int(count) for org, count in conn.execute(query).all()}
        finally:
            engine.dispose()

    def run_now_everywhere(self, timeout: float = 600) -> dict[str, int]:
        """``kill -USR1`` every live replica; wait until every org has a finished run; return the runs."""
        for replica in self.replicas:
            if replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while len(runs := self.runs()) < len(self.sandboxes):
            if time.monotonic() > deadline:
                raise AssertionError(f"runs never finished: {runs}")
            time.sleep(0.05)  # polling real processes
        return runs


def _start_sandboxes(loop: ThreadedSlack, orgs: int, users: int, latency_ms: float) -> list[SandboxServer]:
    made = []
    for i in range(orgs):
        server = SandboxServer(generate_org(users=users, seed=20 + i), SandboxConfig(latency_ms=latency_ms))
        loop.call(server.start)
        made.append(server)
    return made


@contextmanager
def replica_world(orgs: int, *, users: int = 5, latency_ms: float = 0) -> Iterator[ReplicaWorld]:
    """Sandboxes, a deployment file of ``orgs`` orgs and a private PostgreSQL schema; replicas stopped at the end."""
    with TemporaryDirectory() as folder, postgres_schema_url() as db, threaded_slack() as loop:
        tmp = Path(folder)
        sandboxes = _start_sandboxes(loop, orgs, users, latency_ms)
        (tmp / "policy.yml").write_text(yaml.safe_dump({"mode": "dry_run", "rules": [RULE]}))
        entries: dict[str, Any] = {
            f"org{i}": {"org_id": s.org_id, "policy": "policy.yml", "ATLASSIAN_API_BASE": s.base_url}
            | {"ATLASSIAN_API_KEY": "env:SANDBOX_KEY"}
            for i, s in enumerate(sandboxes)
        }
        (tmp / "orgs.yml").write_text(yaml.safe_dump({"orgs": entries}))
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ATLASSIAN_", "SLACK_", "SMTP_", "JIRA_"))}
        env = keep | {
            "JIRA_CLEANUP_ORGS": str(tmp / "orgs.yml"),
            "SANDBOX_KEY": "sandbox-key",
            "DATABASE_URL": db,
            "LEADER_RETRY_SECONDS": "0.3",
            "AUDIT_KEY": "k" * 40,
            "AUDIT_CHECKPOINT_FILE": str(tmp / "checkpoints"),
            "ATLASSIAN_REQUESTS_PER_SECOND": "1000",
        }
        world = ReplicaWorld(tmp, db, sandboxes, env)
        try:
            yield world
        finally:
            for replica in world.replicas:
                replica.stop()
            for sandbox in sandboxes:
                loop.call(sandbox.stop)


def time_replicas(count: int, orgs: int, *, latency_ms: float = 10, users: int = 200) -> float:
    """Seconds from "run now" on ``count`` settled replicas until each of ``orgs`` orgs finished a run."""
    with replica_world(orgs, users=users, latency_ms=latency_ms) as world:
        live = [world.start() for _ in range(count)]
        world.settle(live)
        started = time.perf_counter()
        world.run_now_everywhere()
        return time.perf_counter() - started
