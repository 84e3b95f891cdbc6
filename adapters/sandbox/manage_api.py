"""User management API handlers: ``/users/{accountId}/manage...``.

Eligibility (checked after the 404 for unknown accounts):

* not a managed Atlassian account (unmanaged, app, customer) -> 403
  ``managedAccount`` for every privilege;
* SCIM-synced -> 403 ``externalDirectory.scim`` for lifecycle/profile writes;
* org admins -> 403 ``administrative`` for lifecycle (sandbox interpretation:
  the tool must never deactivate or delete an org admin);
* state conflicts (enable/delete while scheduled for deletion, cancel-delete
  when not scheduled) -> 409 ``conflict.lifecycleErrors``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from .org import User
from .state import STATE_KEY, SandboxState
from .wire import ApiError, JsonDict, forbidden, json_response, manage_error

PRIVILEGES = (
    "profile",
    "profile.write",
    "profile.read",
    "email.set",
    "lifecycle.enablement",
    "lifecycle.delete",
    "apiToken.read",
    "apiToken.delete",
)
_PROFILE_FIELDS = (
    "name",
    "nickname",
    "zoneinfo",
    "locale",
    "extended_profile.job_title",
    "extended_profile.organization",
    "extended_profile.department",
    "extended_profile.location",
)
_SCIM_RESTRICTED = frozenset({"profile", "profile.write", "email.set", "lifecycle.enablement", "lifecycle.delete"})
_LIFECYCLE = frozenset({"lifecycle.enablement", "lifecycle.delete"})


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


def restriction(user: User, privilege: str) -> str | None:
    """The restriction reason key for ``privilege`` on ``user``, or None."""
    if not user.managed or user.account_type != "atlassian":
        return "managedAccount"
    if user.synced and privilege in _SCIM_RESTRICTED:
        return "externalDirectory.scim"
    if user.is_org_admin and privilege in _LIFECYCLE:
        return "administrative"
    return None


def _rule(reason: str | None) -> JsonDict:
    if reason is None:
        return {"allowed": True}
    return {"allowed": False, "reason": {"key": reason}}


def _account(request: web.Request) -> User:
    user = _state(request).org.users.get(request.match_info["accountId"])
    if user is None:
        raise ApiError(manage_error(404, {"key": "accountNotFound"}))
    return user


def _violation(field: str, key: str) -> ApiError:
    body = {
        "key": "fieldConstraintsViolated",
        "context": {"fieldViolations": [{"field": field, "violations": [{"key": key}]}]},
    }
    return ApiError(manage_error(400, body))


async def _body(request: web.Request, allowed: frozenset[str]) -> JsonDict:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(manage_error(400, {"key": "bodyParseFailure"})) from exc
    if not isinstance(body, dict):
        raise ApiError(manage_error(400, {"key": "bodyParseFailure"}))
    for key, value in body.items():
        if key not in allowed:
            raise _violation(key, "unknownField")
        if not isinstance(value, str):
            raise _violation(key, "type")
    return body


def _require(user: User, privilege: str) -> None:
    reason = restriction(user, privilege)
    if reason is not None:
        raise ApiError(forbidden(reason))


def _conflict(user: User, code: str, message: str) -> ApiError:
    body = {
        "key": "conflict.lifecycleErrors",
        "context": {
            "message": message,
            "accountId": user.account_id,
            "errorCodes": [{"code": code, "message": message, "link": "https://confluence.atlassian.com/x/pTgoPQ"}],
        },
    }
    return ApiError(manage_error(409, body))


async def get_manage(request: web.Request) -> web.Response:
    """``GET /users/{accountId}/manage?privileges=...`` (none given: all)."""
    user = _account(request)
    asked = request.query.getall("privileges", [])
    for p in asked:
        if p not in PRIVILEGES:
            raise _violation("privileges", "enum")
    out: JsonDict = {}
    for p in asked or PRIVILEGES:
        rule = _rule(restriction(user, p))
        if p in ("profile", "profile.write"):
            out[p] = dict.fromkeys(_PROFILE_FIELDS, rule)
        else:
            out[p] = rule
    return json_response(out)


async def disable(request: web.Request) -> web.Response:
    """``POST .../lifecycle/disable`` body ``{"message"?: str}`` -> 204."""
    user = _account(request)
    await _body(request, frozenset({"message"}))
    _require(user, "lifecycle.enablement")
    state = _state(request)
    state.org.disable(user, state.config.now())
    return web.Response(status=204)


async def enable(request: web.Request) -> web.Response:
    """``POST .../lifecycle/enable`` -> 204; 409 while scheduled for deletion."""
    user = _account(request)
    await _body(request, frozenset())
    _require(user, "lifecycle.enablement")
    if user.for_deletion:
        raise _conflict(
            user,
            "ACCOUNT_SCHEDULED_FOR_DELETION",
            "Cancel the scheduled deletion before enabling the account",
        )
    _state(request).org.enable(user)
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    """``POST .../lifecycle/delete`` -> 200; 409 when already scheduled."""
    user = _account(request)
    await _body(request, frozenset())
    _require(user, "lifecycle.delete")
    if user.for_deletion:
        raise _conflict(
            user,
            "ACCOUNT_ALREADY_SCHEDULED_FOR_DELETION",
            "The account is already scheduled for deletion",
        )
    state = _state(request)
    state.org.schedule_deletion(user, state.config.now())
    return json_response({"message": f"Account {user.account_id} is scheduled for deletion in 14 days"})


async def cancel_delete(request: web.Request) -> web.Response:
    """``POST .../lifecycle/cancel-delete`` -> 200; 409 when not scheduled."""
    user = _account(request)
    await _body(request, frozenset())
    _require(user, "lifecycle.delete")
    if not user.for_deletion:
        raise _conflict(
            user,
            "ACCOUNT_NOT_SCHEDULED_FOR_DELETION",
            "The account is not scheduled for deletion",
        )
    _state(request).org.cancel_deletion(user)
    return json_response({"message": f"Deletion of account {user.account_id} was cancelled"})


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def get_api_tokens(request: web.Request) -> web.Response:
    """``GET /users/{accountId}/manage/api-tokens``: ``[{id, label, createdAt, lastAccess?}]``.

    Needs ``apiToken.read``: a user the org does not manage gets 403 like the other manage calls.
    """
    user = _account(request)
    _require(user, "apiToken.read")
    tokens: list[JsonDict] = []
    for t in user.api_tokens:
        row: JsonDict = {"id": t.id, "label": t.label, "createdAt": _stamp(t.created_at)}
        if t.last_access is not None:
            row["lastAccess"] = _stamp(t.last_access)
        tokens.append(row)
    return json_response(tokens)


def add_routes(app: web.Application) -> None:
    """Register the user-management routes on ``app``."""
    base = "/users/{accountId}/manage"
    app.router.add_get(base, get_manage)
    app.router.add_get(base + "/api-tokens", get_api_tokens)
    app.router.add_post(base + "/lifecycle/disable", disable)
    app.router.add_post(base + "/lifecycle/enable", enable)
    app.router.add_post(base + "/lifecycle/delete", delete)
    app.router.add_post(base + "/lifecycle/cancel-delete", cancel_delete)
