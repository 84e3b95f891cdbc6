"""Safety properties of the planner, checked over generated orgs and policies."""

import hashlib
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from core.model import (
    Account,
    AccountId,
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
from core.planner import PlanBuilder, Verdict, decide, plan
from core.policy import Policy, parse_policy
from tests.fakes import NOW

PRODUCTS = ["jira-software", "confluence", "jira-servicedesk", "jira-product-discovery"]
ROLES = ["atlassian/org-admin", "atlassian/site-admin", "atlassian/user-access-admin", "atlassian/ai-access"]
GROUPS = ["engineering", "break-glass", "sales"]
days = st.integers(min_value=0, max_value=800)


@st.composite
def accounts(draw, account_id=None):
    products = draw(st.dictionaries(st.sampled_from(PRODUCTS), st.none() | days, max_size=4))
    return Account(
        account_id=AccountId(account_id or draw(st.text("abcdef0123", min_size=1, max_size=6))),
        email=draw(st.sampled_from([None, "vip@acme.example", "x@acme.example", "y@partner.example"])),
        name="n",
        account_type=draw(st.sampled_from(list(AccountType))),
        account_status=draw(st.sampled_from(list(AccountStatus))),
        membership_status=draw(st.sampled_from(list(MembershipStatus))),
        claim=draw(st.sampled_from(list(Claim))),
        management_source=draw(st.sampled_from(list(ManagementSource))),
        added_to_org=draw(st.none() | days.map(lambda d: NOW - timedelta(days=d))),
        groups=tuple(Group(GroupId(g), g) for g in draw(st.lists(st.sampled_from(GROUPS), unique=True))),
        platform_roles=frozenset(draw(st.lists(st.sampled_from(ROLES), max_size=2))),
        products=tuple(
            ProductAccess(ProductKey(k), "ari", None if d is None else NOW - timedelta(days=d))
            for k, d in products.items()
        ),
        activity_known=draw(st.booleans().map(lambda b: b or draw(st.booleans()))),
    )


@st.composite
def policies(draw):
    rules = []
    for i, product in enumerate(draw(st.lists(st.sampled_from([*PRODUCTS, "any"]), min_size=1, max_size=3))):
        inactive = draw(st.integers(min_value=2, max_value=400))
        rules.append(
            {
                "name": f"r{i}",
                "product": product,
                "inactive_days": inactive,
                "action": "suspend" if product == "any" else "remove_product_access",
                "warn_days_before": draw(st.integers(min_value=0, max_value=inactive - 1)),
                "delete_after_days": draw(st.none() | st.integers(min_value=1, max_value=90))
                if product == "any"
                else None,
            }
        )
    return parse_policy(
        {
            "rules": rules,
            "protected": {"accounts": ["vip@acme.example"], "groups": ["break-glass"]},
            "new_account_grace_days": draw(st.integers(min_value=0, max_value=60)),
            "last_active_lag_days": draw(st.integers(min_value=0, max_value=3)),
        }
    )


def selected(account: Account, policy: Policy) -> bool:
    return any(d.verdict is not Verdict.SKIP for d in decide(account, policy, NOW))


@settings(max_examples=300)
@given(accounts(), policies())
def test_never_selects_untouchable_accounts(account, policy):
    """Admins, apps, customers, protected, synced and new accounts are never selected."""
    untouchable = (
        account.is_admin
        or account.account_type is not AccountType.ATLASSIAN
        or account.email == "vip@acme.example"
        or any(g.name == "break-glass" for g in account.groups)
        or account.is_synced
        or not account.is_billable
        or not account.activity_known
        or (
            account.added_to_org is not None
            and NOW - account.added_to_org < timedelta(days=policy.new_account_grace_days)
        )
    )
    if untouchable:
        assert not selected(account, policy)


@settings(max_examples=300)
@given(accounts(), policies(), st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=400))
def test_later_last_active_never_selects_more(account, policy, which, shift):
    """Moving one product's last-active later never turns a decision more severe."""
    dated = [i for i, p in enumerate(account.products) if p.last_active is not None]
    if not dated:
        return
    i = dated[which % len(dated)]
    products = list(account.products)
    products[i] = replace(products[i], last_active=products[i].last_active + timedelta(days=shift))
    later = replace(account, products=tuple(products))
    before = {(d.rule): d.verdict for d in decide(account, policy, NOW)}
    after = {(d.rule): d.verdict for d in decide(later, policy, NOW)}
    assert before.keys() == after.keys()
    for rule, verdict in after.items():
        assert verdict <= before[rule]


@settings(max_examples=100)
@given(st.lists(accounts(), max_size=12, unique_by=lambda a: a.account_id), policies(), st.randoms())
def test_plan_is_independent_of_input_order(org, policy, rnd):
    """Shuffling the accounts changes neither the decisions nor the hash nor the summary."""
    shuffled = list(org)
    rnd.shuffle(shuffled)
    a, b = plan(org, policy, NOW), plan(shuffled, policy, NOW)
    assert a.decisions == b.decisions
    assert a.plan_hash == b.plan_hash
    assert a.summary == b.summary


@settings(max_examples=100)
@given(st.lists(accounts(), max_size=12, unique_by=lambda a: a.account_id), policies())
def test_plan_hash_is_made_of_each_accounts_canonical_lines(org, policy):
    """The builder's own lines are exactly :meth:`Decision.canonical` of the decisions it returns.

    The builder writes the lines from the values at hand instead of reading them back, so a
    change to one format without the other would make equal plans hash differently.
    """
    builder = PlanBuilder(policy, NOW)
    digests = []
    for account in org:
        decisions = builder.add(account)
        if decisions:
            digests.append(hashlib.sha256("\n".join(d.canonical() for d in decisions).encode()).digest())
    expected = hashlib.sha256(policy.policy_hash.encode())
    for digest in sorted(digests):
        expected.update(digest)
    assert builder.plan_hash == expected.hexdigest()


@settings(max_examples=100)
@given(st.lists(accounts(), max_size=12, unique_by=lambda a: a.account_id), policies())
def test_summary_is_the_sum_of_one_account_summaries(org, policy):
    """Tallying accounts by shape gives the same figures as adding up each account's own summary."""
    whole = plan(org, policy, NOW).summary
    parts = [plan([account], policy, NOW).summary for account in org]
    assert whole.accounts == sum(p.accounts for p in parts)
    assert whole.billable_accounts == sum(p.billable_accounts for p in parts)
    assert whole.unknown_activity == sum(p.unknown_activity for p in parts)
    for code, count in whole.decisions.items():
        assert count == sum(p.decisions.get(code, 0) for p in parts)
    assert sum(whole.decisions.values()) == len(plan(org, policy, NOW).decisions)
    for key, row in whole.products.items():
        rows = [p.products[key] for p in parts if key in p.products]
        for figure in ("billable_seats", "inactive", "to_warn", "to_act", "protected", "manage_in_idp", "unknown"):
            assert getattr(row, figure) == sum(getattr(r, figure) for r in rows), figure
        assert row.monthly_savings == sum((r.monthly_savings for r in rows), Decimal(0))
