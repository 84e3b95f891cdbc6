"""Benchmark: N concurrent ``adaptiveCard/action`` "Keep my access" invokes against the running Teams endpoint.

    .venv/bin/python -m tests.bench.bench_teams_invokes --invokes 100 [--cold]

Serves the bot's aiohttp app with the Teams handler mounted on 127.0.0.1:0 (auth off through
TEAMS_LOCAL_DEV, like the tests), installs N people (conversation references via the fake
connector), warns them through the real TeamsNotifier (Engine.run), then fires N invokes at
once from a separate process (on kept-alive connections opened first, as the Bot Connector
service does; ``--cold``: a new connection each) and prints the latency p50/p99/max of the invoke
responses (the whole synchronous keep: token checks, the locked keep, the outcome card), and how
long the background card updates (PUT) took to finish. Target: p99 < 150 ms. The exit status
says whether every invoke was answered, kept once and its card updated (not the time). Not part
of the test suite (pytest ignores tests/bench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bot.teams_app import MESSAGES_PATH
from tests.bench.firing import Burst, fire_from_another_process, percentile
from tests.teams.conftest import World, action_token, dm_of, policy, stale
from tests.teams.fake_connector import FakeConnector

TARGET_P99_MS = 150


class SqlWorld(World):
    """The Teams test world with the product's SQL stores (``DATABASE_URL`` of the class) instead of fakes."""

    database_url = ""

    def init_stores(self, fake: Any, accounts: Any, pol: Any) -> None:
        from bot.compose import stores

        super().init_stores(fake, accounts, pol)
        db = stores(self.database_url)
        self.scans, self.store, self.tokens, self.protections = db.scans, db.lifecycle, db.tokens, db.protections


@contextmanager
def world_class(database: str) -> Iterator[type[World]]:
    """``memory``: the tests' in-memory stores; ``sqlite``: a SQLite file; ``postgresql``: a private schema."""
    if database == "memory":
        yield World
        return
    with ExitStack() as stack:
        if database == "sqlite":
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="teams-bench-"))
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
        else:
            from tests.store.pg import postgres_schema_url

            url = stack.enter_context(postgres_schema_url())
        yield type("BenchWorld", (SqlWorld,), {"database_url": url})


async def bench(invokes: int, cold: bool = False, database: str = "memory") -> int:
    with tempfile.TemporaryDirectory() as folder, world_class(database) as world_type:
        async with FakeConnector() as fake:
            accounts = [stale(f"b{i:04d}") for i in range(invokes)]
            world = world_type(fake, accounts, policy(), Path(folder))
            await world.start()
            try:
                people = {a.account_id: await world.install_person(a.account_id) for a in accounts}
                report = await world.run()
                print(f"warned {report.counts.get('warnings_delivered', 0)} accounts over Teams")
                bodies = []
                for account in accounts:
                    member, aad = people[account.account_id]
                    warning = world.cards_in(dm_of(member))[-1]
                    keep = action_token(warning, "jc_keep")
                    activity = world.invoke(member, aad, keep, "jc_keep", dm_of(member), warning["id"])
                    bodies.append(json.dumps(activity).encode())
                # warm-up: one refused invoke (someone else's button) exercises the whole path once
                warm = json.loads(bodies[0])
                warm["from"] = {"id": "29:eve", "aadObjectId": "eeeeeeee-0000-0000-0000-000000000009"}
                await world.post(warm)

                burst = Burst(world.http_url, MESSAGES_PATH, bodies, cold=cold)
                results = await asyncio.to_thread(fire_from_another_process, burst)
                started = time.perf_counter()
                await world.settle()
                finished = time.perf_counter() - started
                kept = sum(1 for e in world.store.iter_audit() if e.entry.action == "keep" and e.entry.outcome == "ok")
                updates = len(fake.updates())
            finally:
                await world.stop()

    latencies = [seconds * 1000 for _, seconds, _ in results]
    statuses = {status for status, _, _ in results}
    kinds = {str(json.loads(payload).get("type", "")) for status, _, payload in results if status == 200}
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    how = ("each on a new connection" if cold else "on open connections") + f", {database} stores"
    print(f"{invokes} concurrent adaptiveCard/action invokes {how}: HTTP statuses {sorted(statuses)}")
    print(f"response types {sorted(kinds)}")
    print(f"invoke latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms")
    print(
        f"background work: {kept} keeps, {updates} cards updated ({finished:.2f} s still running after the responses)"
    )
    ok = statuses == {200} and kinds == {"application/vnd.microsoft.card.adaptive"} and kept == invokes
    ok = ok and updates == invokes
    print("PASS" if ok else "FAIL", "(every invoke answered with its card, kept once, and its card updated)")
    print(f"p99 target < {TARGET_P99_MS} ms: {'met' if p99 < TARGET_P99_MS else 'not met'}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=100)
    parser.add_argument("--cold", action="store_true", help="a new TCP connection for every invoke")
    parser.add_argument(
        "--database",
        choices=("memory", "sqlite", "postgresql"),
        default="memory",
        help="the stores: the tests' in-memory ones (default), or the product's on SQLite or PostgreSQL",
    )
    args = parser.parse_args()
    raise SystemExit(asyncio.run(bench(args.invokes, args.cold, args.database)))


if __name__ == "__main__":
    main()
