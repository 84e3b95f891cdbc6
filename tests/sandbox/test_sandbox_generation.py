"""The generated org: determinism, population mix, derived product access."""

from __future__ import annotations

import resource
import sys
from collections import Counter
from datetime import timedelta

import pytest

from adapters.sandbox import Mix, generate_org
from adapters.sandbox.org import ORG_ADMIN_ROLE, SITE_ADMIN_ROLE

from .conftest import NOW


def _fingerprint(seed: int) -> list[tuple[object, ...]]:
    org = generate_org(300, seed=seed, now=NOW)
    return [
        (u.account_id, u.email, u.status, u.group_ids, tuple(sorted(u.last_active.items())), u.undated)
        for u in (org.users[a] for a in org.user_ids)
    ]


def test_same_seed_same_org_and_different_seed_differs() -> None:
    assert _fingerprint(3) == _fingerprint(3)
    assert _fingerprint(3) != _fingerprint(4)
    a, b = generate_org(10, seed=3, now=NOW), generate_org(10, seed=3, now=NOW)
    assert (a.org_id, a.directory_id, a.cloud_id) == (b.org_id, b.directory_id, b.cloud_id)
    assert list(a.groups) == list(b.groups)


def test_mix_fractions_for_2000_users() -> None:
    org = generate_org(2000, seed=1, now=NOW)
    users = list(org.users.values())
    assert len(users) == 2000 == len(org.user_ids)
    assert org.user_ids == sorted(org.user_ids)
    types = Counter(u.account_type for u in users)
    assert types == {"atlassian": 1780, "customer": 160, "app": 60}
    assert sum(ORG_ADMIN_ROLE in u.platform_roles for u in users) == 20
    assert sum(SITE_ADMIN_ROLE in u.platform_roles for u in users) == 40
    external = [u for u in users if u.account_type == "atlassian" and not u.managed]
    assert len(external) == 200
    assert all(u.email is None or not u.email.endswith("@acme.example") for u in external)
    managed = [u for u in users if u.managed]
    assert all(u.email and u.email.endswith("@acme.example") for u in managed)
    assert sum(u.synced for u in users) == 300
    statuses = Counter(u.status for u in users)
    assert statuses["suspended"] == 40
    assert statuses["deactivated"] == 20
    recent = [u for u in users if u.added_to_org and NOW - u.added_to_org <= timedelta(days=14)]
    assert len(recent) == 60
    never = [
        u for u in users if u.account_type == "atlassian" and org.product_access(u) and not any(u.last_active.values())
    ]
    assert 100 <= len(never) <= 140  # invited-never-active plus about half the recently added
    assert sum(u.undated for u in users) == 10
    # ~55% of people active within 30 days in at least one product
    people = [u for u in users if u.account_type == "atlassian"]
    fresh = [u for u in people if any(d and NOW - d <= timedelta(days=30) for d in u.last_active.values())]
    assert 0.45 < len(fresh) / len(people) < 0.65
    oldest = min(d for u in users for d in u.last_active.values() if d)
    assert NOW - oldest <= timedelta(days=500)


def test_product_access_is_derived_from_groups() -> None:
    org = generate_org(2000, seed=1, now=NOW)
    customers = [u for u in org.users.values() if u.account_type == "customer"]
    assert customers
    assert all(not u.group_ids and not org.product_access(u) for u in customers)
    for u in org.users.values():
        keys = {p.key for p in org.product_access(u)}
        granted = {org.groups[g].grants for g in u.group_ids} - {None}
        assert keys == granted
    jpd = sum("jira-product-discovery" in {p.key for p in org.product_access(u)} for u in org.users.values())
    assert 15 <= jpd <= 70
    # someone active in Jira recently but not in Confluence for 90+ days
    assert any(
        (js := u.last_active.get("jira-software"))
        and (cf := u.last_active.get("confluence"))
        and NOW - js <= timedelta(days=30)
        and NOW - cf > timedelta(days=90)
        for u in org.users.values()
    )
    assert org.group_by_name("engineering").synced
    assert {p.resource_id for p in org.products.values()} == {
        f"ari:cloud:{k}::site/{org.cloud_id}" for k in org.products
    }


def test_all_timestamps_are_timezone_aware_and_not_in_the_future() -> None:
    org = generate_org(500, seed=2, now=NOW)
    for u in org.users.values():
        for d in [u.added_to_org, u.deactivated_on, *u.last_active.values()]:
            if d is not None:
                assert d.tzinfo is not None
                assert d <= NOW
        if u.added_to_org:
            assert all(d is None or d >= u.added_to_org for d in u.last_active.values())


def test_mix_is_configurable() -> None:
    org = generate_org(100, seed=1, now=NOW, mix=Mix(app=0.5, customer=0.0), undated_fraction=0.0)
    types = Counter(u.account_type for u in org.users.values())
    assert types["app"] == 50
    assert types["customer"] == 0
    assert not any(u.undated for u in org.users.values())


def test_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_org(10, now=NOW.replace(tzinfo=None))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units differ")
def test_generates_100k_users_with_modest_memory() -> None:
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    org = generate_org(100_000, seed=1, now=NOW)
    after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(org.users) == 100_000
    assert len(org.user_ids) == 100_000
    # peak RSS growth is an upper bound on what generation kept alive
    assert (after_kb - before_kb) < 300_000
