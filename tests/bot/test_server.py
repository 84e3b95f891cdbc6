"""The one HTTP server, over real loopback HTTP: health, metrics, JSON errors, serving on port 0."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime

import httpx
import pytest
from aiohttp import web

from bot.server import METRICS_CONTENT_TYPE, ROUTES, build_app, mount, render_metrics, serve

Served = Callable[[web.Application], Awaitable[httpx.AsyncClient]]


async def healthy() -> Mapping[str, object]:
    return {"org": "acme", "paused": False, "last_run": None}


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """Serve apps on 127.0.0.1:0 and hand back an httpx client on the bound URL; stop everything after."""
    runners: list[web.AppRunner] = []
    clients: list[httpx.AsyncClient] = []

    async def start(app: web.Application) -> httpx.AsyncClient:
        runner, url = await serve(app, "127.0.0.1", 0)
        runners.append(runner)
        client = httpx.AsyncClient(base_url=url, timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for runner in runners:
        await runner.cleanup()


# -- serve ------------------------------------------------------------------------------------


async def test_serve_binds_port_zero_and_reports_the_real_url() -> None:
    runner, url = await serve(build_app(health=healthy), "127.0.0.1", 0)
    try:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", url)
        assert match is not None
        assert int(match[1]) > 0
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await runner.cleanup()


async def test_serve_cleans_up_when_the_port_is_taken() -> None:
    runner, url = await serve(build_app(health=healthy), "127.0.0.1", 0)
    try:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="in use"):
            await serve(build_app(health=healthy), "127.0.0.1", port)
    finally:
        await runner.cleanup()


# -- /healthz ---------------------------------------------------------------------------------


async def test_healthz_shows_only_ok_and_the_role_and_readyz_the_details(served: Served) -> None:
    async def detailed() -> Mapping[str, object]:
        return {"org": "acme", "paused": False, "last_run": None, "role": "leader", "last_error": "boom"}

    client = await served(build_app(health=detailed, status_token="tok"))
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok", "role": "leader"}
    ready = await client.get("/readyz")  # from loopback, not forwarded
    assert ready.json() == {"status": "ok", "org": "acme", "paused": False, "last_run": None, "role": "leader"} | {
        "last_error": "boom"
    }
    proxied = await client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert "acme" not in proxied.text
    assert (
        await client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer no"})
    ).status_code == 403
    with_token = await client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer tok"})
    assert with_token.json()["org"] == "acme"


async def test_healthz_status_is_ok_whatever_health_returns(served: Served) -> None:
    async def sneaky() -> Mapping[str, object]:
        return {"status": "degraded"}

    client = await served(build_app(health=sneaky))
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_healthz_503_names_only_the_error_class(served: Served) -> None:
    async def broken() -> Mapping[str, object]:
        raise ConnectionRefusedError("postgresql://admin:s3cret@db/prod refused")

    client = await served(build_app(health=broken))
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "error": "ConnectionRefusedError"}
    assert "s3cret" not in response.text
    assert "Traceback" not in response.text


async def test_healthz_503_when_health_hangs(served: Served) -> None:
    async def hangs() -> Mapping[str, object]:
        await asyncio.Event().wait()  # never set: only the health timeout ends this
        return {}

    client = await served(build_app(health=hangs, health_timeout=0.05))
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "error": "TimeoutError"}


async def test_healthz_serializes_non_json_values_as_text(served: Served) -> None:
    async def with_time() -> Mapping[str, object]:
        return {"last_run": datetime(2026, 3, 8, 2, 30, tzinfo=UTC)}

    client = await served(build_app(health=with_time))
    assert (await client.get("/readyz")).json() == {"status": "ok", "last_run": "2026-03-08 02:30:00+00:00"}


# -- /metrics ---------------------------------------------------------------------------------


async def test_metrics_prometheus_text_format(served: Served) -> None:
    async def metrics() -> Mapping[str, float]:
        return {"runs_total": 3, "last_run_seconds": 12.5, "paused": 0, "billable_seats": 1874}

    client = await served(build_app(health=healthy, metrics=metrics))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["content-type"] == METRICS_CONTENT_TYPE
    assert response.text == (
        "jira_cleanup_billable_seats 1874\n"
        "jira_cleanup_last_run_seconds 12.5\n"
        "jira_cleanup_paused 0\n"
        "jira_cleanup_runs_total 3\n"
    )
    sample = re.compile(r"jira_cleanup_[a-z_][a-z0-9_]* (?:[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|NaN|[+-]Inf)")
    assert all(sample.fullmatch(line) for line in response.text.splitlines())


async def test_metrics_without_a_source_is_empty(served: Served) -> None:
    client = await served(build_app(health=healthy))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.text == ""


async def test_metrics_bad_name_is_a_500_json(served: Served) -> None:
    async def metrics() -> Mapping[str, float]:
        return {"Runs-Total": 1}

    client = await served(build_app(health=healthy, metrics=metrics))
    response = await client.get("/metrics")
    assert response.status_code == 500
    assert response.json() == {"error": "invalid_metrics"}


async def test_metrics_failing_source_is_a_503_json(served: Served) -> None:
    async def metrics() -> Mapping[str, float]:
        raise LookupError("no store")

    client = await served(build_app(health=healthy, metrics=metrics))
    response = await client.get("/metrics")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "error": "LookupError"}


def test_render_metrics_values_and_name_rules() -> None:
    assert render_metrics({}) == ""
    assert render_metrics({"up": True, "ratio": 0.25, "big": 1e21}) == (
        "jira_cleanup_big 1e+21\njira_cleanup_ratio 0.25\njira_cleanup_up 1\n"
    )
    assert render_metrics({"a": math.nan, "b": math.inf, "c": -math.inf}) == (
        "jira_cleanup_a NaN\njira_cleanup_b +Inf\njira_cleanup_c -Inf\n"
    )
    for bad in ["", "1st", "Upper", "with-dash", "with space", "jira.cleanup"]:
        with pytest.raises(ValueError, match="metric name"):
            render_metrics({bad: 1})
    with pytest.raises(ValueError, match="must be a number"):
        render_metrics({"text": "1"})  # type: ignore[dict-item]


# -- errors and mounting ----------------------------------------------------------------------


async def test_unknown_path_is_a_404_json(served: Served) -> None:
    client = await served(build_app(health=healthy))
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": "not_found", "path": "/nope"}


async def test_wrong_method_is_a_405_json(served: Served) -> None:
    client = await served(build_app(health=healthy))
    response = await client.post("/healthz")
    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed", "method": "POST"}
    assert "GET" in response.headers["allow"]


async def test_mount_adds_routes_before_serving(served: Served) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "body": await request.text()})

    app = build_app(health=healthy)
    mount(app, "post", "/echo", slack_events)
    assert app[ROUTES] == [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/echo")]
    with pytest.raises(ValueError, match="already mounted"):
        mount(app, "POST", "/echo", slack_events)

    client = await served(app)
    response = await client.post("/echo", content="hello")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "body": "hello"}
    with pytest.raises(RuntimeError):
        mount(app, "POST", "/teams/messages", slack_events)  # frozen once served


def test_build_app_rejects_a_non_positive_health_timeout() -> None:
    with pytest.raises(ValueError, match="health_timeout"):
        build_app(health=healthy, health_timeout=0)
