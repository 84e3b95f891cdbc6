"""Organizations ("Admin") API handlers: ``/admin/v1/...`` and ``/admin/v2/...``.

Path checks run outermost first: unknown org -> 404 ``ADMIN-404-2``, unknown
directory (anything but the org's directory id or ``-``) -> 404
``ADMIN-404-1``, then the resource itself (user ``ADMIN-404-8``, group
``ADMIN-404-10``).  Users whose directory membership was removed count as
unknown for the v2 membership writes (they must be re-invited).
"""

from __future__ import annotations

import json

from aiohttp import web

from .org import Group, SandboxOrg, User
from .search import SearchError, encode_cursor, parse_search, search_page
from .state import STATE_KEY, SandboxState
from .wire import (
    ApiError,
    admin_error,
    json_response,
    render_last_active,
    render_org,
    render_user,
)

ALL_EXPANDS = frozenset({"productAccess", "groups", "platformRoles"})
_STATIC_CURSOR = encode_cursor("after", "", "static")


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


def _base(request: web.Request) -> str:
    return str(request.url.origin())


def _bad_body(detail: str) -> ApiError:
    return ApiError(admin_error(400, "ADMIN-400-24", detail))


def _org(request: web.Request) -> SandboxOrg:
    org = _state(request).org
    if request.match_info["orgId"] != org.org_id:
        raise ApiError(admin_error(404, "ADMIN-404-2", "Organization not found"))
    return org


def _directory(request: web.Request) -> SandboxOrg:
    org = _org(request)
    if request.match_info["directoryId"] not in (org.directory_id, "-"):
        raise ApiError(admin_error(404, "ADMIN-404-1", "Directory not found"))
    return org


def _user(org: SandboxOrg, account_id: str, member: bool = False) -> User:
    user = org.users.get(account_id)
    if user is None or (member and user.membership_status == "no_membership"):
        raise ApiError(admin_error(404, "ADMIN-404-8", f"User {account_id} not found"))
    return user


def _group(org: SandboxOrg, group_id: str) -> Group:
    group = org.groups.get(group_id)
    if group is None:
        raise ApiError(admin_error(404, "ADMIN-404-10", f"Group {group_id} not found"))
    return group


def _check_paging(request: web.Request) -> None:
    limit = request.query.get("limit")
    if limit is not None and not (limit.isdigit() and 1 <= int(limit) <= 100):
        raise _bad_body("'limit' must be an integer between 1 and 100")
    cursor = request.query.get("cursor")
    if cursor and cursor != _STATIC_CURSOR:
        raise ApiError(admin_error(400, "ADMIN-400-1", "Invalid page cursor"))


async def _json_body(request: web.Request) -> object:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _bad_body("Request body is not valid JSON") from exc


# -- v1 orgs ---------------------------------------------------------------
async def list_orgs(request: web.Request) -> web.Response:
    """``GET /admin/v1/orgs``: the single org the key can see."""
    _check_paging(request)
    org = _state(request).org
    base = _base(request)
    return json_response(
        {
            "data": [render_org(org, base)],
            "links": {"self": f"{base}/admin/v1/orgs", "prev": None, "next": None},
        }
    )


async def get_org(request: web.Request) -> web.Response:
    """``GET /admin/v1/orgs/{orgId}``."""
    org = _org(request)
    return json_response({"data": render_org(org, _base(request))})


# -- reads -----------------------------------------------------------------
async def count_users(request: web.Request) -> web.Response:
    """``GET .../directories/{directoryId}/users/count``: ``{"count": n}`` of every user a search returns."""
    org = _directory(request)
    return json_response({"count": len(org.users)})


async def list_directories(request: web.Request) -> web.Response:
    """``GET /admin/v2/orgs/{orgId}/directories``: exactly one directory."""
    org = _org(request)
    _check_paging(request)
    return json_response(
        {
            "data": [{"directoryId": org.directory_id, "name": org.directory_name, "icon": None}],
            "links": {"self": _STATIC_CURSOR, "prev": None, "next": None},
        }
    )


async def search_users(request: web.Request) -> web.Response:
    """``POST .../directories/{directoryId}/users/search``."""
    org = _directory(request)
    body = await _json_body(request)
    try:
        req = parse_search(body)
        users, links = search_page(org, req)
    except SearchError as exc:
        raise ApiError(admin_error(400, exc.code, exc.detail)) from exc
    base = _base(request)
    return json_response({"data": [render_user(org, u, req.expand, base) for u in users], "links": links})


