"""JSON → core.model mapping: full, partial and odd user records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.atlassian.mapping import (
    account_from_json,
    directory_ids,
    next_cursor,
    parse_timestamp,
    with_fallback_activity,
)
from core.model import (
    AccountStatus,
    AccountType,
    Claim,
    Group,
    GroupId,
    ManagementSource,
    MembershipStatus,
    ProductAccess,
    ProductKey,
)

from .fakes import user_json


def test_full_record_maps_every_field() -> None:
    user = user_json(
        platformRoles=["atlassian/org-admin", "atlassian/user"],
        productAccess=[
            {"key": "jira-software", "id": "ari:j", "lastActiveTimestamp": "2026-10-01T08:00:00.000Z"},
            {"key": "confluence", "id": "ari:c"},
        ],
        groups=[{"id": "g1", "name": "jira-software-users", "description": None}, {"id": "g2", "name": "team"}],
    )
    account = account_from_json(user)
    assert account.account_id == "acc-1"
    assert account.email == "ada@example.com"
    assert account.name == "Ada Lovelace"
    assert account.account_type is AccountType.ATLASSIAN
    assert account.account_status is AccountStatus.ACTIVE
    assert account.membership_status is MembershipStatus.ACTIVE
    assert account.claim is Claim.MANAGED
    assert account.management_source is ManagementSource.INVITED
    assert account.added_to_org == datetime(2025, 1, 31, 9, 12, tzinfo=UTC)
    assert account.groups == (Group(GroupId("g1"), "jira-software-users"), Group(GroupId("g2"), "team"))
    assert account.platform_roles == frozenset({"atlassian/org-admin", "atlassian/user"})
    assert account.is_admin
    assert account.products == (
        ProductAccess(ProductKey("jira-software"), "ari:j", datetime(2026, 10, 1, 8, tzinfo=UTC)),
        ProductAccess(ProductKey("confluence"), "ari:c", None),
    )
    assert account.activity_known


def test_odd_values_do_not_crash() -> None:
    user = user_json(
        accountType="robot",
        accountStatus="frozen",
        membershipStatus="pending",
        claimStatus="weird",
        managementSource="ldap",
        productAccess=[
            {"key": "jira-product-discovery", "id": "ari:jpd", "lastActiveTimestamp": "2026-09-30T23:59:59Z"},
            {"id": "no-key"},
            "not-an-object",
        ],
        platformRoles=[{"id": "atlassian/site-admin"}, 42],
        groups=[{"name": "no id"}, {"id": "g9"}],
    )
    del user["email"]
    del user["addedToOrg"]
    account = account_from_json(user)
    assert account.account_type is AccountType.OTHER
    assert account.account_status is AccountStatus.OTHER
    assert account.membership_status is MembershipStatus.OTHER
    assert account.claim is Claim.UNMANAGED
    assert account.management_source is ManagementSource.UNKNOWN
    assert account.email is None
    assert account.added_to_org is None
    assert [p.key for p in account.products] == ["jira-product-discovery"]
    assert account.products[0].last_active == datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
    assert account.platform_roles == frozenset({"atlassian/site-admin"})
    assert [g.id for g in account.groups] == ["g9"]


def test_partial_record_without_expands() -> None:
    user = {
        "accountId": "acc-2",
        "accountType": "app",
        "accountStatus": "inactive",
        "membershipStatus": "suspended",
        "managementSource": None,
        "addedToOrg": None,
        "nickname": "bot",
    }
    account = account_from_json(user)
    assert account.name == "bot"
    assert account.account_type is AccountType.APP
    assert account.management_source is ManagementSource.UNKNOWN
    assert account.claim is Claim.UNMANAGED
    assert account.groups == ()
    assert account.platform_roles == frozenset()
    assert account.products == ()
    # The productAccess key is missing: activity is unknown until the v1 fallback fills it.
    assert not account.activity_known


def test_synced_management_source() -> None:
    assert account_from_json(user_json(managementSource="synced")).is_synced


def test_record_without_account_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="accountId"):
        account_from_json({"name": "x"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-31T09:12:00.000Z", datetime(2025, 1, 31, 9, 12, tzinfo=UTC)),
        ("2025-01-31T09:12:00Z", datetime(2025, 1, 31, 9, 12, tzinfo=UTC)),
        ("2023-10-11T12:34Z", datetime(2023, 10, 11, 12, 34, tzinfo=UTC)),
        ("2026-10-01T08:00:00.123456789Z", datetime(2026, 10, 1, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2026-10-01T10:00:00+02:00", datetime(2026, 10, 1, 8, tzinfo=UTC)),
        ("2026-10-01T08:00:00", datetime(2026, 10, 1, 8, tzinfo=UTC)),
        ("2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
        (12345, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def test_fallback_fills_products_and_added_to_org() -> None:
    undated = account_from_json({k: v for k, v in user_json(addedToOrg=None).items() if k != "productAccess"})
    assert not undated.activity_known
    assert not account_from_json(user_json(productAccess=None)).activity_known
    assert account_from_json(user_json(productAccess=[])).activity_known  # answered: no products
    data = {
        "product_access": [
            {
                "id": "ari:j",
                "key": "jira-software",
                "last_active": "2026-10-01",
                "last_active_timestamp": "2026-10-01T08:00:00Z",
            },
            {"id": "ari:c", "key": "confluence", "last_active": "2026-09-01"},
        ],
        "added_to_org": "2025-01-31",
        "added_to_org_timestamp": "2025-01-31T09:12:00Z",
    }
    filled = with_fallback_activity(undated, data)
    assert filled.activity_known
    assert filled.added_to_org == datetime(2025, 1, 31, 9, 12, tzinfo=UTC)
    assert filled.products == (
        ProductAccess(ProductKey("jira-software"), "ari:j", datetime(2026, 10, 1, 8, tzinfo=UTC)),
        ProductAccess(ProductKey("confluence"), "ari:c", datetime(2026, 9, 1, tzinfo=UTC)),
    )


def test_page_helpers() -> None:
    assert next_cursor({"links": {"next": "abc"}}) == "abc"
    assert next_cursor({"links": {"next": None}}) is None
    assert next_cursor({"links": {}}) is None
    assert next_cursor({}) is None
    assert directory_ids({"data": [{"directoryId": "d1", "name": "n"}, {"name": "no id"}]}) == [("d1", "n")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
fields = st.sampled_from(
    [
        "accountType",
        "accountStatus",
        "membershipStatus",
        "addedToOrg",
        "name",
        "email",
        "claimStatus",
        "managementSource",
        "platformRoles",
        "productAccess",
        "groups",
    ]
)


@given(st.dictionaries(fields, json_values))
def test_any_shaped_record_with_an_id_maps(extra: dict[str, Any]) -> None:
    account = account_from_json({"accountId": "acc-x", **extra})
    assert account.account_id == "acc-x"
    for product in account.products:
        assert product.last_active is None or product.last_active.tzinfo is not None
