"""Test-only control API under ``/_sandbox/``: read the request log and a user's raw state.

Off unless ``SandboxConfig.control_api`` is true.  When on, ``/_sandbox/*``
requests bypass the middleware's request log, fault schedule, API-key check,
rate limit and latency, so reading the log never changes it.  When off, the
paths behave like any unknown path (logged, authenticated, 404).

* ``GET /_sandbox/requests?since=<seq>``: ``{"data": [...], "last_seq": n}``,
  every logged request with ``seq > since`` (default 0) as ``{"seq",
  "method", "path", "status", "fault"}``, oldest first; ``last_seq`` is the
  highest sequence number handed out so far.
* ``GET /_sandbox/users/{accountId}``: ``{"data": {"accountId",
  "membership_status", "account_status", "for_deletion", "group_ids"}}``,
  the simulated state of one user as stored (not as the Admin API renders
  it); 404 for an unknown account.
* ``GET /_sandbox/users``: ``{"data": [...]}``, the same for every user in
  account-id order (one request instead of thousands when checking an org).
"""

from __future__ import annotations

from aiohttp import web

from .org import User
from .state import STATE_KEY, RequestRecord, SandboxState
from .wire import ApiError, JsonDict, admin_error, json_response

#: Every control route starts with this prefix.
CONTROL_PREFIX = "/_sandbox/"


def is_control_path(path: str) -> bool:
    """True for a path of the control API."""
    return path.startswith(CONTROL_PREFIX)


def record_json(record: RequestRecord) -> JsonDict:
    """One request-log record as the control API renders it."""
    return {
        "seq": record.seq,
        "method": record.method,
        "path": record.path,
        "status": record.status,
        "fault": record.fault,
    }


def user_state_json(user: User) -> JsonDict:
    """The raw simulated state of one user as the control API renders it."""
    return {
        "accountId": user.account_id,
        "membership_status": user.membership_status,
        "account_status": user.account_status,
        "for_deletion": user.for_deletion,
        "group_ids": list(user.group_ids),
    }


def _enabled_state(request: web.Request) -> SandboxState:
    state = request.app[STATE_KEY]
    if not state.config.control_api:
        raise web.HTTPNotFound
    return state


async def list_requests(request: web.Request) -> web.Response:
    """``GET /_sandbox/requests?since=<seq>``: the request log after ``since``."""
    state = _enabled_state(request)
    raw = request.query.get("since", "0")
    if not raw.isdigit():
        raise ApiError(admin_error(400, "SANDBOX-400-1", "'since' must be a non-negative integer"))
    since = int(raw)
    data = [record_json(r) for r in state.log if r.seq > since]
    return json_response({"data": data, "last_seq": state.seq})


async def list_user_states(request: web.Request) -> web.Response:
    """``GET /_sandbox/users``: every user's raw state, in account-id order."""
    org = _enabled_state(request).org
    return json_response({"data": [user_state_json(org.users[a]) for a in org.user_ids]})


async def get_user_state(request: web.Request) -> web.Response:
    """``GET /_sandbox/users/{accountId}``: one user's raw state."""
    state = _enabled_state(request)
    account_id = request.match_info["accountId"]
    user = state.org.users.get(account_id)
    if user is None:
        raise ApiError(admin_error(404, "SANDBOX-404-1", f"User {account_id} not found"))
    return json_response({"data": user_state_json(user)})


def add_routes(app: web.Application) -> None:
    """Register the control routes (they answer 404 while the control API is off)."""
    app.router.add_get(CONTROL_PREFIX + "requests", list_requests)
    app.router.add_get(CONTROL_PREFIX + "users", list_user_states)
    app.router.add_get(CONTROL_PREFIX + "users/{accountId}", get_user_state)
