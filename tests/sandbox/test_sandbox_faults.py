"""Rate limiting (injected clock), the fault schedule and the request log."""

from __future__ import annotations

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.sandbox import Fault, FaultSchedule, SandboxConfig, SandboxOrg, SandboxServer, build_app

from .conftest import API_KEY, FakeClock, pick, regular


async def test_rate_limit_429_with_headers_and_window_reset(
    client: httpx.AsyncClient, sandbox: SandboxServer, clock: FakeClock
) -> None:
    sandbox.config.requests_per_minute = 3
    sandbox.config.send_retry_after = True
    ok = [await client.get("/admin/v1/orgs") for _ in range(3)]
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [r.headers["X-RateLimit-Remaining"] for r in ok] == ["2", "1", "0"]
    limited = await client.get("/admin/v1/orgs")
    assert limited.status_code == 429
    assert limited.json() == {"code": 429, "message": "Rate limit exceeded"}
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"] == "2026-11-24T10:01:00Z"
    assert limited.headers["Retry-After"] == "30"  # clock is at 10:00:30
    clock.advance(30)
    assert (await client.get("/admin/v1/orgs")).status_code == 200


async def test_retry_after_is_optional(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    sandbox.config.requests_per_minute = 1
    assert (await client.get("/admin/v1/orgs")).status_code == 200
    limited = await client.get("/admin/v1/orgs")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert "X-RateLimit-Reset" in limited.headers


async def test_nth_faults_then_success(client: httpx.AsyncClient, sandbox: SandboxServer, v2: str) -> None:
    sandbox.config.faults.add(Fault("503", path="/users/search", nth={1, 2}))
    statuses = [(await client.post(f"{v2}/users/search", json={})).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await client.get("/admin/v1/orgs")).status_code == 200  # other paths unaffected
    faulted = [r.fault for r in sandbox.request_log]
    assert faulted == ["503", "503", None, None]


async def test_fault_kinds_bodies(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    sandbox.config.faults.add(
        Fault("500", nth={1}), Fault("502", nth={2}), Fault("504", nth={3}), Fault("429", nth={4}, retry_after=7)
    )
    r500, r502, r504, r429 = [await client.get("/admin/v1/orgs") for _ in range(4)]
    assert r500.status_code == 500
    assert r500.json()["errors"][0]["code"] == "ADMIN-500-1"
    assert (r502.status_code, r502.text) == (502, "502 Bad Gateway")
    assert r504.status_code == 504
    assert r429.status_code == 429
    assert r429.headers["Retry-After"] == "7"
    assert r429.headers["X-RateLimit-Remaining"] == "0"


async def test_reset_closes_the_connection(client: httpx.AsyncClient, sandbox: SandboxServer, v2: str) -> None:
    sandbox.config.faults.add(Fault("reset", method="POST", nth={1}))
    with pytest.raises(httpx.TransportError):
        await client.post(f"{v2}/users/search", json={})
    assert (await client.post(f"{v2}/users/search", json={})).status_code == 200
    first = sandbox.request_log[0]
    assert (first.fault, first.status) == ("reset", None)


async def test_faults_are_checked_before_auth_and_can_be_cleared(sandbox: SandboxServer) -> None:
    sandbox.config.faults.add(Fault("503"))
    async with httpx.AsyncClient(base_url=sandbox.base_url) as anon:
        assert (await anon.get("/admin/v1/orgs")).status_code == 503
        sandbox.config.faults.clear()
        assert (await anon.get("/admin/v1/orgs")).status_code == 401


def test_probability_faults_are_deterministic_per_seed() -> None:
    def draws(seed: int) -> list[bool]:
        fault = Fault("500", probability=0.5, seed=seed)
        return [fault.evaluate("GET", "/x") for _ in range(50)]

    assert draws(1) == draws(1)
    assert 10 < sum(draws(1)) < 40
    schedule = FaultSchedule().add(Fault("502", path="/a", nth={2}), Fault("503", nth={1}))
    assert schedule.pick("GET", "/a") is not None  # 503 fires (first match overall)
    picked = schedule.pick("GET", "/a")
    assert picked is not None
    assert picked.kind == "502"
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("418")  # type: ignore[arg-type]


async def test_request_log_and_mutating_requests(
    client: httpx.AsyncClient, sandbox: SandboxServer, v2: str, org: SandboxOrg
) -> None:
    target = pick(org, regular)
    await client.post(f"{v2}/users/search", json={"limit": 2, "expand": ["groups"]})
    await client.get(f"{v2}/users/{target.account_id}", params={"x": ["1", "2"]})
    await client.post(f"{v2}/users/{target.account_id}/suspend")
    await client.post("/users/nobody/manage/lifecycle/disable", json={"message": "bye"})
    log = sandbox.request_log
    assert [r.method for r in log] == ["POST", "GET", "POST", "POST"]
    assert [r.status for r in log] == [200, 200, 204, 404]
    assert log[0].body == {"limit": 2, "expand": ["groups"]}
    assert log[1].query == {"x": ["1", "2"]}
    assert [r.seq for r in log] == sorted(r.seq for r in log)
    mutating = sandbox.mutating_requests()
    assert [r.path for r in mutating] == [
        f"{v2}/users/{target.account_id}/suspend",
        "/users/nobody/manage/lifecycle/disable",
    ]
    last_seq = log[-1].seq
    sandbox.reset_log()
    assert sandbox.request_log == []
    assert sandbox.mutating_requests() == []
    await client.get("/admin/v1/orgs")
    assert sandbox.request_log[0].seq == last_seq + 1


async def test_build_app_with_aiohttp_test_utils(org: SandboxOrg, clock: FakeClock) -> None:
    app = build_app(org, SandboxConfig(api_key="k2", now=clock))
    async with TestClient(TestServer(app)) as tc:
        response = await tc.get("/admin/v1/orgs", headers={"Authorization": "Bearer k2"})
        assert response.status == 200
        assert response.headers["X-Request-Id"]
        wrong = await tc.get("/admin/v1/orgs", headers={"Authorization": f"Bearer {API_KEY}"})
        assert wrong.status == 401


async def test_server_lifecycle_and_serve_helper() -> None:
    from adapters.sandbox import serve

    server = await serve(users=30, seed=5, api_key="abc")
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": "Bearer abc"}) as c:
            response = await c.get(f"/admin/v2/orgs/{server.org_id}/directories")
        assert response.json()["data"][0]["directoryId"] == server.directory_id
        assert len(server.org.users) == 30
    finally:
        await server.stop()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    async with SandboxServer(server.org) as again:
        assert again.base_url != ""
