"""``POST .../users/search``: strict body parsing, filtering, keyset paging.

Cursors are opaque urlsafe-base64 tokens of a small JSON document holding the
paging direction, the boundary account id and a fingerprint of the filters.
Paging is keyset-based over the sorted account ids, so users changing state
between page requests are neither skipped nor repeated (other than a user
newly matching or no longer matching the filters).  A cursor replayed with
different filters is rejected with 400 ``ADMIN-400-1``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .org import (
    ACCOUNT_STATUSES,
    CLAIM_STATUSES,
    MEMBERSHIP_STATUSES,
    USER_STATUSES,
    SandboxOrg,
    User,
)
from .wire import EXPANDS, JsonDict


class SearchError(Exception):
    """A request problem; ``code`` is the ADMIN error code to send (400)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _bad_body(detail: str) -> SearchError:
    return SearchError("ADMIN-400-24", detail)


_ENUM_LISTS: dict[str, tuple[str, ...] | None] = {
    "accountStatus": ACCOUNT_STATUSES,
    "membershipStatus": MEMBERSHIP_STATUSES,
    "status": USER_STATUSES,
    "expand": EXPANDS,
    "accountIds": None,
    "emails": None,
    "directoryIds": None,
    "resourceIds": None,
    "groupIds": None,
    "roleIds": None,
    "emailDomains": None,
}
_SCALARS = ("limit", "cursor", "claimStatus", "searchTerm", "mfaEnabled")
ALLOWED_KEYS = frozenset(_ENUM_LISTS) | frozenset(_SCALARS)


