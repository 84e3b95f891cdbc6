"""Safety bar 13: SIGKILL at random instants of whole lifecycle runs (scan, plan, warn, act), many seeds.

Each seed gets a fresh simulated org (in its own process) and a fresh SQLite database. Workers
run ``engine.run`` as ``jira-cleanup run`` does, over and over until every eligible account is
acted on; each worker but the last is killed right before a random SQL statement, so kills land
in the scan, the plan, a warning, a claim, between a write and its confirmation, anywhere. Then:
every eligible account was suspended exactly once (never re-sent without reading it first), no
ledger entry is stuck, every action is audited once, the audit chain is intact.

``CHAOS_SEEDS`` sets how many seeds run (5 in the suite; 50 for the long mode:
``CHAOS_SEEDS=50 .venv/bin/pytest tests/chaos/test_kill_anywhere.py -p no:randomly``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.common import POLICY
from tests.chaos.test_sigkill import WORKER_TIMEOUT, assert_exactly_once
from tests.loopback_world import REPO, Sandbox, eligible_accounts, sandbox_process

SEEDS = int(os.environ.get("CHAOS_SEEDS", "5"))
USERS = 240
KILLS = 4

pytestmark = pytest.mark.slow


def worker(db: str, sandbox: Sandbox, kill_at: int | None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tests.chaos.worker", "--db", db, "--base", sandbox.base_url, "--org", sandbox.org_id]
    cmd += ["--full-run", *(["--kill-at-statement", str(kill_at)] if kill_at is not None else [])]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_kill_at_random_instants_of_whole_runs(seed: int, tmp_path: Path) -> None:
    rng = random.Random(1000 + seed)
    db = f"sqlite:///{tmp_path}/chaos.db"
    with sandbox_process(USERS, 100 + seed, tmp_path) as sandbox:
        accounts = eligible_accounts(sandbox, POLICY, None)
        assert len(accounts) > 50
        # A clean cycle takes about 28 statements per account (162 accounts: 4,603): kills land anywhere in it.
        instants = sorted(rng.randint(1, 30 * len(accounts)) for _ in range(KILLS))
        killed = 0
        for at in [*instants, None]:
            done = worker(db, sandbox, at)
            if done.returncode == -signal.SIGKILL:
                killed += 1
                continue
            assert done.returncode == 0, done.stderr[-3000:]
            if at is None:
                break
        else:  # pragma: no cover - the loop always ends with the clean worker
            raise AssertionError("no clean run")
        assert killed >= 1, "at least one worker was killed mid-run"
        assert_exactly_once(sandbox, db, accounts)
