"""API-token evidence kept between scans: reused only where a newer read could not change the outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.clock import FixedClock
from core.lifecycle import Case, CaseState
from core.model import ApiUse
from core.usecases import ScanResult, scan_and_plan
from tests.fakes import NOW, FakeDirectory, FakeStore, make_account
from tests.unit.test_planner import POLICY

JIRA = replace(POLICY, rules=(POLICY.rules[0],))  # one rule: 90 days, 14 days' warning
DORMANT = make_account("dormant", products={"jira-software": 200})
DAY = timedelta(days=1)


class TokenDirectory(FakeDirectory):
    """A directory whose accounts' API tokens say what ``uses`` says, counting every read."""

    def __init__(self, accounts, uses: dict[str, ApiUse]) -> None:
        super().__init__(accounts)
        self.uses = uses
        self.asked: list[str] = []

    async def api_use(self, account_id):
        self.asked.append(account_id)
        return self.uses.get(account_id, ApiUse(known=True))


class Cases:
    """The open cases of the org, as the lifecycle store would give them."""

    def __init__(self) -> None:
        self.cases: dict[tuple[str, str], Case] = {}

    def warned(self, account_id: str, *, delivered: bool = True, due_in: timedelta = 10 * DAY, at=NOW) -> None:
        self.cases[(account_id, "jira")] = Case(
            case_id=f"case-{account_id}",
            org_id="org-1",
            account_id=account_id,
            rule="jira",
            product="jira-software",
            action=JIRA.rules[0].action,
            state=CaseState.WARNED,
            opened_at=at,
            updated_at=at,
            deadline=at + due_in,
            delivered_at=at if delivered else None,
        )

    def open_cases(self, org_id: str):
        return dict(self.cases)


class Scanner:
    """Scans the same org on successive days with one store, so evidence is kept between scans."""

    def __init__(self, accounts, uses=None, policy=JIRA) -> None:
        self.directory = TokenDirectory(accounts, uses or {})
        self.store = FakeStore()
        self.clock = FixedClock(NOW)
        self.cases = Cases()
        self.policy = policy

    async def scan(self) -> tuple[ScanResult, list[str], dict[str, set[str]]]:
        self.directory.asked.clear()
        result = await scan_and_plan(self.directory, self.store, self.policy, self.clock, cases=self.cases)
        codes: dict[str, set[str]] = {}
        for d in self.store.iter_decisions(result.run_id):
            codes.setdefault(d.account_id, set()).add(d.code)
        return result, list(self.directory.asked), codes

    def next_day(self, days: int = 1) -> None:
        self.clock.advance(days * DAY)


async def test_a_first_warning_reads_the_tokens_on_every_scan_until_it_is_delivered() -> None:
    scanner = Scanner([DORMANT])
    first, asked, _ = await scanner.scan()
    assert (asked, first.api_reads, first.api_reused) == (["dormant"], 1, 0)
    scanner.next_day()
    _, asked, _ = await scanner.scan()
    assert asked == ["dormant"], "no case yet: the warning is still to be decided, on fresh evidence"
    scanner.cases.warned("dormant", delivered=False)
    _, asked, _ = await scanner.scan()
    assert asked == ["dormant"], "a warning not delivered yet is still a first warning"


async def test_a_delivered_warning_not_yet_due_reuses_the_evidence_it_was_decided_on() -> None:
    scanner = Scanner([DORMANT])
    await scanner.scan()
    scanner.cases.warned("dormant", due_in=14 * DAY)
    for _ in range(5):
        scanner.next_day()
        result, asked, codes = await scanner.scan()
        assert (asked, result.api_reads, result.api_reused) == ([], 0, 1)
        assert codes["dormant"] == {"act"}


async def test_a_delivered_warning_reuses_its_evidence_up_to_and_past_its_deadline() -> None:
    """The scan never decides an action: the executor's final check reads the tokens before each write."""
    scanner = Scanner([DORMANT])
    await scanner.scan()
    scanner.cases.warned("dormant", due_in=2 * DAY)
    for _ in range(4):
        scanner.next_day()
        _, asked, codes = await scanner.scan()
        assert asked == []
        assert codes["dormant"] == {"act"}


async def test_evidence_that_keeps_an_account_in_review_is_reused_whatever_its_case() -> None:
    used = ApiUse(known=True, label="ci-deploy", last_access=NOW - 3 * DAY)
    scanner = Scanner([DORMANT], {"dormant": used})
    _, asked, codes = await scanner.scan()
    assert asked == ["dormant"]
    assert codes["dormant"] == {"skip:used_through_api"}
    for _ in range(7):
        scanner.next_day()
        result, asked, codes = await scanner.scan()
        assert (asked, result.api_reused) == ([], 1)
        assert codes["dormant"] == {"skip:used_through_api"}
    scanner.next_day()
    _, asked, _ = await scanner.scan()
    assert asked == ["dormant"], "evidence older than lifecycle.api_token_recheck_days is read again"


async def test_evidence_that_ages_out_of_review_is_read_again_before_a_warning() -> None:
    """Used 88 days ago on a 90-day rule: in review now, a warning candidate in three days — read then."""
    used = ApiUse(known=True, label="old", last_access=NOW - 88 * DAY)
    scanner = Scanner([DORMANT], {"dormant": used})
    await scanner.scan()
    scanner.next_day()
    _, asked, _ = await scanner.scan()
    assert asked == []
    scanner.next_day(2)
    _, asked, codes = await scanner.scan()
    assert asked == ["dormant"]
    assert codes["dormant"] == {"act"}


async def test_unreadable_tokens_are_never_kept_and_are_read_on_every_scan() -> None:
    scanner = Scanner([DORMANT], {"dormant": ApiUse.unknown("api-tokens: HTTP 503")})
    for _ in range(3):
        _, asked, codes = await scanner.scan()
        assert asked == ["dormant"]
        assert codes["dormant"] == {"skip:api_use_unknown"}
        scanner.cases.warned("dormant")
        scanner.next_day()
    assert scanner.store.evidence == {}


@pytest.mark.parametrize("days", [0, 3])
async def test_the_policy_sets_how_long_evidence_is_reused(days: int) -> None:
    policy = replace(JIRA, lifecycle=replace(JIRA.lifecycle, api_token_recheck_days=days))
    scanner = Scanner([DORMANT], {"dormant": ApiUse(known=True, label="ci", last_access=NOW)}, policy)
    reads = []
    for _ in range(5):
        _, asked, _ = await scanner.scan()
        reads.append(len(asked))
        scanner.next_day()
    assert reads == ([1, 1, 1, 1, 1] if days == 0 else [1, 0, 0, 0, 1])


async def test_a_scan_without_cases_reuses_only_review_evidence() -> None:
    """The preview (no lifecycle store) cannot know which warnings are delivered: it reads the rest."""
    used = make_account("used", products={"jira-software": 200})
    scanner = Scanner([DORMANT, used], {"used": ApiUse(known=True, label="ci", last_access=NOW)})
    scanner.cases.warned("dormant")
    await scanner.scan()
    scanner.next_day()
    result = await scan_and_plan(scanner.directory, scanner.store, JIRA, scanner.clock)
    assert scanner.directory.asked == ["dormant", "used", "dormant"]
    assert (result.api_reads, result.api_reused) == (1, 1)
