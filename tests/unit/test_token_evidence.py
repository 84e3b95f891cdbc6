"""API-token evidence kept between scans: reused only where a newer read could not change the outcome."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import FixedClock
from core.lifecycle import Case, CaseState
from core.model import ApiUse
from core.token_evidence import RECHECK_EPOCH, recheck_due, recheck_phase
from core.usecases import ScanResult, scan_and_plan
from tests.fakes import NOW, FakeDirectory, FakeStore, make_account
from tests.unit.test_planner import POLICY

JIRA = replace(POLICY, rules=(POLICY.rules[0],))  # one rule: 90 days, 14 days' warning
DORMANT = make_account("dormant", products={"jira-software": 200})
DAY = timedelta(days=1)
WEEK = 7 * DAY


def recheck_point(account_id: str, window: timedelta = WEEK) -> datetime:
    """The account's first recheck point at or after NOW: evidence read then is kept for the whole window."""
    return recheck_due(account_id, NOW - timedelta(microseconds=1), window)


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

    def __init__(self, accounts, uses=None, policy=JIRA, start=NOW) -> None:
        self.directory = TokenDirectory(accounts, uses or {})
        self.store = FakeStore()
        self.clock = FixedClock(start)
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
    scanner = Scanner([DORMANT], start=recheck_point("dormant"))  # read at its recheck point: kept a full week
    await scanner.scan()
    scanner.cases.warned("dormant", due_in=14 * DAY, at=scanner.clock.now())
    for _ in range(5):
        scanner.next_day()
        result, asked, codes = await scanner.scan()
        assert (asked, result.api_reads, result.api_reused) == ([], 0, 1)
        assert codes["dormant"] == {"act"}


async def test_a_delivered_warning_reuses_its_evidence_up_to_and_past_its_deadline() -> None:
    """The scan never decides an action: the executor's final check reads the tokens before each write."""
    scanner = Scanner([DORMANT], start=recheck_point("dormant"))
    await scanner.scan()
    scanner.cases.warned("dormant", due_in=2 * DAY, at=scanner.clock.now())
    for _ in range(4):
        scanner.next_day()
        _, asked, codes = await scanner.scan()
        assert asked == []
        assert codes["dormant"] == {"act"}


async def test_evidence_that_keeps_an_account_in_review_is_reused_whatever_its_case() -> None:
    used = ApiUse(known=True, label="ci-deploy", last_access=NOW - 3 * DAY)
    scanner = Scanner([DORMANT], {"dormant": used}, start=recheck_point("dormant"))
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


async def test_evidence_read_between_recheck_points_is_read_again_at_the_next_one() -> None:
    """Read at NOW, "dormant" falls due at its own point of the week (4 days 17 h later), not a week later."""
    used = ApiUse(known=True, label="ci-deploy", last_access=NOW - 3 * DAY)
    scanner = Scanner([DORMANT], {"dormant": used})
    due = recheck_due("dormant", NOW, WEEK)
    assert NOW + 4 * DAY < due < NOW + 5 * DAY
    reads = []
    for _ in range(13):
        _, asked, _ = await scanner.scan()
        reads.append(len(asked))
        scanner.next_day()
    assert reads == [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1], "day 5 (its point), then every 7 days"


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
    start = recheck_point("dormant", days * DAY) if days else NOW
    scanner = Scanner([DORMANT], {"dormant": ApiUse(known=True, label="ci", last_access=NOW)}, policy, start)
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


# Where each account's re-read falls in the window (core.token_evidence.recheck_due).


def documented_phase(account_id: str, window: timedelta) -> timedelta:
    """The rule the module documents, computed here on its own: SHA-256, first 8 bytes, modulo the window."""
    digest = hashlib.sha256(account_id.encode("utf-8")).digest()
    microseconds = int.from_bytes(digest[:8], "big") % (
        (window.days * 86_400 + window.seconds) * 1_000_000 + window.microseconds
    )
    return timedelta(microseconds=microseconds)


