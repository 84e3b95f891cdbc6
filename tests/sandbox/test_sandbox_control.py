"""The test-only control API (``/_sandbox/*``): off by default, unlogged and key-less when on."""

from __future__ import annotations

import httpx

from adapters.sandbox import SandboxServer

from .conftest import pick, regular


async def test_control_api_is_off_by_default(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    assert sandbox.config.control_api is False
    user = pick(sandbox.org, regular)
    for path in ("/_sandbox/requests", "/_sandbox/users", f"/_sandbox/users/{user.account_id}"):
        assert (await client.get(path)).status_code == 404
        async with httpx.AsyncClient(base_url=sandbox.base_url) as anonymous:
            assert (await anonymous.get(path)).status_code == 401
    assert [r.path for r in sandbox.request_log][-1] == f"/_sandbox/users/{user.account_id}"


async def test_control_api_reads_log_and_user_state(client: httpx.AsyncClient, sandbox: SandboxServer, v2: str) -> None:
    sandbox.config.control_api = True
    user = pick(sandbox.org, regular)
    assert (await client.post(f"{v2}/users/{user.account_id}/suspend")).status_code == 204
    assert (await client.get(f"{v2}/users/{user.account_id}")).status_code == 200
    logged = len(sandbox.request_log)
    async with httpx.AsyncClient(base_url=sandbox.base_url) as anonymous:  # no API key needed
        everything = (await anonymous.get("/_sandbox/requests")).json()
        later = (await anonymous.get("/_sandbox/requests", params={"since": everything["data"][0]["seq"]})).json()
        state = (await anonymous.get(f"/_sandbox/users/{user.account_id}")).json()["data"]
        every = (await anonymous.get("/_sandbox/users")).json()["data"]
        missing = await anonymous.get("/_sandbox/users/nobody")
        bad = await anonymous.get("/_sandbox/requests", params={"since": "-1"})
    assert len(sandbox.request_log) == logged, "control requests must not be logged"
    first, second = everything["data"]
    assert first == {
        "seq": first["seq"],
        "method": "POST",
        "path": f"{v2}/users/{user.account_id}/suspend",
        "status": 204,
        "fault": None,
    }
    assert (second["method"], second["status"]) == ("GET", 200)
    assert everything["last_seq"] == second["seq"]
    assert later["data"] == [second]
    assert state == {
        "accountId": user.account_id,
        "membership_status": "suspended",
        "account_status": "active",
        "for_deletion": False,
        "group_ids": list(user.group_ids),
    }
    assert [u["accountId"] for u in every] == sandbox.org.user_ids
    assert state in every
    assert missing.status_code == 404
    assert bad.status_code == 400
