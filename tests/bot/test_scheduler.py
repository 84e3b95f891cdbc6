"""The schedule: UTC cron, no DST or host-time-zone drift, one run at a time, a real scheduler run once."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.scheduler import (
    DEFAULT_JOB_ID,
    SKIPPED,
    SchedulerGuard,
    build_scheduler,
    next_runs,
    stop_scheduler,
    validate_cron,
)

HOST_ZONES = ["America/New_York", "Europe/Berlin"]
DAILY = ["30 2 * * *", "0 6 * * *"]
# 2026: US clocks spring forward on 8 March and fall back on 1 November; the EU's on 29 March and 25 October.
SPRING = (date(2026, 3, 2), date(2026, 4, 5))
FALL = (date(2026, 10, 19), date(2026, 11, 8))


@contextmanager
def host_timezone(name: str) -> Iterator[None]:
    """Set the process's local time zone (TZ + tzset), restoring the previous one afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture(params=HOST_ZONES)
def host_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    with host_timezone(request.param):
        yield request.param


async def noop() -> None:
    return None


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- (a) DST and the host time zone --------------------------------------------------------------


def test_host_timezone_fixture_really_changes_local_time() -> None:
    """Guard for the tests below: tzset takes effect, so equal results are not a no-op."""
    instant = datetime(2026, 7, 1, 12, tzinfo=UTC).timestamp()
    with host_timezone("America/New_York"):
        new_york = time.localtime(instant).tm_hour
    with host_timezone("Europe/Berlin"):
        berlin = time.localtime(instant).tm_hour
    assert (new_york, berlin) == (8, 14)


@pytest.mark.parametrize("cron", DAILY)
@pytest.mark.parametrize("weeks", [SPRING, FALL], ids=["spring-forward", "fall-back"])
def test_daily_cron_fires_once_per_utc_day_across_dst(host_tz: str, cron: str, weeks: tuple[date, date]) -> None:
    minute, hour = (int(field) for field in cron.split()[:2])
    span = days(*weeks)
    runs = next_runs(cron, utc_midnight(span[0]) - timedelta(microseconds=1), len(span))

    assert [run.date() for run in runs] == span  # exactly one fire per UTC day, none skipped or doubled
    assert {(run.hour, run.minute, run.second, run.microsecond) for run in runs} == {(hour, minute, 0, 0)}
    assert all(run.utcoffset() == timedelta(0) for run in runs)
    assert next_runs(cron, runs[-1], 1)[0] - runs[-1] == timedelta(days=1)


@pytest.mark.parametrize("cron", [*DAILY, "15 */4 * * 1-5", "0 0 * * 0"])
def test_fire_times_do_not_depend_on_the_host_time_zone(cron: str) -> None:
    after = utc_midnight(SPRING[0])
    results = {}
    for zone in ["UTC", *HOST_ZONES]:
        with host_timezone(zone):
            scheduler = build_scheduler(cron, noop)
            trigger = scheduler.get_job(DEFAULT_JOB_ID).trigger
            fall_after = utc_midnight(FALL[0])
            results[zone] = (
                next_runs(cron, after, 200),
                next_runs(cron, fall_after, 200),
                trigger.get_next_fire_time(None, after + timedelta(microseconds=1)),
                str(scheduler.timezone),
            )
    assert results["America/New_York"] == results["UTC"]
    assert results["Europe/Berlin"] == results["UTC"]
    assert results["UTC"][3] == "UTC"


@pytest.mark.parametrize(
    ("frozen", "cron", "expected"),
    [
        # 06:59 UTC on the US spring-forward day is 03:59 EDT, one hour after the local clock jumped.
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "30 2 * * *", datetime(2026, 3, 9, 2, 30, tzinfo=UTC)),
        (datetime(2026, 3, 8, 5, 59, tzinfo=UTC), "0 6 * * *", datetime(2026, 3, 8, 6, 0, tzinfo=UTC)),
        # 01:00 UTC on the EU spring-forward day is 02:00 CET, the hour that does not exist in Berlin.
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "30 2 * * *", datetime(2026, 3, 29, 2, 30, tzinfo=UTC)),
        # 05:30 UTC on the US fall-back day is 01:30 EDT, an hour that happens twice in New York.
        (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "0 6 * * *", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ],
)
async def test_started_scheduler_schedules_the_same_utc_instant_in_any_host_zone(
    host_tz: str, frozen: datetime, cron: str, expected: datetime
) -> None:
    """Eligibility as the real scheduler computes it at start-up, with the clock frozen on a DST day."""
    with time_machine.travel(frozen, tick=False):
        scheduler = build_scheduler(cron, noop)
        scheduler.start(paused=True)
        try:
            next_run = scheduler.get_job(DEFAULT_JOB_ID).next_run_time
        finally:
            await stop_scheduler(scheduler)
    assert next_run == expected
    assert next_run.utcoffset() == timedelta(0)