@given(
    account_id=st.text(min_size=1, max_size=40),
    read_at=st.timedeltas(min_value=-40_000 * DAY, max_value=40_000 * DAY).map(lambda offset: NOW + offset),
    window=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
)
def test_evidence_is_never_kept_past_the_window_whatever_the_phase(
    account_id: str, read_at: datetime, window: timedelta
) -> None:
    due = recheck_due(account_id, read_at, window)
    assert read_at < due <= read_at + window
    assert (due - RECHECK_EPOCH - recheck_phase(account_id, window)) % window == timedelta(0), "one of its points"


@pytest.mark.parametrize("days", [1, 3, 7, 30])
def test_every_phase_of_the_window_keeps_evidence_at_most_the_window(days: int) -> None:
    """Read at every hour of the window, for accounts spread over every phase: reused no longer than the window."""
    window = days * DAY
    for n in range(200):
        account_id = f"acc-{n}"
        for hour in range(0, days * 24, 5):
            read_at = NOW + timedelta(hours=hour)
            due = recheck_due(account_id, read_at, window)
            assert timedelta(0) < due - read_at <= window
            assert recheck_due(account_id, due, window) == due + window, "from then on, one read per window"


def test_after_a_full_read_the_rereads_spread_evenly_over_the_days_of_the_window() -> None:
    """7,000 accounts all read on one daily scan: each later day re-reads about a seventh of them."""
    ids = [f"5b10ac8d82e05b22cc7d{n:04x}" for n in range(7000)]
    first_reread: Counter[int] = Counter()
    for account_id in ids:
        due = recheck_due(account_id, NOW, WEEK)
        day = next(d for d in range(1, 30) if NOW + d * DAY > due)  # the first daily scan past the point
        first_reread[day] += 1
        again = recheck_due(account_id, NOW + day * DAY, WEEK)
        assert NOW + (day + 6) * DAY <= again < NOW + (day + 7) * DAY, "then on the same day of every week"
    assert sorted(first_reread) == [1, 2, 3, 4, 5, 6, 7]
    assert all(850 <= first_reread[day] <= 1150 for day in range(1, 8)), first_reread  # 1,000 each, +-5 sigma


def test_the_phase_is_the_documented_hash_and_the_same_in_every_process() -> None:
    for account_id in ("dormant", "5b10ac8d82e05b22cc7d4ef5", "qm:8c1e-ü"):
        for window in (DAY, WEEK, 30 * DAY, timedelta(hours=5)):
            assert recheck_phase(account_id, window) == documented_phase(account_id, window)
            assert recheck_phase(account_id, window) == recheck_phase(account_id, window)
    assert recheck_phase("dormant", WEEK) == timedelta(days=3, seconds=18023, microseconds=878185)
    code = "from datetime import timedelta; from core.token_evidence import recheck_phase; "
    code += "print(recheck_phase('dormant', timedelta(days=7)) // timedelta(microseconds=1))"
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        )
        assert int(other.stdout) == recheck_phase("dormant", WEEK) // timedelta(microseconds=1)


def test_a_window_of_no_length_has_no_phase() -> None:
    with pytest.raises(ValueError, match="positive"):
        recheck_phase("dormant", timedelta(0))


async def test_scans_reread_each_account_at_its_own_point_never_later_than_the_window() -> None:
    """140 accounts kept in review, scanned daily: read all on day 0, then each once a week on its own day."""
    used = ApiUse(known=True, label="ci", last_access=NOW)
    accounts = [make_account(f"svc-{n}", products={"jira-software": 200}) for n in range(140)]
    scanner = Scanner(accounts, {a.account_id: used for a in accounts})
    last_read: dict[str, datetime] = {}
    per_day = []
    for _ in range(15):
        now = scanner.clock.now()
        _, asked, codes = await scanner.scan()
        per_day.append(len(asked))
        for account in accounts:
            aid = account.account_id
            assert codes[aid] == {"skip:used_through_api"}
            if aid in asked:
                assert aid not in last_read or now > recheck_due(aid, last_read[aid], WEEK), "read only once due"
                last_read[aid] = now
            else:
                assert now - last_read[aid] <= WEEK, "kept no longer than api_token_recheck_days"
                assert now <= recheck_due(aid, last_read[aid], WEEK), "read on the first scan past its point"
        scanner.next_day()
    assert per_day[0] == 140
    assert sum(per_day[1:8]) == sum(per_day[8:15]) == 140, "each account once a week"
    assert max(per_day[1:]) < 140 / 2, "spread over the week, not all on one day"
