"""Translate Atlassian JSON into ``core.model`` objects.

Pure functions, no I/O. The mapping is lenient by design: Atlassian adds enum values and
product keys over time, so unknown values map to ``OTHER``/``UNKNOWN`` members or are kept
as opaque strings, and malformed optional fields become ``None`` instead of crashing a scan.
Only a record without an ``accountId`` is rejected (``ValueError``): without an id nothing
can be done with it safely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.model import (
    Account,
    AccountId,
    AccountStatus,
    AccountType,
    ApiUse,
    Claim,
    DirectoryId,
    Group,
    GroupId,
    ManagementSource,
    MembershipStatus,
    ProductAccess,
    ProductKey,
)

JsonObject = Mapping[str, Any]


def parse_timestamp(value: object) -> datetime | None:
    """Parse an ISO 8601 timestamp or date into a tz-aware UTC ``datetime``.

    Accepts ``Z`` or numeric offsets, any number of fractional digits, minute precision
    (``2023-10-11T12:34Z``) and plain dates (midnight UTC). Naive values are taken as UTC.
    Returns ``None`` for ``None``, empty or unparseable input.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _str(data: JsonObject, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _objects(value: object) -> Iterable[JsonObject]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _claim(value: str | None) -> Claim:
    # Unknown claim values count as unmanaged: that only ever narrows what may be done.
    return Claim.MANAGED if value == Claim.MANAGED.value else Claim.UNMANAGED


def _management_source(value: str | None) -> ManagementSource:
    try:
        return ManagementSource(value) if value else ManagementSource.UNKNOWN
    except ValueError:
        return ManagementSource.UNKNOWN


def groups_from_json(value: object) -> tuple[Group, ...]:
    """Map v2 ``groups`` (``[{"id", "name", ...}]``); entries without an id are dropped."""
    groups = []
    for item in _objects(value):
        group_id = _str(item, "id")
        if group_id:
            groups.append(Group(id=GroupId(group_id), name=_str(item, "name") or ""))
    return tuple(groups)


def platform_roles_from_json(value: object) -> frozenset[str]:
    """Map v2 ``platformRoles``: a list of role ids (objects with ``id``/``roleId`` are accepted too)."""
    roles: set[str] = set()
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                roles.add(item)
            elif isinstance(item, Mapping):
                role = _str(item, "id") or _str(item, "roleId")
                if role:
                    roles.add(role)
    return frozenset(roles)


def products_from_v2(value: object) -> tuple[ProductAccess, ...]:
    """Map v2 ``productAccess``; a missing ``lastActiveTimestamp`` means never used (``None``)."""
    products = []
    for item in _objects(value):
        key = _str(item, "key")
        if key:
            products.append(
                ProductAccess(
                    key=ProductKey(key),
                    resource_id=_str(item, "id") or "",
                    last_active=parse_timestamp(item.get("lastActiveTimestamp")),
                )
            )
    return tuple(products)


def products_from_v1(value: object) -> tuple[ProductAccess, ...]:
    """Map v1 last-active-dates ``product_access`` (timestamp preferred, else the date at midnight UTC)."""
    products = []
    for item in _objects(value):
        key = _str(item, "key")
        if key:
            last_active = parse_timestamp(item.get("last_active_timestamp")) or parse_timestamp(item.get("last_active"))
            products.append(
                ProductAccess(key=ProductKey(key), resource_id=_str(item, "id") or "", last_active=last_active)
            )
    return tuple(products)


def has_product_access(user: JsonObject) -> bool:
    """True when the v2 record carries a ``productAccess`` list (degraded records omit the key).

    A ``null`` value counts as missing: unknown activity must never read as "never active".
    """
    return isinstance(user.get("productAccess"), list)


def account_from_json(user: JsonObject) -> Account:
    """Map one v2 user record to an ``Account``.

    A record without ``productAccess`` maps with no products and ``activity_known=False``;
    the client completes it from the v1 fallback (:func:`with_fallback_activity`).
    Raises ``ValueError`` when ``accountId`` is missing.
    """
    account_id = _str(user, "accountId")
    if not account_id:
        raise ValueError("user record without accountId")
    known = has_product_access(user)
    return Account(
        account_id=AccountId(account_id),
        email=_str(user, "email") or None,
        name=_str(user, "name") or _str(user, "nickname") or "",
        account_type=AccountType.parse(_str(user, "accountType")),
        account_status=AccountStatus.parse(_str(user, "accountStatus")),
        membership_status=MembershipStatus.parse(_str(user, "membershipStatus")),
        claim=_claim(_str(user, "claimStatus")),
        management_source=_management_source(_str(user, "managementSource")),
        added_to_org=parse_timestamp(user.get("addedToOrg")),
        groups=groups_from_json(user.get("groups")),
        platform_roles=platform_roles_from_json(user.get("platformRoles")),
        products=products_from_v2(user.get("productAccess")) if known else (),
        activity_known=known,
        scheduled_for_deletion=user.get("forDeletion") is True or _str(user, "status") == "for_deletion",
    )


def with_fallback_activity(account: Account, last_active_data: JsonObject) -> Account:
    """Complete an undated account from the v1 last-active-dates ``data`` object.

    Products come from ``product_access`` (the v1 API lists only products ever used), and
    ``added_to_org`` is filled from the fallback when the v2 record lacked it.
    """
    added = (
        account.added_to_org
        or parse_timestamp(last_active_data.get("added_to_org_timestamp"))
        or parse_timestamp(last_active_data.get("added_to_org"))
    )
    return replace(
        account,
        products=products_from_v1(last_active_data.get("product_access")),
        added_to_org=added,
        activity_known=True,
    )


def directory_ids(page: JsonObject) -> list[tuple[DirectoryId, str]]:
    """``(directoryId, name)`` pairs of a ``GET /v2/orgs/{orgId}/directories`` page."""
    result = []
    for item in _objects(page.get("data")):
        directory_id = _str(item, "directoryId")
        if directory_id:
            result.append((DirectoryId(directory_id), _str(item, "name") or ""))
    return result


def next_cursor(page: JsonObject) -> str | None:
    """The opaque ``links.next`` cursor of a page, ``None`` on the last page."""
    links = page.get("links")
    if isinstance(links, Mapping):
        cursor = links.get("next")
        if isinstance(cursor, str) and cursor:
            return cursor
    return None


def api_use_from_tokens(value: object) -> ApiUse:
    """``GET /users/{id}/manage/api-tokens`` -> the latest token use (a body that is not a list: unknown)."""
    if not isinstance(value, list):
        return ApiUse.unknown("api-tokens: expected a JSON list")
    return ApiUse.latest(
        [(str(t.get("label") or t.get("id") or "?"), parse_timestamp(t.get("lastAccess"))) for t in _objects(value)]
    )
