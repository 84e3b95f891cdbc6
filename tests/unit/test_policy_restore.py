"""The policy's ``restore:`` section and ``lifecycle.delivery_order``: defaults, strict errors, round trip."""

import pytest

from core.errors import PolicyError
from core.policy import AutoApprove, RestoreRules, parse_policy

BASE = {"rules": [{"name": "org", "product": "any", "inactive_days": 180, "action": "suspend"}]}

RESTORE = {
    "sources": ["slack", "teams", "email"],
    "auto_approve": [
        {
            "name": "engineering",
            "groups": ["Engineering", "contractors"],
            "email_domains": ["ACME.com", "*.acme.com"],
            "products": ["Jira-Software"],
        },
        {"name": "confluence-readers", "products": ["confluence"]},
    ],
    "limit": {"max": 1, "per_days": 14},
    "deny_groups": ["HR-Offboarded"],
    "requests_per_day": 5,
}


def parse(**top):
    return parse_policy({**BASE, **top}, "policy.yml")


def test_defaults_without_a_restore_section():
    policy = parse()
    assert policy.restore == RestoreRules()
    assert policy.restore.sources == {"slack", "teams", "email", "jsm"}
    assert (policy.restore.limit_max, policy.restore.limit_days, policy.restore.requests_per_day) == (2, 30, 3)
    assert policy.restore.auto_approve == ()
    assert policy.restore.deny_groups == frozenset()
    assert policy.lifecycle.delivery_order == ("slack", "teams", "email")
    assert parse(restore=None).restore == RestoreRules()
    assert parse(restore={"auto_approve": None, "limit": None, "deny_groups": None}).restore == RestoreRules()


def test_a_full_restore_section_parses_in_lower_case():
    rs = parse(restore=RESTORE).restore
    assert rs.sources == {"slack", "teams", "email"}
    assert rs.auto_approve == (
        AutoApprove(
            "engineering",
            frozenset({"engineering", "contractors"}),
            frozenset({"acme.com", "*.acme.com"}),
            frozenset({"jira-software"}),
        ),
        AutoApprove("confluence-readers", products=frozenset({"confluence"})),
    )
    assert (rs.limit_max, rs.limit_days) == (1, 14)
    assert rs.deny_groups == {"hr-offboarded"}
    assert rs.requests_per_day == 5


def test_limit_zero_and_no_sources_are_allowed():
    rs = parse(restore={"limit": {"max": 0}, "sources": []}).restore
    assert (rs.limit_max, rs.limit_days) == (0, 30)
    assert rs.sources == frozenset()


def test_delivery_order_keeps_its_order():
    assert parse(lifecycle={"delivery_order": ["email"]}).lifecycle.delivery_order == ("email",)
    order = parse(lifecycle={"delivery_order": ["teams", "email", "slack"]}).lifecycle.delivery_order
    assert order == ("teams", "email", "slack")


@pytest.mark.parametrize(
    ("restore", "field", "value"),
    [
        ("yes", "restore", "'str'"),
        ({"source": ["slack"]}, "restore.source", None),
        ({"sources": "slack"}, "restore.sources", "'slack'"),
        ({"sources": ["slack", "email", "discord"]}, "restore.sources[2]", "'discord'"),
        ({"sources": ["Slack"]}, "restore.sources[0]", "'Slack'"),
        ({"sources": [3]}, "restore.sources[0]", "3"),
        ({"auto_approve": {"name": "x"}}, "restore.auto_approve", "{'name': 'x'}"),
        ({"auto_approve": ["x"]}, "restore.auto_approve[0]", "'str'"),
        ({"auto_approve": [{"groups": ["a"]}]}, "restore.auto_approve[0].name", None),
        ({"auto_approve": [{"name": " ", "groups": ["a"]}]}, "restore.auto_approve[0].name", "' '"),
        ({"auto_approve": [{"name": "a", "group": ["a"]}]}, "restore.auto_approve[0].group", None),
        ({"auto_approve": [{"name": "a"}]}, "restore.auto_approve[0]", None),
        ({"auto_approve": [{"name": "a", "groups": []}]}, "restore.auto_approve[0].groups", "[]"),
        ({"auto_approve": [{"name": "a", "groups": "eng"}]}, "restore.auto_approve[0].groups", "'eng'"),
        ({"auto_approve": [{"name": "a", "products": [""]}]}, "restore.auto_approve[0].products[0]", "''"),
        (
            {"auto_approve": [{"name": "a", "groups": ["g"]}, {"name": "b", "email_domains": ["acme.com", "@x.com"]}]},
            "restore.auto_approve[1].email_domains[1]",
            "'@x.com'",
        ),
        (
            {"auto_approve": [{"name": "a", "groups": ["g"]}, {"name": "a", "products": ["confluence"]}]},
            "restore.auto_approve[1].name",
            "'a'",
        ),
        ({"limit": {"max": -1}}, "restore.limit.max", "-1"),
        ({"limit": {"max": True}}, "restore.limit.max", "True"),
        ({"limit": {"per_days": 0}}, "restore.limit.per_days", "0"),
        ({"limit": {"per_day": 7}}, "restore.limit.per_day", None),
        ({"limit": 2}, "restore.limit", "'int'"),
        ({"deny_groups": "hr"}, "restore.deny_groups", "'hr'"),
        ({"deny_groups": ["hr", ""]}, "restore.deny_groups[1]", "''"),
        ({"requests_per_day": 0}, "restore.requests_per_day", "0"),
        ({"requests_per_day": "3"}, "restore.requests_per_day", "'3'"),
    ],
)
def test_bad_restore_values_name_the_field_and_the_value(restore, field, value):
    with pytest.raises(PolicyError) as info:
        parse(restore=restore)
    err = info.value
    assert err.field == field
    assert str(err).startswith(f"policy.yml: {field}: ")
    if value is not None:
        assert f"(got {value})" in str(err)


