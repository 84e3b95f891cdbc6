"""The weekly digest: the week's numbers, the coming week, and anomalies only on evidence."""

from datetime import timedelta

from core.digest import build_digest, digest_reply
from core.ledger import LifecycleRun, RunStatus
from core.lifecycle import CaseState
from tests.fakes import NOW
from tests.store.lifecycle_data import make_case

DAY = timedelta(days=1)


def run(days_ago: float, status: RunStatus = RunStatus.COMPLETED, **counts: int) -> LifecycleRun:
    at = NOW - days_ago * DAY
    return LifecycleRun(f"r{days_ago}", "org-1", "enforce", status, "system:scheduler", at, at, counts=counts)


def usual_weeks(due: int) -> list[LifecycleRun]:
    """One run a week over the four weeks before this one, ``due`` actions each."""
    return [run(7 * week + 3, due=due) for week in range(1, 5)]


def test_the_week_in_numbers_and_the_coming_week() -> None:
    runs = [
        run(1, warnings_delivered=4, warnings_undelivered=0, actions_confirmed=3, restored=1, due=3),
        run(3, warnings_delivered=2, due=2),
        run(8, warnings_delivered=50, actions_confirmed=40),  # last week: not counted
        *usual_weeks(due=4),
    ]
    cases = [
        make_case("c1", state=CaseState.WARNED, deadline=NOW + 2 * DAY),
        make_case("c2", state=CaseState.WARNED, deadline=NOW + 9 * DAY),  # after next week
        make_case("c3", state=CaseState.KEPT, deadline=NOW + DAY),
        make_case("c4", state=CaseState.DELETION_SCHEDULED, delete_due_at=NOW + 6 * DAY),
    ]
    digest = build_digest("org-1", NOW, runs, cases, {}, kept=2)
    assert (digest.runs, digest.warned, digest.undelivered, digest.kept) == (2, 6, 0, 2)
    assert (digest.actions, digest.restored, digest.due_next_week, digest.deletions_next_week) == (3, 1, 1, 1)
    assert digest.anomalies == ()
    reply = digest_reply(digest)
    assert reply.title == "Weekly digest"
    assert reply.ok
    assert reply.text.endswith("Nothing unusual.")
    assert ("Next week", "1 deadlines, 1 deletions") in reply.lines


def test_a_jump_in_due_actions_against_the_usual_weeks_is_flagged() -> None:
    runs = [run(2, due=30), *usual_weeks(due=5)]
    [anomaly] = build_digest("org-1", NOW, runs, [], {}, kept=0).anomalies
    assert anomaly.startswith("30 actions came due this week, against 5 a week over the 4 weeks before")
    # Doubling a small number is not a jump, and without history nothing is usual yet.
    assert build_digest("org-1", NOW, [run(2, due=12), *usual_weeks(due=5)], [], {}, kept=0).anomalies == ()
    assert build_digest("org-1", NOW, [run(2, due=300)], [], {}, kept=0).anomalies == ()


def test_keeps_from_one_group_failed_runs_and_undelivered_warnings_are_flagged() -> None:
    runs = [run(1, status=RunStatus.FAILED), run(2, warnings_undelivered=3), *usual_weeks(due=0)]
    groups = {"contractors": 6, "jira-software-users": 7, "finance": 2}
    anomalies = build_digest("org-1", NOW, runs, [], groups, kept=8).anomalies
    assert anomalies == (
        "7 of this week's 8 keeps came from members of jira-software-users",
        "6 of this week's 8 keeps came from members of contractors",
        "1 of 2 runs failed (the Atlassian API or the database): see `status`",
        "3 warnings could not be delivered: those accounts are not acted on until someone reaches them",
    )
    reply = digest_reply(build_digest("org-1", NOW, runs, [], groups, kept=8))
    assert not reply.ok
    assert "Worth a look: 7 of this week's 8 keeps" in reply.text
    # A group with many keeps among many more is not unusual.
    assert build_digest("org-1", NOW, [], [], {"everyone": 6}, kept=20).anomalies == ()
