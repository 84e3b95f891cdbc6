"""Jira Service Management's customer-request API (``/rest/servicedeskapi``), simulated.

Speaks Atlassian's JSON, with Basic auth (the site user's email and API token from
:class:`~.state.SandboxConfig`), so a client's mistakes show up as the real errors would:

* ``POST /rest/servicedeskapi/request``: create (``serviceDeskId``, ``requestTypeId``,
  ``requestFieldValues.summary``, optional ``raiseOnBehalfOf``) → 201 ``CustomerRequestDTO``.
* ``GET /rest/servicedeskapi/request/{key}``: one request; 404 ``{"errorMessage": ...}`` if unknown.
* ``GET|POST .../comment``: list / add ``{"body", "public"}`` (201).
* ``GET .../transition``: the transitions available now (paged ``values``: open requests can be
  ``Resolved`` or ``Declined``, closed ones ``Reopen``); ``POST .../transition`` ``{"id",
  "additionalComment": {"body"}}`` → 204, 400 for a transition not available now.

Test-only control routes (with ``control_api``): ``POST /_sandbox/jsm/requests`` creates a request
``{"reporter", "summary"?, "serviceDeskId"?, "requestTypeId"?}`` and answers ``{"issueKey",
"webhook"}``, where ``webhook`` is the Jira ``jira:issue_created`` body an admin webhook would
send; ``GET /_sandbox/jsm/requests/{key}`` answers ``{"status", "comments": [...]}``.
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
    return json_response(
        {"errorMessage": message, "i18nErrorMessage": {"i18nKey": "sd.error", "parameters": []}}, status
    )


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


async def create_request(request: web.Request) -> web.Response:
    state, site = _site(request)
    data = await _body(request)
    fields = data.get("requestFieldValues")
    summary = fields.get("summary") if isinstance(fields, dict) else None
    if not data.get("serviceDeskId") or not data.get("requestTypeId") or not isinstance(summary, str):
        return _error(400, "serviceDeskId, requestTypeId and requestFieldValues.summary are required")
    reporter = str(data.get("raiseOnBehalfOf") or "sandbox-agent")
    created = state.config.now().isoformat()
    made = site.create(reporter, summary, str(data["serviceDeskId"]), str(data["requestTypeId"]), created)
    return json_response(made.dto(), 201)


async def get_request(request: web.Request) -> web.Response:
    return json_response(_find(request).dto())


async def list_comments(request: web.Request) -> web.Response:
    found = _find(request)
    return json_response(
        {"size": len(found.comments), "start": 0, "limit": 50, "isLastPage": True, "values": found.comments}
    )


async def add_comment(request: web.Request) -> web.Response:
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
    found = _find(request)
    values = [{"id": i, "name": name} for i, name in found.available()]
    start = int(request.query.get("start", "0"))
    limit = int(request.query.get("limit", "50"))
    page = values[start : start + limit]
    return json_response(
        {"size": len(page), "start": start, "limit": limit, "isLastPage": start + limit >= len(values), "values": page}
    )


async def do_transition(request: web.Request) -> web.Response:
    found = _find(request)
    data = await _body(request)
    transition = data.get("id")
    if not isinstance(transition, str) or transition not in dict(found.available()):
        return _error(400, f"Transition {transition!r} is not valid for request {found.key} right now")
    extra = data.get("additionalComment")
    if extra is not None:
        if not isinstance(extra, dict) or not isinstance(extra.get("body"), str):
            return _error(400, "additionalComment must be {body: string}")
        found.comments.append(
            {
                "id": str(len(found.comments) + 1),
                "body": extra["body"],
                "public": True,
                "author": {"accountId": "agent"},
            }
        )
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


async def control_create(request: web.Request) -> web.Response:
    state, site = _site(request)
    if not state.config.control_api:
        raise web.HTTPNotFound
    data = await _body(request)
    made = site.create(
        str(data["reporter"]),
        str(data.get("summary", "Restore my access")),
        str(data.get("serviceDeskId", "1")),
        str(data.get("requestTypeId", "10")),
        state.config.now().isoformat(),
    )
    return json_response({"issueKey": made.key, "webhook": webhook_body(state, site, made)}, 201)


async def control_get(request: web.Request) -> web.Response:
    state, _ = _site(request)
    if not state.config.control_api:
        raise web.HTTPNotFound
    found = _find(request)
    return json_response({"status": found.status, "comments": found.comments})


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
