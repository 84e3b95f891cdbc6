"""Jira Service Management's customer-request API (``/rest/servicedeskapi``), simulated.

Speaks Atlassian's JSON, with Basic auth (the site user's email and API token from
:class:`~.state.SandboxConfig`), so a client's mistakes show up as the real errors would:

* ``POST /rest/servicedeskapi/request``: create (``serviceDeskId``, ``requestTypeId``,
  ``requestFieldValues.summary``, optional ``raiseOnBehalfOf``) → 201 ``CustomerRequestDTO``.
* ``GET /rest/servicedeskapi/request/{key}``: one request; 404 if unknown.
* ``GET|POST .../comment``: list (paged) / add ``{"body", "public"}`` → 201 ``{id, body, public, author}``.
* ``GET .../transition``: the transitions available now (paged ``{size, start, limit, isLastPage,
  values: [{id, name}]}``: open requests can be ``Resolved`` (761) or ``Declined`` (781), closed ones
  ``Reopen`` (801)); ``POST .../transition`` ``{"id", "additionalComment"?: {"body"}}`` → 204,
  400 for a transition not available now or a malformed body.

Errors carry JSM's ``{"errorMessage", "i18nErrorMessage"}`` and, for clients written against the
Jira platform shape, ``"errorMessages": [...]`` too. Unauthenticated calls get 401.

Test-only control routes (with ``control_api``; see :mod:`.control`):

* ``POST /_sandbox/jsm/requests`` ``{"reporter", "summary"?, "serviceDeskId"? ("1"),
  "requestTypeId"? ("10")}`` → 201 ``{"issueKey", "webhook"}``, where ``webhook`` is the Jira
  ``jira:issue_created`` body an admin webhook would send (request type in ``customfield_10010``);
* ``GET /_sandbox/jsm/requests/{key}`` → ``{"issueKey", "status", "reporter", "comments": [...]}``;
* ``GET /_sandbox/jsm/requests/{key}/webhook`` → that request's ``jira:issue_created`` body.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from aiohttp import web

from .jsm_state import REQUEST_TYPE_FIELD, TRANSITIONS, JsmRequest, JsmSite
from .state import STATE_KEY, SandboxState
from .wire import ApiError, JsonDict, json_response

PREFIX = "/rest/servicedeskapi/"
CONTROL = "/_sandbox/jsm/"


def _error(status: int, message: str) -> web.Response:
    """An error in JSM's shape (plus the Jira platform's ``errorMessages`` list)."""
    body = {
        "errorMessage": message,
        "errorMessages": [message],
        "i18nErrorMessage": {"i18nKey": "sd.error", "parameters": []},
    }
    return json_response(body, status)


def unauthorized() -> web.Response:
    """The 401 for a call without the site user's Basic credentials."""
    return _error(401, "Client must be authenticated to access this resource.")


def authorized(request: web.Request, state: SandboxState) -> bool:
    """Basic auth with the configured site user's email and API token."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = f"{state.config.jsm_email}:{state.config.jsm_api_token}"
    return hmac.compare_digest(decoded, expected)


def _site(request: web.Request) -> tuple[SandboxState, JsmSite]:
    state = request.app[STATE_KEY]
    return state, state.jsm


def _find(request: web.Request) -> JsmRequest:
    _, site = _site(request)
    found = site.requests.get(request.match_info["key"])
    if found is None:
        raise ApiError(_error(404, "The request could not be found."))
    return found


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(_error(400, "Invalid JSON")) from None
    if not isinstance(data, dict):
        raise ApiError(_error(400, "Expected a JSON object"))
    return data


def _page(request: web.Request, values: list[JsonDict]) -> web.Response:
    """``values`` as one page of JSM's paged list, per the ``start`` and ``limit`` parameters."""
    start_text, limit_text = request.query.get("start", "0"), request.query.get("limit", "50")
    if not start_text.isdigit() or not limit_text.isdigit() or int(limit_text) < 1:
        return _error(400, "start must be >= 0 and limit >= 1")
    start, limit = int(start_text), int(limit_text)
    page = values[start : start + limit]
    last = start + limit >= len(values)
    return json_response({"size": len(page), "start": start, "limit": limit, "isLastPage": last, "values": page})


async def create_request(request: web.Request) -> web.Response:
    """``POST /rest/servicedeskapi/request``: a new request, reported by ``raiseOnBehalfOf``."""
    state, site = _site(request)
    data = await _body(request)
    fields = data.get("requestFieldValues")
    summary = fields.get("summary") if isinstance(fields, dict) else None
    desk, request_type = data.get("serviceDeskId"), data.get("requestTypeId")
    if not isinstance(desk, str | int) or not isinstance(request_type, str | int) or not desk or not request_type:
        return _error(400, "serviceDeskId and requestTypeId are required")
    if not isinstance(summary, str) or not summary.strip():
        return _error(400, "requestFieldValues.summary is required")
    behalf = data.get("raiseOnBehalfOf")
    if behalf is not None and (not isinstance(behalf, str) or not behalf):
        return _error(400, "raiseOnBehalfOf must be an accountId")
    reporter = behalf or "sandbox-agent"
    created = state.config.now().isoformat()
    made = site.create(reporter, summary, str(desk), str(request_type), created)
    return json_response(made.dto(), 201)


