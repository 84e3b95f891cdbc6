"""Three ``serve`` replicas on PostgreSQL share six orgs; a killed replica's orgs are taken over.

Real processes, one deployment file, one database schema. Each replica leads its fair share
(two orgs each with three live replicas, three each after one is killed with SIGKILL: its
session ends and Postgres frees its locks), and a "run now" on every replica runs each org once.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from tests.peers import threaded_slack
from tests.store.pg import postgres_schema_url

from .test_many_orgs import start_serve
from .world import Served

pytestmark = pytest.mark.postgres

ORGS = 6


def leading(served: Served) -> set[str]:
    """The orgs a replica says it leads (its /readyz, from loopback)."""
    orgs = httpx.get(f"{served.url}/readyz", timeout=30).json()["orgs"]
    return {name for name, health in orgs.items() if health["role"] == "leader"}


def settle(replicas: list[Served], share: int, timeout: float = 60) -> list[set[str]]:
    """Wait until every org is led by exactly one of ``replicas``, each leading ``share``."""
    deadline = time.monotonic() + timeout
    while True:
        led = [leading(r) for r in replicas]
        counts = Counter(name for names in led for name in names)
        if len(counts) == ORGS and set(counts.values()) == {1} and all(len(names) == share for names in led):
            return led
        if time.monotonic() > deadline:
            raise AssertionError(f"never settled at {share} orgs each: {led}")
        time.sleep(0.2)  # polling real processes


def test_replicas_share_the_orgs_and_take_over_a_dead_ones(tmp_path: Path) -> None:
    with postgres_schema_url() as db, threaded_slack() as loop:  # the thread serves the sandboxes
        sandboxes = [SandboxServer(generate_org(users=5, seed=20 + i), SandboxConfig()) for i in range(ORGS)]
        for sandbox in sandboxes:
            loop.call(sandbox.start)
        policy = tmp_path / "policy.yml"
        rule = {"name": "all", "product": "any", "inactive_days": 60, "action": "suspend", "warn_days_before": 0}
        policy.write_text(yaml.safe_dump({"mode": "dry_run", "rules": [rule]}))
        orgs: dict[str, Any] = {
            f"org{i}": {
                "org_id": s.org_id,
                "policy": "policy.yml",
                "ATLASSIAN_API_BASE": s.base_url,
                "ATLASSIAN_API_KEY": "env:SANDBOX_KEY",
            }
            for i, s in enumerate(sandboxes)
        }
        (tmp_path / "orgs.yml").write_text(yaml.safe_dump({"orgs": orgs}))
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ATLASSIAN_", "SLACK_", "SMTP_", "JIRA_"))}
        env = {
            **keep,
            "JIRA_CLEANUP_ORGS": str(tmp_path / "orgs.yml"),
            "SANDBOX_KEY": "sandbox-key",
            "DATABASE_URL": db,
            "LEADER_RETRY_SECONDS": "0.3",
            "AUDIT_KEY": "k" * 40,
            "AUDIT_CHECKPOINT_FILE": str(tmp_path / "checkpoints"),
        }
        replicas: list[Served] = []
        try:
            for _ in range(3):
                replicas.append(start_serve(tmp_path, env))
            settle(replicas, share=2)

            for replica in replicas:  # "run now" everywhere: only each org's leader runs it
                replica.proc.send_signal(signal.SIGUSR1)
            engine = sa.create_engine(db, poolclass=sa.NullPool)
            query = sa.text("SELECT org_id, count(*) FROM lifecycle_runs GROUP BY org_id")
            deadline = time.monotonic() + 60
            while True:
                with engine.connect() as conn:
                    runs = dict(conn.execute(query).all())
                if len(runs) == ORGS or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            engine.dispose()
            assert runs == {s.org_id: 1 for s in sandboxes}

            replicas[0].proc.send_signal(signal.SIGKILL)
            replicas[0].proc.wait(timeout=30)
            settle(replicas[1:], share=3)
        finally:
            for replica in replicas:
                if replica.proc.poll() is None:
                    replica.proc.send_signal(signal.SIGTERM)
                    replica.proc.wait(timeout=30)
                for stream in (replica.proc.stdout, replica.proc.stderr):
                    if stream is not None:
                        stream.close()
            for sandbox in sandboxes:
                loop.call(sandbox.stop)
