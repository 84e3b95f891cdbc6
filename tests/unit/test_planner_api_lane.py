"""The review lane for accounts used through the API: token evidence comes in as data."""

from datetime import timedelta

from core.model import ApiUse
from core.planner import PlanBuilder, SkipReason, Verdict
from tests.fakes import NOW, make_account
from tests.unit.test_planner import POLICY

DORMANT = make_account(products={"jira-software": 200})


def judged(api: ApiUse | None) -> dict[str, str]:
    builder = PlanBuilder(POLICY, NOW)
    return {d.rule: d.code for d in builder.add(DORMANT, api=api)}


def test_a_token_used_within_the_threshold_goes_to_review_with_its_evidence():
    builder = PlanBuilder(POLICY, NOW)
    decisions = builder.add(DORMANT, api=ApiUse(known=True, label="ci-deploy", last_access=NOW - timedelta(days=3)))
    assert {d.code for d in decisions} == {"skip:used_through_api"}
    assert all(d.verdict is Verdict.SKIP and d.deadline is None and d.over_threshold for d in decisions)
    assert all("review: used through the API" in d.detail and "'ci-deploy'" in d.detail for d in decisions)
    summary = builder.summary
    assert summary.api_review == 1
    assert summary.decisions == {"skip:used_through_api": 2}
    assert summary.products["jira-software"].api_review == 1
    assert summary.products["jira-software"].to_act == 0


def test_each_rule_judges_the_token_against_its_own_threshold():
    """Used 120 days ago: recent for the 180-day rule, not for the 90-day rule."""
    assert judged(ApiUse(known=True, label="x", last_access=NOW - timedelta(days=120))) == {
        "jira": "act",
        "org": "skip:used_through_api",
    }


def test_old_or_never_used_tokens_change_nothing():
    plain = judged(None)
    assert judged(ApiUse(known=True, label="old", last_access=NOW - timedelta(days=400))) == plain
    assert judged(ApiUse(known=True)) == plain == {"jira": "act", "org": "act"}


def test_unreadable_tokens_fail_closed_and_are_counted():
    builder = PlanBuilder(POLICY, NOW)
    decisions = builder.add(DORMANT, api=ApiUse.unknown("api-tokens: HTTP 403"))
    assert {d.skip_reason for d in decisions} == {SkipReason.API_USE_UNKNOWN}
    assert all("HTTP 403" in d.detail for d in decisions)
    assert builder.summary.api_unknown == 1
    assert builder.summary.products["jira-software"].unknown == 1


def test_skips_are_never_changed_by_token_evidence():
    active = make_account(products={"jira-software": 2})
    builder = PlanBuilder(POLICY, NOW)
    assert [d.code for d in builder.add(active, api=ApiUse.unknown("x"))] == ["skip:active", "skip:active"]


def test_the_latest_token_use_wins():
    use = ApiUse.latest([("a", NOW - timedelta(days=9)), ("b", None), ("c", NOW - timedelta(days=1))])
    assert (use.label, use.last_access) == ("c", NOW - timedelta(days=1))
    assert ApiUse.latest([("b", None)]) == ApiUse(known=True)


async def test_only_managed_candidates_have_their_tokens_read() -> None:
    """Atlassian refuses an unmanaged account's tokens to every org: those are planned on page views alone."""
    from core.clock import FixedClock
    from core.model import Claim
    from core.usecases import scan_and_plan
    from tests.fakes import FakeDirectory, FakeStore

    class TokenDirectory(FakeDirectory):
        def __init__(self, accounts) -> None:
            super().__init__(accounts)
            self.asked: list[str] = []

        async def api_use(self, account_id):
            self.asked.append(account_id)
            return ApiUse.unknown("403 Forbidden")

    managed = make_account("m1", products={"jira-software": 200})
    unmanaged = make_account("u1", products={"jira-software": 200}, claim=Claim.UNMANAGED)
    directory = TokenDirectory([managed, unmanaged])
    store = FakeStore()
    result = await scan_and_plan(directory, store, POLICY, FixedClock(NOW))
    assert directory.asked == ["m1"]
    assert result.api_reads == 1
    decided = {(d.account_id, d.verdict, d.skip_reason) for d in store.iter_decisions(result.run_id)}
    assert all(verdict is not Verdict.SKIP for account, verdict, _ in decided if account == "u1")
    assert any(account == "u1" for account, _, _ in decided)
    assert all(reason is SkipReason.API_USE_UNKNOWN for account, _, reason in decided if account == "m1")