async def get_request(request: web.Request) -> web.Response:
    """``GET /rest/servicedeskapi/request/{key}``."""
    return json_response(_find(request).dto())


async def list_comments(request: web.Request) -> web.Response:
    """``GET .../comment``: the request's comments, oldest first, paged."""
    return _page(request, _find(request).comments)


async def add_comment(request: web.Request) -> web.Response:
    """``POST .../comment`` ``{"body", "public"?}`` → 201 with the comment."""
    found = _find(request)
    data = await _body(request)
    body = data.get("body")
    if not isinstance(body, str) or not body.strip():
        return _error(400, "A comment body is required")
    public = data.get("public", True)
    if not isinstance(public, bool):
        return _error(400, "public must be a boolean")
    return json_response(found.comment(body, public=public), 201)


async def list_transitions(request: web.Request) -> web.Response:
    """``GET .../transition``: the transitions the current status allows, paged."""
    found = _find(request)
    return _page(request, [{"id": i, "name": name} for i, name in found.available()])


async def do_transition(request: web.Request) -> web.Response:
    """``POST .../transition`` ``{"id", "additionalComment"?: {"body"}}`` → 204."""
    found = _find(request)
    data = await _body(request)
    transition = data.get("id")
    if not isinstance(transition, str) or transition not in dict(found.available()):
        return _error(400, f"Transition {transition!r} is not valid for request {found.key} right now")
    extra = data.get("additionalComment")
    if extra is not None:
        if not isinstance(extra, dict) or not isinstance(extra.get("body"), str):
            return _error(400, "additionalComment must be {body: string}")
        found.comment(extra["body"], public=True)
    found.status = TRANSITIONS[transition][1]
    return web.Response(status=204)


def webhook_body(state: SandboxState, site: JsmSite, found: JsmRequest) -> JsonDict:
    """The ``jira:issue_created`` body a Jira admin webhook sends for ``found``."""
    return {
        "timestamp": int(state.config.now().timestamp() * 1000),
        "webhookEvent": "jira:issue_created",
        "issue_event_type_name": "issue_created",
        "user": {"accountId": found.reporter},
        "issue": {
            "id": found.issue_id,
            "key": found.key,
            "fields": {
                "summary": found.summary,
                "created": found.created,
                "project": {"id": site.project_id, "key": site.project_key},
                "issuetype": {"name": "Service Request"},
                "reporter": {"accountId": found.reporter},
                REQUEST_TYPE_FIELD: {
                    "_links": {},
                    "requestType": {"id": found.request_type_id, "serviceDeskId": found.service_desk_id},
                    "currentStatus": {"status": found.status},
                },
            },
        },
    }


def _control_site(request: web.Request) -> tuple[SandboxState, JsmSite]:
    state, site = _site(request)
    if not state.config.control_api:
        raise web.HTTPNotFound
    return state, site


async def control_create(request: web.Request) -> web.Response:
    """``POST /_sandbox/jsm/requests``: create a request; answer its key and webhook body."""
    state, site = _control_site(request)
    data = await _body(request)
    reporter = data.get("reporter")
    if not isinstance(reporter, str) or not reporter:
        return _error(400, "reporter (an accountId) is required")
    made = site.create(
        reporter,
        str(data.get("summary", "Restore my access")),
        str(data.get("serviceDeskId", "1")),
        str(data.get("requestTypeId", "10")),
        state.config.now().isoformat(),
    )
    return json_response({"issueKey": made.key, "webhook": webhook_body(state, site, made)}, 201)


async def control_get(request: web.Request) -> web.Response:
    """``GET /_sandbox/jsm/requests/{key}``: status, reporter and comments as stored."""
    _control_site(request)
    found = _find(request)
    return json_response(
        {"issueKey": found.key, "status": found.status, "reporter": found.reporter, "comments": found.comments}
    )


async def control_webhook(request: web.Request) -> web.Response:
    """``GET /_sandbox/jsm/requests/{key}/webhook``: the ``jira:issue_created`` body for it."""
    state, site = _control_site(request)
    return json_response(webhook_body(state, site, _find(request)))


def add_routes(app: web.Application) -> None:
    """Register the JSM routes and their control routes."""
    app.router.add_post(PREFIX + "request", create_request)
    app.router.add_get(PREFIX + "request/{key}", get_request)
    app.router.add_get(PREFIX + "request/{key}/comment", list_comments)
    app.router.add_post(PREFIX + "request/{key}/comment", add_comment)
    app.router.add_get(PREFIX + "request/{key}/transition", list_transitions)
    app.router.add_post(PREFIX + "request/{key}/transition", do_transition)
    app.router.add_post(CONTROL + "requests", control_create)
    app.router.add_get(CONTROL + "requests/{key}", control_get)
    app.router.add_get(CONTROL + "requests/{key}/webhook", control_webhook)
