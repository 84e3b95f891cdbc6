"""The load client of the chat benchmarks: POST requests at once (or paced) from a separate process.

The platforms keep their connections to a bot open (Slack's and the Bot Connector's HTTP clients
reuse them), so by default one kept-alive connection per request is opened first (``GET /healthz``)
and the figure is the request itself. ``cold=True`` opens a new connection for every request
instead: TCP set-up of the whole burst on the same cores is then part of every latency.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection


@dataclass(frozen=True)
class Burst:
    """What the child process sends: ``bodies`` POSTed to ``url + path``."""

    url: str
    path: str
    bodies: list[bytes]
    slack_secret: str | None = None  # sign each body (Slack v0) at the moment it is sent
    rps: float | None = None  # pace the requests instead of sending them at once
    cold: bool = False


#: (HTTP status, seconds, response body) per request, in the order of ``Burst.bodies``.
Result = tuple[int, float, bytes]


def _headers(burst: Burst, body: bytes) -> dict[str, str]:
    if burst.slack_secret is None:
        return {"Content-Type": "application/json"}
    from tests.slackfake.signing import signed_headers

    return signed_headers(body, burst.slack_secret, int(time.time()))


async def _fire(burst: Burst) -> list[Result]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, force_close=burst.cold)
    async with aiohttp.ClientSession(connector=connector) as session:
        if not burst.cold:

            async def warm() -> None:
                async with session.get(burst.url + "/healthz") as response:
                    await response.read()

            await asyncio.gather(*(warm() for _ in burst.bodies))

        async def one(body: bytes) -> Result:
            headers = _headers(burst, body)
            started = time.perf_counter()
            async with session.post(burst.url + burst.path, data=body, headers=headers) as response:
                payload = await response.read()
                return response.status, time.perf_counter() - started, payload

        if burst.rps is None:
            return await asyncio.gather(*(one(b) for b in burst.bodies))
        begun = time.perf_counter()
        tasks = []
        for n, body in enumerate(burst.bodies):
            wait = begun + n / burst.rps - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.ensure_future(one(body)))
        return await asyncio.gather(*tasks)


def _child(burst: Burst, out: Connection) -> None:
    out.send(asyncio.run(_fire(burst)))
    out.close()


def fire_from_another_process(burst: Burst) -> list[Result]:
    """Run the burst in a fresh process and wait for its measurements."""
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(target=_child, args=(burst, send))
    child.start()
    results: list[Result] = receive.recv()
    child.join()
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
