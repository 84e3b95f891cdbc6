"""Benchmark: N concurrent ``adaptiveCard/action`` "Keep my access" invokes against the running Teams endpoint.

    /work/venv/bin/python -m tests.bench.bench_teams_invokes --invokes 100

Serves the bot's aiohttp app with the Teams handler mounted on 127.0.0.1:0 (auth off through
TEAMS_LOCAL_DEV, like the tests), installs N people (conversation references via the fake
connector), warns them through the real TeamsNotifier (Engine.run), then fires N invokes at
once from a separate process and prints the latency p50/p99/max of the invoke responses (the
whole synchronous keep: token checks, Engine.keep, the outcome card), and how long the
background card updates (PUT) took to finish. Target: p99 < 300 ms. Not part of the test
suite (pytest ignores tests/bench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp

from bot.teams_app import MESSAGES_PATH
from tests.teams.conftest import World, action_token, dm_of, policy, stale
from tests.teams.fake_connector import FakeConnector


def _client(url: str, bodies: list[bytes], out: Connection) -> None:
    """Child process: POST every invoke at once; send back (status, seconds, response type) per invoke."""

    async def fire() -> list[tuple[int, float, str]]:
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(body: bytes) -> tuple[int, float, str]:
                started = time.perf_counter()
                async with session.post(
                    url + MESSAGES_PATH, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    payload = await response.read()
                    elapsed = time.perf_counter() - started
                    kind = ""
                    if response.status == 200:
                        kind = str(json.loads(payload).get("type", ""))
                    return response.status, elapsed, kind

            return await asyncio.gather(*(one(b) for b in bodies))

    out.send(asyncio.run(fire()))
    out.close()


def fire_from_another_process(url: str, bodies: list[bytes]) -> list[tuple[int, float, str]]:
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(target=_client, args=(url, bodies, send))
    child.start()
    results: list[tuple[int, float, str]] = receive.recv()
    child.join()
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def bench(invokes: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        async with FakeConnector() as fake:
            accounts = [stale(f"b{i:04d}") for i in range(invokes)]
            world = World(fake, accounts, policy(), Path(folder))
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

                results = await asyncio.to_thread(fire_from_another_process, world.http_url, bodies)
                started = time.perf_counter()
                await world.settle()
                finished = time.perf_counter() - started
            finally:
                await world.stop()

    latencies = [seconds * 1000 for _, seconds, _ in results]
    statuses = {status for status, _, _ in results}
    kinds = {kind for _, _, kind in results}
    kept = sum(1 for e in world.store.iter_audit() if e.entry.action == "keep" and e.entry.outcome == "ok")
    updates = len(fake.updates())
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(f"{invokes} concurrent adaptiveCard/action invokes: HTTP statuses {sorted(statuses)}, types {sorted(kinds)}")
    print(f"invoke latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms")
    print(
        f"background work: {kept} keeps, {updates} cards updated ({finished:.2f} s still running after the responses)"
    )
    ok = (
        statuses == {200}
        and kinds == {"application/vnd.microsoft.card.adaptive"}
        and p99 < 300
        and kept == invokes
        and updates == invokes
    )
    print("PASS" if ok else "FAIL", "(target: p99 < 300 ms, every invoke kept once and its card updated)")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=100)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(bench(args.invokes)))


if __name__ == "__main__":
    main()
