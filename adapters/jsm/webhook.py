"""Webhook deliveries from Jira: the ``X-Hub-Signature`` check and the issue-created body.

Jira admin webhooks with a secret sign the raw body with HMAC-SHA256 and send
``X-Hub-Signature: sha256=<hex>``; a Jira Automation "Send web request" can set the same header.
The body is Jira's ``jira:issue_created`` event; the JSM request type sits in a custom field
whose number differs per site, so it is found by its shape (an object with ``requestType``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.jsm.client import JsmConfig

PREFIX = "sha256="
HEX_LENGTH = 64
HEX_DIGITS = frozenset("0123456789abcdef")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value for ``body``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True only for a well-formed header carrying the body's HMAC under a non-empty secret."""
    if not secret or not header:
        return False
    header = header.strip()
    if not header.startswith(PREFIX):
        return False
    given = header[len(PREFIX) :].lower()
    if len(given) != HEX_LENGTH or not all(c in HEX_DIGITS for c in given):
        return False
    return hmac.compare_digest(given, sign(secret, body)[len(PREFIX) :])


class JsmPayloadError(ValueError):
    """A webhook body that is not an issue-created event we can use; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class JsmRequest:
    """The facts of a new JSM request that matter for a restore."""

    issue_key: str
    issue_id: str
    reporter_account_id: str
    project_key: str
    request_type_id: str | None
    service_desk_id: str | None
    summary: str
    created: str | None


def _object(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise JsmPayloadError(field, "missing or not an object")
    return value


def _text(value: object, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise JsmPayloadError(field, "missing or empty")
    return value.strip()


def parse_webhook(payload: object) -> JsmRequest:
    """The request in a ``jira:issue_created`` body; :class:`JsmPayloadError` names the bad field."""
    body = _object(payload, "body")
    event = body.get("webhookEvent")
    if event is not None and event != "jira:issue_created":
        raise JsmPayloadError("webhookEvent", f"expected jira:issue_created, got {event!r}")
    issue = _object(body.get("issue"), "issue")
    fields = _object(issue.get("fields"), "issue.fields")
    reporter = _object(fields.get("reporter"), "issue.fields.reporter")
    project = _object(fields.get("project"), "issue.fields.project")
    request_type: Mapping[str, Any] | None = None
    for value in fields.values():
        if isinstance(value, Mapping) and isinstance(value.get("requestType"), Mapping):
            request_type = value["requestType"]
            break
    summary = fields.get("summary")
    created = fields.get("created")
    return JsmRequest(
        issue_key=_text(issue.get("key"), "issue.key"),
        issue_id=_text(issue.get("id"), "issue.id"),
        reporter_account_id=_text(reporter.get("accountId"), "issue.fields.reporter.accountId"),
        project_key=_text(project.get("key"), "issue.fields.project.key"),
        request_type_id=str(request_type["id"]) if request_type and request_type.get("id") is not None else None,
        service_desk_id=(
            str(request_type["serviceDeskId"])
            if request_type and request_type.get("serviceDeskId") is not None
            else None
        ),
        summary=summary if isinstance(summary, str) else "",
        created=created if isinstance(created, str) else None,
    )


def matches(config: JsmConfig, request: JsmRequest) -> bool:
    """True when the request is of the configured service desk and request type (when set)."""
    if config.service_desk_id is not None and request.service_desk_id != config.service_desk_id:
        return False
    return config.request_type_id is None or request.request_type_id == config.request_type_id
