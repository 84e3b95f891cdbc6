"""The planner as tables: these accounts, this policy, this time -> these decisions."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.model import AccountStatus, AccountType, ManagementSource, MembershipStatus
from core.planner import SkipReason, Verdict, decide, plan
from core.policy import parse_policy
from tests.fakes import NOW, make_account

POLICY = parse_policy(
    {
        "rules": [
            {
                "name": "jira",
                "product": "jira-software",
                "inactive_days": 90,
                "action": "remove_product_access",
                "warn_days_before": 14,
            },
            {
                "name": "org",
                "product": "any",
                "inactive_days": 180,
                "action": "suspend",
                "warn_days_before": 14,
                "delete_after_days": 60,
            },
        ],
        "protected": {"accounts": ["vip@acme.example"], "groups": ["break-glass"]},
        "new_account_grace_days": 30,
        "last_active_lag_days": 1,
        "prices": {"jira-software": 8, "confluence": 6},
    }
)


def codes(account):
    return {d.rule: d.code for d in decide(account, POLICY, NOW)}


class TestThresholds:
    @pytest.mark.parametrize(
        ("days", "expected"),
        [
            (10, "skip:active"),
            (76, "skip:active"),  # 76 - 1 lag = 75 < 90 - 14
            (77, "warn"),  # 76 effective >= 76
            (90, "warn"),  # lag keeps a 90-day-old date just under the threshold
            (91, "act"),
            (400, "act"),
        ],
    )
    def test_product_rule_boundaries_include_the_lag_margin(self, days, expected):
        """The 1-day lag margin shifts every boundary one day later."""
        assert codes(make_account(products={"jira-software": days}))["jira"] == expected

    def test_any_rule_uses_the_most_recent_product(self):
        """Active in Confluence yesterday means not inactive org-wide, though Jira is stale."""
        account = make_account(products={"jira-software": 300, "confluence": 1})
        assert codes(account) == {"jira": "act", "org": "skip:active"}

    def test_delete_after_grace(self):
        """Past threshold + delete_after_days the org rule says delete."""
        account = make_account(products={"jira-software": 180 + 60 + 2})
        assert codes(account)["org"] == "delete"

    def test_warn_deadline_gives_the_full_warning_period(self):
        """A warned account always gets at least warn_days_before days."""
        (jira, _org) = decide(make_account(products={"jira-software": 89}), POLICY, NOW)
        assert jira.verdict is Verdict.WARN
        assert jira.deadline == NOW + timedelta(days=14)

    def test_act_deadline_is_the_threshold_date(self):
        """For an account already past the threshold the deadline is when it crossed it."""
        (jira, _org) = decide(make_account(products={"jira-software": 100}), POLICY, NOW)
        assert jira.deadline == NOW - timedelta(days=100) + timedelta(days=91)

    def test_rule_for_a_product_the_account_lacks_yields_no_decision(self):
        """A Confluence-only user has no decision under the Jira rule."""
        assert set(codes(make_account(products={"confluence": 300}))) == {"org"}


class TestNeverActive:
    def test_never_active_is_measured_from_added_to_org(self):
        """An invitee who never logged in is as inactive as they are old, not infinitely."""
        recent = make_account(products={"jira-software": None}, added_days_ago=45)
        old = make_account(products={"jira-software": None}, added_days_ago=200)
        assert codes(recent)["jira"] == "skip:active"
        (jira, _org) = decide(old, POLICY, NOW)
        assert jira.code == "act"
        assert jira.measured_from == "added_to_org"
        assert jira.last_active is None

    def test_never_active_without_added_date_fails_closed(self):
        """No last-active and no added date: nothing to measure, so nothing is selected."""
        account = make_account(products={"jira-software": None}, added_days_ago=None)
        assert codes(account) == {"jira": "skip:last_active_unknown", "org": "skip:last_active_unknown"}

    def test_unknown_activity_fails_closed_for_every_rule(self):
        """When Atlassian could not tell us, unknown never means never-active."""
        account = make_account(products={}, activity_known=False)
        assert codes(account) == {"jira": "skip:last_active_unknown", "org": "skip:last_active_unknown"}


class TestNeverTouched:
    @pytest.mark.parametrize(
        ("kwargs", "reason"),
        [
            ({"account_type": AccountType.CUSTOMER}, SkipReason.CUSTOMER),
            ({"account_type": AccountType.APP}, SkipReason.APP_ACCOUNT),
            ({"account_type": AccountType.OTHER}, SkipReason.UNKNOWN_ACCOUNT_TYPE),
            ({"roles": ["atlassian/org-admin"]}, SkipReason.ADMIN),
            ({"roles": ["atlassian/site-admin"]}, SkipReason.ADMIN),
            ({"roles": ["atlassian/user-access-admin"]}, SkipReason.ADMIN),
            ({"email": "VIP@acme.example"}, SkipReason.PROTECTED),
            ({"account_id": "acc-7", "groups": ["break-glass"]}, SkipReason.PROTECTED),
            ({"management_source": ManagementSource.SYNCED}, SkipReason.SCIM_SYNCED),
            ({"added_days_ago": 29}, SkipReason.TOO_NEW),
            ({"membership_status": MembershipStatus.SUSPENDED}, SkipReason.NOT_BILLABLE),
            ({"account_status": AccountStatus.INACTIVE}, SkipReason.NOT_BILLABLE),
        ],
    )
    def test_skip_reasons(self, kwargs, reason):
        """Inactive for a year, yet left alone for the stated reason under every rule."""
        account = make_account(products={"jira-software": 365}, **kwargs)
        decisions = decide(account, POLICY, NOW)
        assert decisions
        assert {d.skip_reason for d in decisions} == {reason}
        assert all(d.verdict is Verdict.SKIP for d in decisions)
        assert all(d.over_threshold for d in decisions)

    def test_protection_by_account_id(self):
        """Protected account ids are matched exactly."""
        policy = parse_policy({**POLICY.to_mapping(), "protected": {"accounts": ["acc-9"]}})
        decisions = decide(make_account("acc-9", products={"jira-software": 365}), policy, NOW)
        assert {d.code for d in decisions} == {"skip:protected"}

    def test_unknown_product_keys_do_not_crash(self):
        """A product key nobody configured is carried along and counted."""
        account = make_account(products={"jira-product-discovery": 200})
        result = plan([account], POLICY, NOW)
        assert {d.code for d in result.decisions} == {"act"}
        assert result.summary.products["jira-product-discovery"].to_act == 1

    def test_naive_now_is_refused(self):
        """The planner refuses a naive datetime rather than guessing a timezone."""
        with pytest.raises(ValueError, match="timezone-aware"):
            decide(make_account(), POLICY, NOW.replace(tzinfo=None))


class TestPlan:
    def test_summary_counts_and_savings(self):
        """Savings count each freed seat once, even when two rules select the same account."""
        accounts = [
            make_account("a1", products={"jira-software": 300, "confluence": 300}),  # both rules act
            make_account("a2", products={"jira-software": 85}),  # warn
            make_account("a3", products={"jira-software": 300}, roles=["atlassian/org-admin"]),
            make_account("a4", products={"confluence": 5}),
            make_account("a5", products={"jira-software": 300}, management_source=ManagementSource.SYNCED),
        ]
        result = plan(accounts, POLICY, NOW)
        jira = result.summary.products["jira-software"]
        conf = result.summary.products["confluence"]
        assert (jira.billable_seats, jira.inactive, jira.to_warn, jira.to_act, jira.protected) == (4, 3, 1, 1, 1)
        assert jira.manage_in_idp == 1
        assert (conf.billable_seats, conf.to_act) == (2, 1)
        assert result.summary.monthly_savings == Decimal(14)
        assert result.summary.accounts == 5

    def test_accounts_of_one_shape_count_once_each(self):
        """Accounts that differ only in id and dates are tallied together and counted one by one."""
        accounts = [make_account(f"a{i}", products={"jira-software": 300 + i, "confluence": 10 + i}) for i in range(7)]
        accounts += [make_account(f"w{i}", products={"jira-software": 85}) for i in range(3)]
        summary = plan(accounts, POLICY, NOW).summary
        jira, conf = summary.products["jira-software"], summary.products["confluence"]
        assert (jira.billable_seats, jira.inactive, jira.to_act, jira.to_warn) == (10, 7, 7, 3)
        assert (conf.billable_seats, conf.to_act, conf.inactive) == (7, 0, 0)
        assert summary.decisions == {"act": 7, "warn": 3, "skip:active": 10}  # the org-wide rule: all recent
        assert summary.monthly_savings == jira.monthly_savings == 7 * POLICY.price("jira-software")
        assert (summary.accounts, summary.billable_accounts) == (10, 10)

    def test_decisions_sorted_and_hash_is_stable(self):
        """Same input gives the same sorted decisions and the same hash."""
        accounts = [make_account(f"a{i}", products={"jira-software": i * 20}) for i in range(10)]
        first = plan(accounts, POLICY, NOW)
        second = plan(list(reversed(accounts)), POLICY, NOW)
        assert first.decisions == second.decisions
        assert first.plan_hash == second.plan_hash
        assert [d.account_id for d in first.decisions] == sorted(d.account_id for d in first.decisions)

    def test_hash_changes_with_policy_or_accounts(self):
        """A different policy or a changed account gives a different hash."""
        accounts = [make_account("a1", products={"jira-software": 100})]
        base = plan(accounts, POLICY, NOW).plan_hash
        other_policy = parse_policy({**POLICY.to_mapping(), "new_account_grace_days": 31})
        assert plan(accounts, other_policy, NOW).plan_hash != base
        assert plan([make_account("a1", products={"jira-software": 50})], POLICY, NOW).plan_hash != base
