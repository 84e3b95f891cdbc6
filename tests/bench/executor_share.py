"""The executor against a server that limits: share of its allowed rate used, and every action exactly once.

``N`` accounts of a sandbox (in its own process, enforcing ``requests_per_minute`` and sending its
``X-RateLimit-*`` headers) get a WARNED case and a PLANNED suspend each (``seed_store``); one
replica process (``tests.replicas.replica``) leads and executes until nothing is planned. The
sandbox's request log then says how many requests the executor sent in how long, how many the
server refused, and how many suspends each account got. The sandbox limits per clock minute, so
the share is of what it allowed in the minutes the run touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.loopback_world import eligible_accounts, sandbox_process, seed_store
from tests.replicas.common import POLICY, RULE


def measure(actions: int, requests_per_minute: int) -> dict[str, Any]:
    with TemporaryDirectory() as folder:
        tmp = Path(folder)
        with sandbox_process(actions * 3, 5, tmp, requests_per_minute=requests_per_minute) as sandbox:
            chosen = eligible_accounts(sandbox, POLICY, actions)
            db = f"sqlite:///{tmp / 'bench.db'}"
            seed_store(db, sandbox.org_id, chosen, rule=RULE, actor="system:bench", run_id="bench-run")
            before = sandbox.last_seq()
            first_minute = int(time.time() // 60)
            started = time.perf_counter()
            replica = ["tests.replicas.replica", "--db", db, "--base", sandbox.base_url, "--org", sandbox.org_id]
            done = subprocess.run(
                [sys.executable, "-m", *replica, "--batch", "50", "--concurrency", "8"],
                capture_output=True,
                text=True,
                timeout=3600,
                check=False,
            )
            seconds = time.perf_counter() - started
            windows = int(time.time() // 60) - first_minute + 1  # the server's minute windows the run touched
            if done.returncode != 0 or "DONE leader" not in done.stdout:
                raise RuntimeError(f"the executor failed: {done.stdout}\n{done.stderr}")
            log = sandbox.requests(before)
    suspends = Counter(r["path"].split("/")[-2] for r in log if r["path"].endswith("/suspend") and r["status"] == 204)
    allowed = requests_per_minute / 60
    return {
        "actions": actions,
        "server_limit_per_minute": requests_per_minute,
        "seconds": seconds,
        "requests": len(log),
        "refused_429": sum(1 for r in log if r["status"] == 429),
        "windows": windows,
        # What the server allowed in the windows the run touched (its limit is per clock minute).
        "share_of_allowed_rate": len(log) / (windows * requests_per_minute),
        "requests_per_second_over_limit": len(log) / seconds / allowed,
        "accounts_suspended_once": sum(1 for a in chosen if suspends[a] == 1),
        "accounts_suspended_twice_or_more": sum(1 for a in chosen if suspends[a] > 1),
        "counts": json.loads(done.stdout.split("DONE leader", 1)[1].strip().splitlines()[0]),
    }
