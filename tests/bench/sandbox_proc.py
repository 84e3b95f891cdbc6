"""A sandbox org in a process of its own, for benchmarks: prints one JSON line, then serves until killed.

    python -m tests.bench.sandbox_proc --users 1000 --latency-ms 10 [--requests-per-minute N]

The line is ``{"base_url": ..., "org_id": ..., "directory_id": ...}``. The simulator runs apart from the
process being measured, so its own work is not counted against the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.sandbox.server import serve


async def _main(args: argparse.Namespace) -> None:
    server = await serve(
        users=args.users,
        seed=args.seed,
        latency_ms=args.latency_ms,
        requests_per_minute=args.requests_per_minute,
        send_retry_after=True,
        undated_fraction=0.0,
    )
    line = {"base_url": server.base_url, "org_id": server.org_id, "directory_id": server.directory_id}
    print(json.dumps(line), flush=True)
    await asyncio.Event().wait()


@contextmanager
def sandbox(
    users: int, *, seed: int = 1, latency_ms: float = 0, requests_per_minute: int | None = None
) -> Iterator[dict]:
    """Start a sandbox process; yield its JSON line; stop it."""
    command = [sys.executable, "-m", "tests.bench.sandbox_proc", "--users", str(users), "--seed", str(seed)]
    command += ["--latency-ms", str(latency_ms)]
    if requests_per_minute is not None:
        command += ["--requests-per-minute", str(requests_per_minute)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process did not start")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--requests-per-minute", type=int, default=None)
    asyncio.run(_main(parser.parse_args()))