BAD_DOMAINS = [
    "@acme.com",
    "una@acme.com",
    "https://acme.com",
    "acme",
    "*",
    "*.",
    "*acme.com",
    "a.*.com",
    "*.*.acme.com",
    "acme.com.",
    ".acme.com",
    "acme..com",
    "-acme.com",
    "acme-.com",
    "ac me.com",
]


@pytest.mark.parametrize("domain", BAD_DOMAINS)
def test_email_domains_must_be_domains_or_subdomain_wildcards(domain):
    with pytest.raises(PolicyError) as info:
        parse(restore={"auto_approve": [{"name": "a", "email_domains": [domain]}]})
    assert info.value.field == "restore.auto_approve[0].email_domains[0]"


@pytest.mark.parametrize(
    "domain", ["acme.com", "ACME.COM", " acme.com ", "*.acme.com", "eu.acme.co.uk", "xn--bcher-kva.de"]
)
def test_good_email_domains(domain):
    rs = parse(restore={"auto_approve": [{"name": "a", "email_domains": [domain]}]}).restore
    assert rs.auto_approve[0].email_domains == {domain.strip().lower()}


@pytest.mark.parametrize(
    ("order", "field", "value"),
    [
        ([], "lifecycle.delivery_order", "[]"),
        ("slack", "lifecycle.delivery_order", "'slack'"),
        (None, "lifecycle.delivery_order", None),
        (["slack", "jsm"], "lifecycle.delivery_order[1]", "'jsm'"),
        (["slack", "email", "slack"], "lifecycle.delivery_order[2]", "'slack'"),
        (["Email"], "lifecycle.delivery_order[0]", "'Email'"),
    ],
)
def test_bad_delivery_orders_name_the_field_and_the_value(order, field, value):
    with pytest.raises(PolicyError) as info:
        parse(lifecycle={"delivery_order": order})
    assert info.value.field == field
    if value is not None:
        assert f"(got {value})" in str(info.value)


def test_round_trip_through_mapping():
    policy = parse(restore=RESTORE, lifecycle={"delivery_order": ["email", "slack"]})
    mapping = policy.to_mapping()
    assert parse_policy(mapping) == policy
    assert mapping["lifecycle"]["delivery_order"] == ["email", "slack"]
    assert mapping["restore"]["auto_approve"][1] == {"name": "confluence-readers", "products": ["confluence"]}
    assert parse_policy(parse().to_mapping()) == parse()


def test_hash_ignores_the_order_of_sets_but_not_of_rules_or_channels():
    base = parse(restore=RESTORE)
    shuffled = {
        **RESTORE,
        "sources": ["email", "slack", "teams"],
        "auto_approve": [
            {
                "name": "engineering",
                "products": ["jira-software"],
                "email_domains": ["*.acme.com", "acme.com"],
                "groups": ["contractors", "engineering"],
            },
            RESTORE["auto_approve"][1],
        ],
    }
    assert parse(restore=shuffled).policy_hash == base.policy_hash
    swapped = {**RESTORE, "auto_approve": list(reversed(RESTORE["auto_approve"]))}
    assert parse(restore=swapped).policy_hash != base.policy_hash  # the first match names the verdict
    assert parse(restore={**RESTORE, "requests_per_day": 4}).policy_hash != base.policy_hash
    orders = {parse(lifecycle={"delivery_order": o}).policy_hash for o in (["slack", "email"], ["email", "slack"])}
    assert len(orders) == 2