def test_weekdays_use_crontab_numbering() -> None:
    """0 and 7 are Sunday, 1 is Monday — not APScheduler 3's Monday-is-0."""
    wednesday = datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert [run.strftime("%a") for run in next_runs("0 0 * * 0", wednesday, 2)] == ["Sun", "Sun"]
    assert next_runs("0 0 * * 7", wednesday, 2) == next_runs("0 0 * * sun", wednesday, 2)
    assert [run.strftime("%a") for run in next_runs("0 0 * * 1-5", wednesday, 5)] == ["Thu", "Fri", "Mon", "Tue", "Wed"]
    assert [run.strftime("%a") for run in next_runs("0 0 * * */2", wednesday, 4)] == ["Thu", "Sat", "Sun", "Tue"]
    assert [run.strftime("%a") for run in next_runs("0 0 * * 5-7", wednesday, 3)] == ["Fri", "Sat", "Sun"]


def test_next_runs_is_strictly_after_and_accepts_any_aware_zone() -> None:
    exactly = datetime(2026, 3, 8, 2, 30, tzinfo=UTC)
    assert next_runs("30 2 * * *", exactly, 1) == [exactly + timedelta(days=1)]
    assert next_runs("30 2 * * *", exactly - timedelta(microseconds=1), 1) == [exactly]
    in_berlin = exactly.astimezone(ZoneInfo("Europe/Berlin"))  # 03:30 local, the same instant
    assert next_runs("30 2 * * *", in_berlin, 1) == [exactly + timedelta(days=1)]
    assert next_runs("30 2 * * *", in_berlin, 1)[0].tzinfo is UTC
    assert next_runs("30 2 * * *", exactly, 0) == []


def test_next_runs_refuses_naive_times_and_negative_counts() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_runs("30 2 * * *", datetime(2026, 3, 8), 1)  # noqa: DTZ001 - the naive time is the point
    with pytest.raises(ValueError, match="count"):
        next_runs("30 2 * * *", datetime(2026, 3, 8, tzinfo=UTC), -1)


# -- (b) the builder --------------------------------------------------------------------------


def test_builder_configures_one_guarded_job_without_starting() -> None:
    scheduler = build_scheduler("30 2 * * *", noop, misfire_grace_seconds=900)
    assert isinstance(scheduler, AsyncIOScheduler)
    assert not scheduler.running
    assert str(scheduler.timezone) == "UTC"
    (job,) = scheduler.get_jobs()
    assert job.id == DEFAULT_JOB_ID == "jira-cleanup-run"
    assert job.coalesce is True
    assert job.max_instances == 1
    assert job.misfire_grace_time == 900
    assert isinstance(job.func.__self__, SchedulerGuard)
    assert str(job.trigger.timezone) == "UTC"
    fields = {f.name: str(f) for f in job.trigger.fields if f.name in {"minute", "hour", "day", "month", "day_of_week"}}
    assert fields == {"minute": "30", "hour": "2", "day": "*", "month": "*", "day_of_week": "*"}


def test_builder_defaults_custom_id_and_shared_guard() -> None:
    guard = SchedulerGuard(noop)
    scheduler = build_scheduler("0 6 * * *", noop, job_id="org-acme", guard=guard)
    job = scheduler.get_job("org-acme")
    assert job.misfire_grace_time == 3600
    assert job.func.__self__ is guard


def test_builder_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="minute"):
        build_scheduler("61 * * * *", noop)
    with pytest.raises(ValueError, match="misfire_grace_seconds"):
        build_scheduler("0 6 * * *", noop, misfire_grace_seconds=0)


# -- (c) validate_cron ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cron",
    [
        "30 2 * * *",
        "0 6 * * *",
        "*/15 * * * *",
        "0 6 * * mon-fri",
        "0 6 * * 0,7",
        "0 0 1 jan-mar *",
        "0 0 29 2 *",
        "0 0 1-7 * */2",
        "  0   6 * *   1  ",
    ],
)
def test_validate_cron_accepts_good_schedules(cron: str) -> None:
    validate_cron(cron)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("x y z", "schedule 'x y z': got 3 field(s), not 5 — expected five fields: minute"),
        ("", "got 0 field(s), not 5"),
        ("0 6 * * * 2026", "got 6 field(s), not 5"),
        ("61 * * * *", "minute '61' is invalid: 61 is above the maximum 59"),
        ("0 24 * * *", "hour '24' is invalid: 24 is above the maximum 23"),
        ("0 6 0 * *", "day '0' is invalid: 0 is below the minimum 1"),
        ("0 6 32 * *", "day '32' is invalid: 32 is above the maximum 31"),
        ("0 6 * 13 *", "month '13' is invalid: 13 is above the maximum 12"),
        ("0 6 * * 8", "weekday '8' is invalid: '8' is not a weekday (0-7 or sun-sat)"),
        ("0 6 * * sat-sun", "weekday 'sat-sun' is invalid: range 'sat-sun' runs backwards"),
        ("a 6 * * *", "minute 'a' is invalid: 'a' is not a number, range, list or step"),
        ("*/0 6 * * *", "minute '*/0' is invalid: increment must be higher than 0"),
        ("0 6 1-7 * 1", "restricts both day '1-7' and weekday '1'"),
        ("0 0 31 2 *", "never fires (no date has day '31' in month '2')"),
    ],
)
def test_validate_cron_names_the_bad_field(cron: str, expected: str) -> None:
    with pytest.raises(ValueError, match=r"^schedule ") as info:
        validate_cron(cron)
    assert expected in str(info.value)
    assert "Error validating" not in str(info.value)
    assert "Unrecognized expression" not in str(info.value)


