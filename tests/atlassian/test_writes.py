"""Writes over httpx.MockTransport: endpoints, bodies, error mapping, no v1 writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapters.atlassian import AtlassianDirectory, open_directory
from core.errors import AccountNotFound, DirectoryError, DirectoryUnavailable, NotManageable
from core.model import AccountId, GroupId

from .conftest import MakeDirectory
from .fakes import API_KEY, DIRECTORY_ID, ORG_ID, MockAtlassian, admin_error, directories_response, json_response

V2 = f"/admin/v2/orgs/{ORG_ID}/directories/{DIRECTORY_ID}"
ACC = AccountId("acc-1")
GROUP = GroupId("g-1")
MESSAGE = {"message": "done"}

Write = Callable[[AtlassianDirectory], Awaitable[None]]
# (name, call, method, path, expected JSON body or None, success response)
WriteCase = tuple[str, Write, str, str, Any, httpx.Response]

WRITES: list[WriteCase] = [
    ("suspend", lambda d: d.suspend(ACC), "POST", f"{V2}/users/acc-1/suspend", None, httpx.Response(204)),
    ("restore", lambda d: d.restore(ACC), "POST", f"{V2}/users/acc-1/restore", None, httpx.Response(204)),
    ("remove", lambda d: d.remove_from_directory(ACC), "DELETE", f"{V2}/users/acc-1", None, httpx.Response(204)),
    (
        "add_to_group",
        lambda d: d.add_to_group(GROUP, ACC),
        "POST",
        f"{V2}/groups/g-1/memberships",
        {"accountId": "acc-1"},
        json_response(200, MESSAGE),
    ),
    (
        "remove_from_group",
        lambda d: d.remove_from_group(GROUP, ACC),
        "DELETE",
        f"{V2}/groups/g-1/memberships/acc-1",
        None,
        json_response(200, MESSAGE),
    ),
    (
        "deactivate",
        lambda d: d.deactivate(ACC, "inactive for 90 days"),
        "POST",
        "/users/acc-1/manage/lifecycle/disable",
        {"message": "inactive for 90 days"},
        httpx.Response(204),
    ),
    (
        "activate",
        lambda d: d.activate(ACC),
        "POST",
        "/users/acc-1/manage/lifecycle/enable",
        None,
        httpx.Response(204),
    ),
    (
        "delete",
        lambda d: d.delete_managed(ACC),
        "POST",
        "/users/acc-1/manage/lifecycle/delete",
        None,
        json_response(200, MESSAGE),
    ),
    (
        "cancel_delete",
        lambda d: d.cancel_delete(ACC),
        "POST",
        "/users/acc-1/manage/lifecycle/cancel-delete",
        None,
        json_response(200, MESSAGE),
    ),
]
IDS = [w[0] for w in WRITES]
ORG_API_WRITES = [w for w in WRITES if w[3].startswith("/admin/")]
LIFECYCLE_WRITES = [w for w in WRITES if w[3].startswith("/users/")]


@pytest.mark.parametrize(("name", "call", "method", "path", "body", "ok"), WRITES, ids=IDS)
async def test_write_endpoint(
    atlassian: MockAtlassian,
    make_directory: MakeDirectory,
    name: str,
    call: Write,
    method: str,
    path: str,
    body: Any,
    ok: httpx.Response,
) -> None:
    atlassian.add(method, path, ok)
    directory = make_directory(atlassian)
    await call(directory)
    assert atlassian.calls == [(method, path)]
    assert atlassian.bodies(method, path) == [body]
    assert atlassian.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert directory.stats.mutating_attempts == 1
    # never a v1 write endpoint
    assert not any(p.startswith("/admin/v1/") for _, p in atlassian.calls)


async def test_deactivate_without_message_sends_empty_body(
    atlassian: MockAtlassian, make_directory: MakeDirectory
) -> None:
    atlassian.add("POST", "/users/acc-1/manage/lifecycle/disable", httpx.Response(204))
    await make_directory(atlassian).deactivate(ACC)
    assert atlassian.bodies("POST", "/users/acc-1/manage/lifecycle/disable") == [{}]


async def write_error(
    atlassian: MockAtlassian,
    make_directory: MakeDirectory,
    write: WriteCase,
    error: httpx.Response,
    expected: type[Exception],
    reason: str | None,
) -> DirectoryError:
    """Answer ``write`` with ``error``: it raises ``expected``, a ``DirectoryError`` carrying the status.

    A ``NotManageable`` names the account and ``reason``; a plain ``DirectoryError`` is no subclass.
    """
    _name, call, method, path, _body, _ok = write
    atlassian.add(method, path, error)
    with pytest.raises(expected) as caught:
        await call(make_directory(atlassian))
    raised = caught.value
    assert isinstance(raised, DirectoryError)
    assert raised.status == error.status_code
    if isinstance(raised, NotManageable):
        assert (raised.account_id, raised.reason) == ("acc-1", reason)
    if expected is DirectoryError:
        assert type(raised) is DirectoryError
    return raised


@pytest.mark.parametrize("write", ORG_API_WRITES, ids=IDS[:5])
@pytest.mark.parametrize(
    ("error", "expected", "reason"),
    [
        (admin_error(403, "ADMIN-403-3"), NotManageable, "ADMIN-403-3"),
        (admin_error(403, "ADMIN-403-5"), NotManageable, "ADMIN-403-5"),
        (admin_error(404, "ADMIN-404-8"), AccountNotFound, None),
        (admin_error(404, "ADMIN-404-10"), DirectoryError, None),
        (admin_error(400, "ADMIN-400-24"), DirectoryError, None),
    ],
    ids=["admin", "synced", "no-user", "no-group", "bad-body"],
)
async def test_org_api_write_errors(
    atlassian: MockAtlassian,
    make_directory: MakeDirectory,
    write: WriteCase,
    error: httpx.Response,
    expected: type[Exception],
    reason: str | None,
) -> None:
    raised = await write_error(atlassian, make_directory, write, error, expected, reason)
    assert raised.request_id == error.headers["X-Request-Id"]
    if isinstance(raised, AccountNotFound):
        assert raised.account_id == "acc-1"
    if expected is DirectoryError:
        assert str(error.json()["errors"][0]["code"]) in str(raised)
    assert len(atlassian.requests) == 1  # 4xx are never retried


@pytest.mark.parametrize("write", LIFECYCLE_WRITES, ids=IDS[5:])
@pytest.mark.parametrize(
    ("error", "expected", "reason"),
    [
        (
            json_response(403, {"key": "forbidden", "context": {"reason": {"key": "managedAccount"}}}),
            NotManageable,
            "managedAccount",
        ),
        (
            json_response(403, {"key": "forbidden", "context": {"reason": {"key": "externalDirectory.scim"}}}),
            NotManageable,
            "externalDirectory.scim",
        ),
        (json_response(403, {"key": "forbidden.targetUnverified"}), NotManageable, "forbidden.targetUnverified"),
        (json_response(404, {"key": "accountNotFound"}), AccountNotFound, None),
        (
            json_response(
                409,
                {
                    "key": "conflict.lifecycleErrors",
                    "context": {
                        "message": "not eligible",
                        "accountId": "acc-1",
                        "errorCodes": [{"code": "ownsSite", "message": "owns a site"}, {"code": "other"}],
                    },
                },
            ),
            NotManageable,
            "ownsSite",
        ),
        (json_response(400, {"key": "bodyParseFailure"}), DirectoryError, None),
    ],
    ids=["unmanaged", "scim", "unverified", "not-found", "conflict", "bad-body"],
)
async def test_lifecycle_write_errors(
    atlassian: MockAtlassian,
    make_directory: MakeDirectory,
    write: WriteCase,
    error: httpx.Response,
    expected: type[Exception],
    reason: str | None,
) -> None:
    raised = await write_error(atlassian, make_directory, write, error, expected, reason)
    if expected is DirectoryError:
        assert "bodyParseFailure" in str(raised)


async def test_writes_retry_gateway_errors_but_not_500(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    path = f"{V2}/users/acc-1/suspend"
    atlassian.add("POST", path, json_response(503), json_response(429, {"code": 429}), httpx.Response(204))
    directory = make_directory(atlassian)
    await directory.suspend(ACC)
    assert directory.stats.mutating_attempts == 3

    other = MockAtlassian().add("POST", path, json_response(500, {"errors": [{"code": "ADMIN-500-1"}]}))
    with pytest.raises(DirectoryUnavailable):
        await make_directory(other).suspend(ACC)
    assert len(other.requests) == 1


async def test_writes_resolve_the_single_directory_once(
    atlassian: MockAtlassian, make_directory: MakeDirectory
) -> None:
    atlassian.add("GET", f"/admin/v2/orgs/{ORG_ID}/directories", directories_response("only"))
    base = f"/admin/v2/orgs/{ORG_ID}/directories/only/users/acc-1"
    atlassian.add("POST", f"{base}/suspend", httpx.Response(204))
    atlassian.add("POST", f"{base}/restore", httpx.Response(204))
    directory = make_directory(atlassian, directory_id=None)
    await directory.suspend(ACC)
    await directory.restore(ACC)
    assert [p for _, p in atlassian.calls] == [
        f"/admin/v2/orgs/{ORG_ID}/directories",
        f"{base}/suspend",
        f"{base}/restore",
    ]


async def test_writes_refuse_all_directories(atlassian: MockAtlassian, make_directory: MakeDirectory) -> None:
    atlassian.add("GET", f"/admin/v2/orgs/{ORG_ID}/directories", directories_response("a", "b"))
    directory = make_directory(atlassian, directory_id=None)
    with pytest.raises(DirectoryError, match="several directories"):
        await directory.suspend(ACC)
    with pytest.raises(DirectoryError, match="several directories"):
        await directory.add_to_group(GROUP, ACC)
    assert directory.stats.mutating_attempts == 0
    with pytest.raises(DirectoryError, match="cannot use '-'"):
        await make_directory(atlassian, directory_id="-").remove_from_directory(ACC)


async def test_open_directory_builds_a_configured_client() -> None:
    from .fakes import make_config

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    config = make_config(timeout=12.0, connect_timeout=3.0)
    async with open_directory(config, transport=httpx.MockTransport(handler)) as directory:
        await directory.suspend(ACC)
        client = directory._client
        assert client.timeout == httpx.Timeout(12.0, connect=3.0)
        assert str(client.base_url).startswith("https://api.test")
    assert client.is_closed
    assert seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert seen[0].headers["User-Agent"].startswith("jira-cleanup/")
    assert API_KEY not in repr(directory)