async def get_user(request: web.Request) -> web.Response:
    """``GET .../directories/{directoryId}/users/{accountId}`` (all expands)."""
    org = _directory(request)
    user = _user(org, request.match_info["accountId"])
    return json_response({"data": render_user(org, user, ALL_EXPANDS, _base(request))})


async def last_active_dates(request: web.Request) -> web.Response:
    """``GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates``."""
    org = _org(request)
    cursor = request.query.get("cursor")
    if cursor:
        raise ApiError(admin_error(400, "ADMIN-400-1", "Invalid page cursor"))
    user = _user(org, request.match_info["accountId"])
    return json_response(render_last_active(org, user))


# -- v2 user writes --------------------------------------------------------
async def _writable_member(request: web.Request) -> tuple[SandboxOrg, User]:
    org = _directory(request)
    body = await _json_body(request)
    if body not in (None, {}):
        raise _bad_body("This endpoint takes no request body")
    user = _user(org, request.match_info["accountId"], member=True)
    if user.is_org_admin:
        raise ApiError(admin_error(403, "ADMIN-403-3", "Organization admins cannot be changed"))
    return org, user


async def suspend_user(request: web.Request) -> web.Response:
    """``POST .../users/{accountId}/suspend`` -> 204 (idempotent)."""
    org, user = await _writable_member(request)
    org.suspend(user)
    return web.Response(status=204)


async def restore_user(request: web.Request) -> web.Response:
    """``POST .../users/{accountId}/restore`` -> 204 (idempotent)."""
    org, user = await _writable_member(request)
    org.restore(user)
    return web.Response(status=204)


async def remove_user(request: web.Request) -> web.Response:
    """``DELETE .../users/{accountId}`` -> 204; membership and groups cleared."""
    org, user = await _writable_member(request)
    org.remove_from_directory(user)
    return web.Response(status=204)


# -- v2 group memberships --------------------------------------------------
def _check_group_write(group: Group, user: User) -> None:
    if group.synced or user.synced:
        raise ApiError(
            admin_error(
                403,
                "ADMIN-403-5",
                "Membership is managed by an external identity provider",
            )
        )
    if group.admin_role is not None:
        raise ApiError(admin_error(403, "ADMIN-403-7", "Admin-granting group memberships cannot be changed"))


async def add_membership(request: web.Request) -> web.Response:
    """``POST .../groups/{groupId}/memberships`` body ``{"accountId": ...}``."""
    org = _directory(request)
    group = _group(org, request.match_info["groupId"])
    body = await _json_body(request)
    if (
        not isinstance(body, dict)
        or set(body) != {"accountId"}
        or not isinstance(body["accountId"], str)
        or not body["accountId"]
    ):
        raise _bad_body('Body must be {"accountId": "<accountId>"}')
    user = _user(org, body["accountId"], member=True)
    _check_group_write(group, user)
    org.add_to_group(user, group)
    return json_response({"message": f"User {user.account_id} was added to group {group.name}"})


async def remove_membership(request: web.Request) -> web.Response:
    """``DELETE .../groups/{groupId}/memberships/{accountId}``."""
    org = _directory(request)
    group = _group(org, request.match_info["groupId"])
    body = await _json_body(request)
    if body not in (None, {}):
        raise _bad_body("This endpoint takes no request body")
    user = _user(org, request.match_info["accountId"], member=True)
    _check_group_write(group, user)
    org.remove_from_group(user, group)
    return json_response({"message": f"User {user.account_id} was removed from group {group.name}"})


def add_routes(app: web.Application) -> None:
    """Register every Organizations-API route on ``app``."""
    v2 = "/admin/v2/orgs/{orgId}"
    users = v2 + "/directories/{directoryId}/users"
    app.router.add_get("/admin/v1/orgs", list_orgs)
    app.router.add_get("/admin/v1/orgs/{orgId}", get_org)
    app.router.add_get(
        "/admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates",
        last_active_dates,
    )
    app.router.add_get(v2 + "/directories", list_directories)
    app.router.add_post(users + "/search", search_users)
    app.router.add_get(users + "/count", count_users)
    app.router.add_get(users + "/{accountId}", get_user)
    app.router.add_delete(users + "/{accountId}", remove_user)
    app.router.add_post(users + "/{accountId}/suspend", suspend_user)
    app.router.add_post(users + "/{accountId}/restore", restore_user)
    groups = v2 + "/directories/{directoryId}/groups/{groupId}/memberships"
    app.router.add_post(groups, add_membership)
    app.router.add_delete(groups + "/{accountId}", remove_membership)
