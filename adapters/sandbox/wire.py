"""Rendering of sandbox state as Atlassian JSON, plus error-body builders.

Every timestamp leaves the sandbox as ISO 8601 UTC with a ``Z`` suffix: v2
payloads use millisecond precision (``2025-01-31T09:12:00.000Z``), v1
payloads use seconds (``2025-01-31T09:12:00Z``) plus a bare date.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .org import SandboxOrg, User

JsonDict = dict[str, Any]

EXPANDS = ("productAccess", "groups", "platformRoles", "counts.resources")


def iso_ms(value: datetime | None) -> str | None:
    """``2025-01-31T09:12:00.000Z`` (v2 style), or None."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_s(value: datetime | None) -> str | None:
    """``2025-01-31T09:12:00Z`` (v1 style), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(value: datetime | None) -> str | None:
    """``2025-01-31``, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with compact encoding."""
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


_TITLES = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ApiError(Exception):
    """Raised by handlers to short-circuit with a ready error response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def admin_error(status: int, code: str, detail: str) -> web.Response:
    """Organizations-API application error: ``{"errors": [{id, status, ...}]}``."""
    body = {
        "errors": [
            {
                "id": str(uuid.uuid4()),
                "status": str(status),
                "code": code,
                "title": _TITLES.get(status, "Error"),
                "detail": detail,
            }
        ]
    }
    return json_response(body, status)


def proxy_error(status: int, message: str) -> web.Response:
    """Gateway (proxy) error: ``{"code": <int>, "message": ...}``."""
    return json_response({"code": status, "message": message}, status)


def manage_error(status: int, body: JsonDict) -> web.Response:
    """User-management API error with a ``{"key": ...}`` body."""
    return json_response(body, status)


def forbidden(reason: str) -> web.Response:
    """User-management 403 with a restriction reason key."""
    return manage_error(403, {"key": "forbidden", "context": {"reason": {"key": reason}}})


def render_user(org: SandboxOrg, user: User, expand: frozenset[str], base_url: str) -> JsonDict:
    """A v2 directory user; optional sections appear only when expanded.

    ``productAccess`` is omitted entirely for ``undated`` users (degraded
    data) even when expanded; ``lastActiveTimestamp`` is absent for products
    the user never used.  ``email`` is absent when hidden by privacy.
    """
    out: JsonDict = {
        "accountId": user.account_id,
        "accountType": user.account_type,
        "status": user.status,
        "accountStatus": user.account_status,
        "membershipStatus": user.membership_status,
        "addedToOrg": iso_ms(user.added_to_org),
        "name": user.name,
        "nickname": user.nickname,
    }
    if user.email is not None:
        out["email"] = user.email
    out["emailVerified"] = user.email_verified
    out["claimStatus"] = user.claim_status
    out["managementSource"] = user.management_source
    out["mfaEnabled"] = user.mfa_enabled
    if "platformRoles" in expand:
        out["platformRoles"] = list(user.platform_roles)
    products = org.product_access(user)
    if "productAccess" in expand and not user.undated:
        access = []
        for p in products:
            item: JsonDict = {"key": p.key, "id": p.resource_id}
            stamp = iso_ms(user.last_active.get(p.key))
            if stamp is not None:
                item["lastActiveTimestamp"] = stamp
            access.append(item)
        out["productAccess"] = access
    if "groups" in expand:
        out["groups"] = [
            {"id": g.id, "name": g.name, "description": g.description}
            for g in (org.groups[gid] for gid in user.group_ids if gid in org.groups)
        ]
    if "counts.resources" in expand:
        out["counts"] = {"resources": len(products)}
    out["links"] = {
        "self": (f"{base_url}/admin/v2/orgs/{org.org_id}/directories/{org.directory_id}/users/{user.account_id}")
    }
    out["deactivatedOn"] = iso_ms(user.deactivated_on)
    out["forDeletion"] = user.for_deletion
    return out


def render_last_active(org: SandboxOrg, user: User) -> JsonDict:
    """v1 ``last-active-dates`` body; products never used are not listed."""
    access = []
    for p in org.product_access(user):
        when = user.last_active.get(p.key)
        if when is None:
            continue
        access.append(
            {
                "id": p.resource_id,
                "key": p.key,
                "last_active": iso_date(when),
                "last_active_timestamp": iso_s(when),
            }
        )
    return {
        "data": {
            "product_access": access,
            "added_to_org": iso_date(user.added_to_org),
            "added_to_org_timestamp": iso_s(user.added_to_org),
        },
        "links": {"next": None},
    }


def render_org(org: SandboxOrg, base_url: str) -> JsonDict:
    """v1 ``OrgModel``."""
    root = f"{base_url}/admin/v1/orgs/{org.org_id}"
    return {
        "id": org.org_id,
        "type": "orgs",
        "attributes": {"name": org.org_name},
        "relationships": {
            "domains": {"links": {"related": f"{root}/domains"}},
            "users": {"links": {"related": f"{root}/users"}},
        },
        "links": {"self": root},
    }
