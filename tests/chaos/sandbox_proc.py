"""A sandbox in its own process, control API on: ``python -m tests.chaos.sandbox_proc --users N --seed S``.

Binds an ephemeral loopback port, prints one line ``READY <base_url> <org_id>`` and serves
until SIGTERM (or SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from tests.chaos.common import API_KEY


async def serve(users: int, seed: int, requests_per_minute: int | None = None) -> None:
    """Serve a generated org until SIGTERM (``requests_per_minute``: the server's own limit, with its headers)."""
    config = SandboxConfig(api_key=API_KEY, control_api=True, requests_per_minute=requests_per_minute)
    server = SandboxServer(generate_org(users=users, seed=seed), config)
    base_url = await server.start("127.0.0.1", 0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {base_url} {server.org_id}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests-per-minute", type=int, default=None)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.users, args.seed, args.requests_per_minute))


if __name__ == "__main__":
    main()