def test_validate_cron_messages_end_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"expected five fields: minute\(0-59\) hour\(0-23\) .* in UTC$"):
        validate_cron("0 6 * 13 *")


# -- the guard --------------------------------------------------------------------------------


async def test_guard_skips_and_logs_an_overlapping_run(caplog: pytest.LogCaptureFixture) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await release.wait()
        return "done"

    guard = SchedulerGuard(slow)
    first = asyncio.create_task(guard.run())
    await asyncio.wait_for(started.wait(), timeout=10)
    assert guard.running
    with caplog.at_level(logging.WARNING, logger="jira_cleanup.scheduler"):
        assert await guard.run() is SKIPPED
    release.set()
    assert await asyncio.wait_for(first, timeout=10) == "done"
    assert not guard.running
    assert (guard.runs, guard.skipped) == (1, 1)
    assert any("skipped" in record.getMessage() for record in caplog.records)
    release.set()
    assert await guard.run() == "done"  # free again once the first run finished
    assert guard.runs == 2


async def test_guard_releases_after_a_failing_run() -> None:
    async def boom() -> None:
        raise RuntimeError("nope")

    guard = SchedulerGuard(boom)
    with pytest.raises(RuntimeError, match="nope"):
        await guard.run()
    assert not guard.running
    with pytest.raises(RuntimeError):
        await guard.run()
    assert guard.runs == 2


# -- (d) the real scheduler, once -------------------------------------------------------------


async def test_real_scheduler_runs_the_job_exactly_once() -> None:
    calls: list[datetime] = []
    executed = asyncio.Event()

    async def job() -> None:
        calls.append(datetime.now(UTC))

    def on_event(event: JobEvent) -> None:
        if event.code == EVENT_JOB_EXECUTED:
            executed.set()

    scheduler = build_scheduler("0 0 1 1 *", job)  # yearly: the only run in this test is the one we force
    scheduler.add_listener(on_event, EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        scheduled = scheduler.get_job(DEFAULT_JOB_ID)
        assert scheduled.next_run_time.month == 1
        scheduled.modify(next_run_time=datetime.now(UTC))
        await asyncio.wait_for(executed.wait(), timeout=10)
        assert len(calls) == 1
        next_run = scheduler.get_job(DEFAULT_JOB_ID).next_run_time
        assert (next_run.month, next_run.day, next_run.hour, next_run.minute) == (1, 1, 0, 0)
        assert next_run > calls[0]
    finally:
        await stop_scheduler(scheduler)
    assert not scheduler.running
    assert len(calls) == 1


async def test_real_scheduler_skips_a_fire_while_the_previous_run_is_still_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, release, executed, skipped = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    calls = 0

    async def job() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()

    def on_event(event: JobEvent) -> None:
        (executed if event.code == EVENT_JOB_EXECUTED else skipped).set()

    guard = SchedulerGuard(job)
    scheduler = build_scheduler("0 0 1 1 *", job, guard=guard)
    scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        with caplog.at_level(logging.WARNING):
            scheduler.get_job(DEFAULT_JOB_ID).modify(next_run_time=datetime.now(UTC))
            await asyncio.wait_for(started.wait(), timeout=10)
            scheduler.get_job(DEFAULT_JOB_ID).modify(next_run_time=datetime.now(UTC))  # fires while running
            await asyncio.wait_for(skipped.wait(), timeout=10)
            assert guard.running
            assert await guard.run() is SKIPPED  # a manual "run now" sharing the guard is refused too
            release.set()
            await asyncio.wait_for(executed.wait(), timeout=10)
    finally:
        await stop_scheduler(scheduler)
    assert calls == 1
    messages = [record.getMessage() for record in caplog.records if record.name == "jira_cleanup.scheduler"]
    assert any("skipped: the previous run is still in progress" in message for message in messages)
    assert any("lifecycle run skipped" in message for message in messages)


async def test_stop_scheduler_leaves_a_stopped_scheduler_alone() -> None:
    scheduler = build_scheduler("0 6 * * *", noop)
    await stop_scheduler(scheduler)
    assert not scheduler.running
