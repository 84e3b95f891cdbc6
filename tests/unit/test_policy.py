"""Policy validation: good policies parse, bad ones name the field and the value."""

from decimal import Decimal

import pytest

from core.errors import PolicyError
from core.policy import Action, Mode, parse_policy

GOOD = {
    "mode": "dry_run",
    "rules": [
        {"product": "jira-software", "inactive_days": 90, "action": "remove_product_access", "warn_days_before": 14},
        {"name": "org-wide", "product": "any", "inactive_days": 180, "action": "suspend", "delete_after_days": 30},
    ],
    "protected": {"accounts": ["CEO@Acme.example", "acc-42"], "groups": ["break-glass"]},
    "new_account_grace_days": 30,
    "last_active_lag_days": 1,
    "prices": {"jira-software": 8.6, "confluence": "6.05"},
}


class TestParsePolicy:
    def test_good_policy_parses_with_defaults_filled(self):
        """A valid mapping becomes a Policy; omitted names and fields get their defaults."""
        policy = parse_policy(GOOD, "policy.yml")
        assert policy.mode is Mode.DRY_RUN
        assert policy.rules[0].name == "jira-software-90d-remove_product_access"
        assert policy.rules[1].action is Action.SUSPEND
        assert policy.rules[1].warn_days_before == 14
        assert policy.protected.accounts == {"ceo@acme.example", "acc-42"}
        assert policy.price("confluence") == Decimal("6.05")
        assert policy.price("unknown-product") == Decimal(0)

    def test_hash_is_stable_and_sensitive(self):
        """Equal policies hash equal; any change changes the hash."""
        a = parse_policy(GOOD)
        b = parse_policy(dict(GOOD))
        changed = dict(GOOD, last_active_lag_days=2)
        assert a.policy_hash == b.policy_hash
        assert parse_policy(changed).policy_hash != a.policy_hash

    def test_round_trip_through_mapping(self):
        """to_mapping() output parses back to the same policy."""
        policy = parse_policy(GOOD)
        assert parse_policy(policy.to_mapping()) == policy

    @pytest.mark.parametrize(
        ("patch", "field", "value"),
        [
            ({"rules": []}, "rules", "[]"),
            ({"mode": "yolo"}, "mode", "'yolo'"),
            (
                {"rules": [{"product": "confluence", "inactive_days": -5, "action": "remove_product_access"}]},
                "rules[0].inactive_days",
                "-5",
            ),
            (
                {"rules": [{"product": "confluence", "inactive_days": "ninety", "action": "remove_product_access"}]},
                "rules[0].inactive_days",
                "'ninety'",
            ),
            (
                {"rules": [{"product": "confluence", "inactive_days": 90, "action": "nuke"}]},
                "rules[0].action",
                "'nuke'",
            ),
            (
                {"rules": [{"product": "confluence", "inactive_days": 90, "action": "suspend"}]},
                "rules[0].action",
                "'suspend'",
            ),
            (
                {"rules": [{"product": "any", "inactive_days": 90, "action": "remove_product_access"}]},
                "rules[0].action",
                "'remove_product_access'",
            ),
            (
                {"rules": [{"product": "any", "inactive_days": 10, "action": "suspend", "warn_days_before": 10}]},
                "rules[0].warn_days_before",
                "10",
            ),
            (
                {"rules": [{"product": "any", "inactive_days": 90, "action": "suspend", "delete_after_days": 0}]},
                "rules[0].delete_after_days",
                "0",
            ),
            (
                {"rules": [{"product": "any", "inactive_days": 90, "action": "suspend", "inactve": 3}]},
                "rules[0].inactve",
                None,
            ),
            ({"prices": {"confluence": -1}}, "prices.confluence", "-1"),
            ({"prices": {"confluence": "free"}}, "prices.confluence", "'free'"),
            ({"protected": {"accounts": "bob"}}, "protected.accounts", "'bob'"),
            ({"protected": {"groups": [""]}}, "protected.groups[0]", "''"),
            ({"new_account_grace_days": True}, "new_account_grace_days", "True"),
            ({"currency": "dollars"}, "currency", "'dollars'"),
            ({"version": 2}, "version", "2"),
            ({"schedule": "daily"}, "schedule", None),
        ],
    )
    def test_bad_values_name_source_field_and_value(self, patch, field, value):
        """Each invalid field is reported with the file, the field path and the bad value."""
        with pytest.raises(PolicyError) as info:
            parse_policy({**GOOD, **patch}, "policy.yml")
        err = info.value
        assert err.field == field
        assert str(err).startswith(f"policy.yml: {field}: ")
        if value is not None:
            assert f"(got {value})" in str(err)

    def test_duplicate_rule_names_are_refused(self):
        """Two rules with one name would make decisions ambiguous."""
        rule = {"name": "r", "product": "any", "inactive_days": 90, "action": "suspend"}
        with pytest.raises(PolicyError, match=r"rules\[1\]\.name: duplicate rule name"):
            parse_policy({"rules": [rule, rule]})

    def test_non_mapping_is_refused(self):
        """A YAML list or scalar at the top is not a policy."""
        with pytest.raises(PolicyError, match="must be a mapping"):
            parse_policy(["rules"], "p.yml")


def test_keys_added_later_round_trip_and_change_the_hash_only_when_used():
    """digest, keep.review_after / approval_after and api_token_recheck_days are part of the policy's data."""
    base = {"rules": [{"name": "org", "product": "any", "inactive_days": 90, "action": "suspend"}]}
    plain = parse_policy(base)
    used = parse_policy(
        {
            **base,
            "lifecycle": {
                "digest": "0 8 * * 1",
                "keep": {"review_after": 3, "approval_after": 2},
                "api_token_recheck_days": 0,
            },
        }
    )
    assert parse_policy(used.to_mapping()) == used
    assert "api_token_recheck_days" not in plain.to_mapping()["lifecycle"]
    assert plain.lifecycle.api_token_recheck_days == 7
    for change in (
        {"digest": "0 8 * * 1"},
        {"keep": {"review_after": 3}},
        {"keep": {"approval_after": 2}},
        {"api_token_recheck_days": 0},
    ):
        assert parse_policy({**base, "lifecycle": change}).policy_hash != plain.policy_hash, change