@dataclass(slots=True)
class SearchRequest:
    """A validated search body."""

    limit: int
    cursor: str | None
    expand: frozenset[str]
    filters: dict[str, Any]

    def fingerprint(self) -> str:
        """Stable digest of the filters (not limit/cursor/expand)."""
        raw = json.dumps(self.filters, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def parse_search(body: object) -> SearchRequest:
    """Validate a search body (None = empty) or raise :class:`SearchError`.

    Unknown keys, wrong types, enum values outside the documented sets,
    ``limit`` outside 1..100 and ``searchTerm`` combined with ``emails`` are
    all ``ADMIN-400-24``.  Empty lists mean "no filter".
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _bad_body("Request body must be a JSON object")
    unknown = sorted(set(body) - ALLOWED_KEYS)
    if unknown:
        raise _bad_body(f"Unrecognized field(s): {', '.join(unknown)}")
    filters: dict[str, Any] = {}
    for key, allowed in _ENUM_LISTS.items():
        if key not in body:
            continue
        value = body[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _bad_body(f"'{key}' must be an array of strings")
        if allowed is not None:
            bad = [v for v in value if v not in allowed]
            if bad:
                raise _bad_body(f"Invalid value(s) for '{key}': {', '.join(bad)}")
        if value:
            filters[key] = sorted(set(value))
    limit = body.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise _bad_body("'limit' must be an integer")
    if not 1 <= limit <= 100:
        raise _bad_body("'limit' must be between 1 and 100")
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise _bad_body("'cursor' must be a string")
    if "claimStatus" in body:
        claim = body["claimStatus"]
        if claim not in CLAIM_STATUSES:
            raise _bad_body("'claimStatus' must be 'managed' or 'unmanaged'")
        filters["claimStatus"] = claim
    if "searchTerm" in body:
        term = body["searchTerm"]
        if not isinstance(term, str):
            raise _bad_body("'searchTerm' must be a string")
        if "emails" in body:
            raise _bad_body("'searchTerm' and 'emails' are mutually exclusive")
        if term:
            filters["searchTerm"] = term.lower()
    if "mfaEnabled" in body:
        if not isinstance(body["mfaEnabled"], bool):
            raise _bad_body("'mfaEnabled' must be a boolean")
        filters["mfaEnabled"] = body["mfaEnabled"]
    if "emails" in filters:
        filters["emails"] = sorted({e.lower() for e in filters["emails"]})
    if "emailDomains" in filters:
        filters["emailDomains"] = sorted({d.lower() for d in filters["emailDomains"]})
    expand = frozenset(filters.pop("expand", ()))
    return SearchRequest(limit, cursor or None, expand, filters)


def matches(org: SandboxOrg, user: User, f: dict[str, Any]) -> bool:
    """True when ``user`` satisfies every filter in ``f``."""
    if "accountStatus" in f and user.account_status not in f["accountStatus"]:
        return False
    if "membershipStatus" in f and user.membership_status not in f["membershipStatus"]:
        return False
    if "status" in f and user.status not in f["status"]:
        return False
    if "claimStatus" in f and user.claim_status != f["claimStatus"]:
        return False
    if "mfaEnabled" in f and user.mfa_enabled != f["mfaEnabled"]:
        return False
    if "directoryIds" in f and org.directory_id not in f["directoryIds"]:
        return False
    email = (user.email or "").lower()
    if "emails" in f and email not in f["emails"]:
        return False
    if "emailDomains" in f and email.rpartition("@")[2] not in f["emailDomains"]:
        return False
    if "searchTerm" in f:
        term = f["searchTerm"]
        hay = (user.name.lower(), user.nickname.lower(), email)
        if not any(term in h for h in hay):
            return False
    if "groupIds" in f and not set(user.group_ids) & set(f["groupIds"]):
        return False
    if "roleIds" in f and not set(user.platform_roles) & set(f["roleIds"]):
        return False
    if "resourceIds" in f:
        ids = {p.resource_id for p in org.product_access(user)}
        if not ids & set(f["resourceIds"]):
            return False
    return True


def encode_cursor(direction: str, key: str, fingerprint: str) -> str:
    """Opaque token: urlsafe base64 (unpadded) of a compact JSON document."""
    raw = json.dumps({"v": 1, "d": direction, "k": key, "f": fingerprint})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, fingerprint: str) -> tuple[str, str]:
    """Return (direction, key) or raise ``ADMIN-400-1``."""
    invalid = SearchError("ADMIN-400-1", "Invalid page cursor")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise invalid
    direction, key = doc.get("d"), doc.get("k")
    if direction not in ("after", "before") or not isinstance(key, str):
        raise invalid
    if doc.get("f") != fingerprint:
        raise SearchError("ADMIN-400-1", "Invalid page cursor: filters differ from the first page")
    return direction, key


def _candidates(org: SandboxOrg, f: dict[str, Any]) -> list[str]:
    if "accountIds" in f:
        return sorted(a for a in f["accountIds"] if a in org.users)
    return org.user_ids


def _scan(org: SandboxOrg, ids: list[str], f: dict[str, Any], start: int, step: int) -> Iterator[str]:
    i = start
    while 0 <= i < len(ids):
        account_id = ids[i]
        if matches(org, org.users[account_id], f):
            yield account_id
        i += step


def search_page(org: SandboxOrg, req: SearchRequest) -> tuple[list[User], JsonDict]:
    """Run one page of a search; returns (users, ``links``)."""
    fp = req.fingerprint()
    ids = _candidates(org, req.filters)
    direction, key = ("after", "")
    if req.cursor is not None:
        direction, key = decode_cursor(req.cursor, fp)
    if direction == "after":
        start = bisect.bisect_right(ids, key) if key else 0
        it = _scan(org, ids, req.filters, start, 1)
        page = [a for _, a in zip(range(req.limit), it, strict=False)]
        more_after = next(it, None) is not None
        first = page[0] if page else key
        more_before = bool(first) and (
            next(_scan(org, ids, req.filters, bisect.bisect_left(ids, first) - 1, -1), None) is not None
        )
    else:
        start = bisect.bisect_left(ids, key) - 1
        it = _scan(org, ids, req.filters, start, -1)
        page = [a for _, a in zip(range(req.limit), it, strict=False)]
        more_before = next(it, None) is not None
        page.reverse()
        more_after = True
    self_cursor = req.cursor or encode_cursor("after", "", fp)
    links: JsonDict = {
        "self": self_cursor,
        "prev": encode_cursor("before", page[0], fp) if page and more_before else None,
        "next": encode_cursor("after", page[-1], fp) if page and more_after else None,
    }
    if not page and direction == "before":
        links["next"] = encode_cursor("after", "", fp)
    return [org.users[a] for a in page], links
