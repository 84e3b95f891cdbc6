"""The restore judge: every route, the order of its checks, and how rules match."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.engine import REMOVED_FROM_DIRECTORY
from core.lifecycle import Case, CaseState, Effect, Op
from core.model import Group, GroupId
from core.policy import Action, AutoApprove, KeepRules, RestoreRules
from core.restore_rules import RestoreVerdict, Route, domain_matches, judge_restore, matches, restorable
from tests.fakes import NOW, make_account


def case(state=CaseState.ACTIONED, product="jira-software", *, effect=..., closed_reason=None, rule="jira"):
    if effect is ...:
        op = Op.REMOVE_PRODUCT_ACCESS if product != "any" else Op.SUSPEND
        effect = Effect(op, ("g-jira-software-users",), None if product == "any" else product)
    action = Action.REMOVE_PRODUCT_ACCESS if product != "any" else Action.SUSPEND
    return Case(
        case_id=f"c-{state.value}-{product}",
        org_id="org-1",
        account_id="a1",
        rule=rule,
        product=product,
        action=action,
        state=state,
        opened_at=NOW,
        updated_at=NOW,
        effect=effect,
        closed_reason=closed_reason,
    )


def account(email="una@acme.example", groups=("engineering",)):
    acc = make_account("a1", groups=groups)
    return replace(acc, email=email)


def rules(*auto, **kw):
    return RestoreRules(auto_approve=tuple(auto), **kw)


def rule(name="staff", groups=(), domains=(), products=()):
    return AutoApprove(name, frozenset(groups), frozenset(domains), frozenset(products))


STAFF = rule(domains=["acme.example"])


def judge(acc=None, cases=None, rs=None, *, source="slack", recent=0):
    acc = account() if acc is None else acc
    cases = [case()] if cases is None else cases
    return judge_restore(acc, cases, rs or rules(STAFF), source=source, restored_recently=recent)


# -- restorable ----------------------------------------------------------------------------


def test_restorable_keeps_what_the_engine_can_undo():
    actioned = case(CaseState.ACTIONED)
    scheduled = case(CaseState.DELETION_SCHEDULED, "any")
    no_effect = case(CaseState.DELETION_SCHEDULED, "any", effect=None)
    others = [case(s) for s in (CaseState.WARNED, CaseState.KEPT, CaseState.DELETED, CaseState.RESTORED)]
    assert restorable([actioned, no_effect, *others, scheduled]) == (actioned, scheduled)
    assert restorable([]) == ()


# -- the route, check by check -------------------------------------------------------------


def test_a_source_not_in_the_policy_is_denied_first():
    verdict = judge(None, [], rules(STAFF, sources=frozenset({"slack"})), source="jsm")
    assert verdict == RestoreVerdict(Route.DENY, "requests from jsm are not accepted; contact your admins")


def test_an_unknown_account_is_denied():
    verdict = judge_restore(None, [case()], rules(STAFF), source="slack", restored_recently=0)
    assert verdict.route is Route.DENY
    assert "not in the latest directory scan" in verdict.reason
    assert verdict.rule is None


def test_nothing_removed_is_denied():
    verdict = judge(cases=[case(CaseState.RESTORED)])
    assert verdict.route is Route.DENY
    assert verdict.reason == "nothing to restore: jira-cleanup has not removed access for this account"


def test_a_warned_person_is_pointed_to_keep_not_restored():
    """A request while the warning is open restores nothing and keeps nothing: Keep is the way (with its approval)."""
    verdict = judge(cases=[case(CaseState.WARNED), case(CaseState.RESTORED)])
    assert verdict.route is Route.DENY
    assert verdict.reason.startswith("nothing to restore: your access has not been removed yet")
    assert "Keep my access" in verdict.reason


@pytest.mark.parametrize(
    ("gone", "words"),
    [
        (case(CaseState.DELETED, "any"), "grace period is over"),
        (case(CaseState.DELETED, "any", closed_reason=REMOVED_FROM_DIRECTORY), "removed from the directory"),
        (case(CaseState.DELETION_SCHEDULED, "any", effect=None), "removed from the directory"),
    ],
)
def test_deleted_accounts_are_denied_with_the_engines_reason(gone, words):
    verdict = judge(cases=[gone, case(CaseState.CLOSED)])
    assert verdict.route is Route.DENY
    assert words in verdict.reason
    assert "invite the person again" in verdict.reason


def test_the_same_refusal_is_given_once():
    twice = [case(CaseState.DELETED, "any"), replace(case(CaseState.DELETED, "any"), case_id="c-2")]
    assert judge(cases=twice).reason.count("grace period") == 1


def test_a_deny_group_denies_with_a_neutral_reason_naming_the_group_at_the_end():
    acc = account(groups=("engineering", "HR-Offboarded"))
    verdict = judge(acc, rs=rules(STAFF, deny_groups=frozenset({"hr-offboarded"})))
    assert verdict.route is Route.DENY
    assert verdict.reason.startswith("restoring this access needs your IT team")
    assert verdict.reason.endswith("(group HR-Offboarded)")


def test_several_deny_groups_are_all_named_and_ids_count_too():
    acc = replace(account(), groups=(Group(GroupId("gid-7"), "leavers"), Group(GroupId("g-x"), "hr-offboarded")))
    verdict = judge(acc, rs=rules(STAFF, deny_groups=frozenset({"hr-offboarded", "gid-7"})))
    assert verdict.route is Route.DENY
    assert verdict.reason.endswith("(groups hr-offboarded, leavers)")


def test_deny_groups_win_over_a_matching_rule_but_not_over_nothing_to_restore():
    rs = rules(STAFF, deny_groups=frozenset({"engineering"}))
    assert judge(rs=rs).route is Route.DENY
    assert "nothing to restore" in judge(cases=[], rs=rs).reason


def test_at_the_limit_an_admin_decides():
    rs = rules(STAFF, limit_max=2, limit_days=30)
    assert judge(rs=rs, recent=1).route is Route.AUTO
    verdict = judge(rs=rs, recent=2)
    assert verdict == RestoreVerdict(Route.ADMIN, "restore limit reached: 2 in the last 30 days")


def test_limit_zero_never_auto_approves():
    verdict = judge(rs=rules(STAFF, limit_max=0))
    assert verdict.route is Route.ADMIN
    assert "switched off" in verdict.reason


def test_a_matching_rule_auto_approves_and_is_named():
    verdict = judge()
    assert verdict == RestoreVerdict(Route.AUTO, "approved by restore rule staff", "staff")


def test_no_matching_rule_asks_an_admin():
    verdict = judge(rs=rules(rule(domains=["other.example"])))
    assert verdict == RestoreVerdict(Route.ADMIN, "no auto-approve rule matches")
    assert judge(rs=rules()).route is Route.ADMIN


def test_the_first_matching_rule_names_the_verdict():
    rs = rules(
        rule("sales", groups=["sales"]), rule("eng", groups=["engineering"]), rule("all", domains=["acme.example"])
    )
    assert judge(rs=rs).rule == "eng"


def test_a_negative_count_is_a_bug():
    with pytest.raises(ValueError, match="restored_recently"):
        judge(recent=-1)


# -- matching ------------------------------------------------------------------------------


def test_conditions_in_one_rule_are_anded():
    both = rule(groups=["engineering"], domains=["acme.example"], products=["jira-software"])
    assert judge(rs=rules(both)).route is Route.AUTO
    assert judge(account(groups=("sales",)), rs=rules(both)).route is Route.ADMIN
    assert judge(account(email="una@other.example"), rs=rules(both)).route is Route.ADMIN
    assert judge(cases=[case(product="confluence")], rs=rules(both)).route is Route.ADMIN


def test_values_within_a_condition_are_ored_and_groups_ignore_case():
    r = rule(groups=["contractors", "engineering"])
    assert matches(r, account(groups=("Engineering",)), frozenset())
    assert not matches(r, account(groups=()), frozenset())


def test_products_are_what_the_restorable_cases_give_back():
    r = rule(products=["confluence", "any"])
    assert judge(cases=[case(product="jira-software")], rs=rules(r)).route is Route.ADMIN
    assert judge(cases=[case(product="jira-software"), case(product="Confluence")], rs=rules(r)).route is Route.AUTO
    assert judge(cases=[case(CaseState.DELETION_SCHEDULED, "any")], rs=rules(r)).route is Route.AUTO
    # a product whose case cannot be undone does not count
    assert judge(cases=[case(), case(CaseState.DELETED, "confluence")], rs=rules(r)).route is Route.ADMIN


def test_a_hand_built_rule_without_conditions_matches_nothing():
    assert not matches(rule(), account(), frozenset({"jira-software"}))


@pytest.mark.parametrize(
    ("email", "pattern", "expected"),
    [
        ("una@acme.com", "acme.com", True),
        ("Una@ACME.Com", "acme.com", True),
        ("una@acme.com.", "acme.com", True),
        ("una@evil-acme.com", "acme.com", False),
        ("una@acme.com.evil", "acme.com", False),
        ("una@eu.acme.com", "acme.com", False),
        ("una@notacme.com", "acme.com", False),
        ("una@eu.acme.com", "*.acme.com", True),
        ("una@a.b.ACME.com", "*.acme.com", True),
        ("una@acme.com", "*.acme.com", False),
        ("una@evil-acme.com", "*.acme.com", False),
        ("una@eu.acme.com.evil", "*.acme.com", False),
        ("una@.acme.com", "*.acme.com", False),
        ("acme.com@evil.example", "acme.com", False),
        ("una@evil.example@acme.com", "acme.com", True),  # the domain is what follows the last @
        ("@acme.com", "acme.com", False),
        ("una@", "acme.com", False),
        ("acme.com", "acme.com", False),
        ("", "acme.com", False),
        (None, "acme.com", False),
    ],
)
def test_domain_matching(email, pattern, expected):
    assert domain_matches(email, pattern) is expected


def test_an_account_without_email_never_matches_a_domain_rule():
    assert judge(account(email=None)).route is Route.ADMIN
    assert judge(account(email=None), rs=rules(rule(groups=["engineering"]))).route is Route.AUTO


# -- properties ----------------------------------------------------------------------------

GROUPS = ["engineering", "sales", "hr-offboarded", "contractors"]
PRODUCTS = ["jira-software", "confluence", "any"]
STATES = list(CaseState)

rule_strategy = st.builds(
    rule,
    name=st.sampled_from(["r1", "r2", "r3"]),
    groups=st.lists(st.sampled_from(GROUPS), max_size=2),
    domains=st.lists(st.sampled_from(["acme.example", "*.acme.example", "other.example"]), max_size=2),
    products=st.lists(st.sampled_from(PRODUCTS), max_size=2),
)
rules_strategy = st.builds(
    lambda auto, sources, limit, deny: RestoreRules(
        sources=frozenset(sources), auto_approve=tuple(auto), limit_max=limit, deny_groups=frozenset(deny)
    ),
    st.lists(rule_strategy, max_size=3),
    st.lists(st.sampled_from(["slack", "teams", "email", "jsm"]), max_size=4),
    st.integers(min_value=0, max_value=3),
    st.lists(st.sampled_from(GROUPS), max_size=2),
)
account_strategy = st.builds(
    account,
    email=st.sampled_from([None, "una@acme.example", "una@eu.acme.example", "una@evil-acme.example"]),
    groups=st.lists(st.sampled_from(GROUPS), max_size=3, unique=True).map(tuple),
)
cases_strategy = st.lists(
    st.builds(lambda s, p: case(s, p), st.sampled_from(STATES), st.sampled_from(PRODUCTS)), max_size=3
)
source_strategy = st.sampled_from(["slack", "teams", "email", "jsm"])


@given(account_strategy, cases_strategy, rules_strategy, source_strategy, st.integers(0, 4), st.sampled_from(GROUPS))
def test_joining_a_deny_group_never_leads_to_auto(acc, cases, rs, source, recent, group):
    """Adding the account to a deny group makes every verdict a denial, never an auto-restore."""
    rs = replace(rs, deny_groups=rs.deny_groups | {group})
    joined = replace(acc, groups=(*acc.groups, Group(GroupId(f"g-new-{group}"), group.upper())))
    verdict = judge_restore(joined, cases, rs, source=source, restored_recently=recent)
    assert verdict.route is Route.DENY
    assert verdict.rule is None


@given(account_strategy, cases_strategy, rules_strategy, source_strategy, st.integers(0, 4), st.integers(0, 4))
def test_fewer_recent_restores_never_turn_auto_into_admin(acc, cases, rs, source, recent, fewer):
    """Lowering the recent-restore count keeps an auto-approval (with the same rule)."""
    before = judge_restore(acc, cases, rs, source=source, restored_recently=recent)
    after = judge_restore(acc, cases, rs, source=source, restored_recently=min(recent, fewer))
    if before.route is Route.AUTO:
        assert after == before
    assert (after.rule is not None) == (after.route is Route.AUTO)


def test_an_access_kept_past_approval_after_goes_to_the_admins_whatever_the_rules():
    """A restore after the action is a late keep: past keep.approval_after no restore rule approves it on its own."""

    def route(kept: int, keep: KeepRules, rs: RestoreRules | None = None) -> RestoreVerdict:
        return judge_restore(
            account(), [case()], rs or rules(STAFF), source="jsm", restored_recently=0, kept=kept, keep=keep
        )

    strict = KeepRules(approval_after=2)
    assert route(1, strict).route is Route.AUTO
    assert route(2, strict) == RestoreVerdict(
        Route.ADMIN, "this access was kept 2 times in 365 days: an admin must approve"
    )
    assert route(9, KeepRules()).route is Route.AUTO  # approval_after unset: keeps never need an admin
    assert route(2, strict, rules(STAFF, deny_groups=frozenset({"engineering"}))).route is Route.DENY
