"""When the lifecycle runs: a five-field cron, evaluated in UTC, on APScheduler 3's asyncio scheduler.

Contracts
---------
* A schedule is a standard five-field crontab, ``minute hour day month weekday``, always evaluated in
  UTC. The host's time zone (``TZ``, ``/etc/localtime``) never changes when a run fires, and daylight
  saving time never adds or drops a run: each matching UTC minute fires exactly once.
* Weekdays use crontab numbering: ``0`` and ``7`` are Sunday, ``1`` is Monday (names ``sun``..``sat``
  work too). APScheduler 3's ``CronTrigger.from_crontab`` numbers them from Monday = 0 (its documented
  "historical mistake", fixed only in 4.x), so the weekday field is translated to names before it is
  handed over.
* A schedule that restricts *both* day of month and weekday (neither starts with ``*``) is refused:
  cron runs when *either* matches, APScheduler only when *both* do, and a cleanup bot must not guess.
* A schedule that can never fire (``0 0 31 2 *``) is refused.
* At most one run at a time: a run still in progress when the next fire time comes is not overlapped;
  the new run is skipped and logged (APScheduler's ``max_instances=1`` plus :class:`SchedulerGuard`,
  which also guards manual "run now" triggers that share it). Missed runs within the grace period are
  coalesced into one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Final

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

__all__ = [
    "DEFAULT_JOB_ID",
    "SKIPPED",
    "SchedulerGuard",
    "build_scheduler",
    "cron_trigger",
    "next_runs",
    "stop_scheduler",
    "validate_cron",
]

log = logging.getLogger("jira_cleanup.scheduler")

DEFAULT_JOB_ID: Final = "jira-cleanup-run"

_EXPECTED: Final = (
    "expected five fields: minute(0-59) hour(0-23) day(1-31) month(1-12) weekday(0-7 or sun-sat, 0 and 7 = Sunday),"
    " in UTC"
)
_FIELDS: Final = ("minute", "hour", "day", "month", "weekday")
_APS_FIELD: Final = {"minute": "minute", "hour": "hour", "day": "day", "month": "month"}
# Crontab weekday numbers (0 and 7 = Sunday) -> APScheduler weekday names.
_CRON_DAY_NAMES: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_APS_WEEK: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_ITEM: Final = re.compile(r"^(?P<base>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")
# A fixed reference for the "never fires" check: any satisfiable schedule fires within 8 years of any date.
_REFERENCE: Final = datetime(2000, 1, 1, tzinfo=UTC)


# -- cron parsing ----------------------------------------------------------------------------


def _fail(cron: str, detail: str) -> ValueError:
    return ValueError(f"schedule {cron!r}: {detail} — {_EXPECTED}")


def _weekday_number(token: str) -> int | None:
    if token.isdigit():
        number = int(token)
        return number if 0 <= number <= 7 else None
    return _CRON_DAY_NAMES.index(token) if token in _CRON_DAY_NAMES else None


def _weekday_field(cron: str, value: str) -> str:
    """Translate a crontab weekday field into APScheduler 3 weekday names (``*`` stays ``*``)."""
    if value == "*":
        return value
    days: set[int] = set()
    for item in value.lower().split(","):
        match = _WEEKDAY_ITEM.match(item)
        if match is None:
            raise _fail(cron, f"weekday {value!r} is invalid: {item!r} is not a weekday, range or step")
        base, step_text = match["base"], match["step"]
        step = int(step_text) if step_text is not None else 1
        if step < 1:
            raise _fail(cron, f"weekday {value!r} is invalid: the step must be at least 1")
        if base == "*":
            first, last = 0, 6
        else:
            start_text, _, end_text = base.partition("-")
            first_or_none = _weekday_number(start_text)
            if first_or_none is None:
                raise _fail(cron, f"weekday {value!r} is invalid: {start_text!r} is not a weekday (0-7 or sun-sat)")
            first = first_or_none
            if end_text:
                last_or_none = _weekday_number(end_text)
                if last_or_none is None:
                    raise _fail(cron, f"weekday {value!r} is invalid: {end_text!r} is not a weekday (0-7 or sun-sat)")
                last = last_or_none
            else:
                last = 7 if step_text is not None else first  # "1/2" means 1-7/2, as in cron
            if first > last:
                raise _fail(cron, f"weekday {value!r} is invalid: range {base!r} runs backwards (write e.g. 'sat,sun')")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(name for name in _APS_WEEK if _CRON_DAY_NAMES.index(name) in days)


def _normalize(cron: str) -> str:
    """Validate ``cron`` and return the equivalent expression for APScheduler 3's ``from_crontab``."""
    if not isinstance(cron, str):
        raise ValueError(f"schedule {cron!r}: must be a string — {_EXPECTED}")
    values = cron.split()
    if len(values) != len(_FIELDS):
        raise _fail(cron, f"got {len(values)} field(s), not 5")
    for name, value in zip(_FIELDS[:4], values[:4], strict=True):
        try:
            CronTrigger(**{_APS_FIELD[name]: value}, timezone=UTC)
        except ValueError as exc:
            raise _fail(cron, f"{name} {value!r} is invalid: {_rephrase(str(exc))}") from None
    weekday = _weekday_field(cron, values[4])
    if not values[2].startswith("*") and not values[4].startswith("*"):
        raise ValueError(
            f"schedule {cron!r}: restricts both day {values[2]!r} and weekday {values[4]!r}; cron would run when"
            " either matches, this scheduler only when both do — restrict only one of them (in UTC)"
        )
    return " ".join([*values[:4], weekday])


def _rephrase(message: str) -> str:
    """Turn APScheduler's field errors into something a policy author can act on."""
    message = re.sub(r"^Error validating expression '[^']*': ", "", message)
    unrecognized = re.match(r'^Unrecognized expression "([^"]*)"', message)
    if unrecognized:
        return f"{unrecognized[1]!r} is not a number, range, list or step"
    bound = re.match(r"^the (?:first|last) value \((\d+)\) is (higher|lower) than the \w+ value \((\d+)\)", message)
    if bound:
        word = "above the maximum" if bound[2] == "higher" else "below the minimum"
        return f"{bound[1]} is {word} {bound[3]}"
    return message[:1].lower() + message[1:]


def validate_cron(cron: str) -> None:
    """Raise ``ValueError`` unless ``cron`` is a usable five-field UTC schedule.

    The message quotes the schedule, names the bad field and value, and ends with the expected shape,
    e.g. ``schedule '61 * * * *': minute '61' is invalid: 61 is above the maximum 59 — expected five
    fields: ...``. Refused besides bad fields: restricting both day and weekday, and schedules that
    never fire.
    """
    cron_trigger(cron)


def cron_trigger(cron: str) -> CronTrigger:
    """The validated UTC ``CronTrigger`` for ``cron`` (crontab weekday numbering). Raises ``ValueError``."""
    normalized = _normalize(cron)
    trigger = CronTrigger.from_crontab(normalized, timezone=UTC)
    if trigger.get_next_fire_time(None, _REFERENCE) is None:
        _, _, day, month, _ = cron.split()
        raise ValueError(f"schedule {cron!r}: never fires (no date has day {day!r} in month {month!r})")
    return trigger


def next_runs(cron: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of ``cron`` strictly after ``after``, tz-aware UTC, ascending.

    Pure: it never reads the clock or the host time zone. ``after`` must be tz-aware (any zone).
    Raises ``ValueError`` for a bad schedule, a naive ``after`` or a negative ``count``.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("next_runs: 'after' must be timezone-aware")
    if count < 0:
        raise ValueError(f"next_runs: count must be >= 0 (got {count})")
    trigger = cron_trigger(cron)
    runs: list[datetime] = []
    cursor = after.astimezone(UTC)
    while len(runs) < count:
        fire: datetime | None = trigger.get_next_fire_time(None, cursor + timedelta(microseconds=1))
        if fire is None:
            break
        cursor = fire.astimezone(UTC)
        runs.append(cursor)
    return runs


# -- no overlap ------------------------------------------------------------------------------


class _Outcome(Enum):
    SKIPPED = "skipped"


SKIPPED: Final = _Outcome.SKIPPED
"""What :meth:`SchedulerGuard.run` returns when it skipped because a run was already in progress."""


class SchedulerGuard:
    """Runs ``job`` at most once at a time on one event loop; an overlapping call is skipped and logged.

    Share one guard between the schedule and manual triggers ("run now") so neither overlaps the
    other. The check and the claim happen without an ``await`` in between, so it is race-free within
    one event loop (it is not a cross-process lock). Exceptions from ``job`` propagate unchanged.
    """

    def __init__(self, job: Callable[[], Awaitable[object]], *, name: str = "lifecycle run") -> None:
        self._job = job
        self._name = name
        self._started: datetime | None = None
        self.runs = 0
        self.skipped = 0

    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self._started is not None

    async def run(self) -> object:
        """Run the job and return its result, or return :data:`SKIPPED` if a run is already in progress."""
        if self._started is not None:
            self.skipped += 1
            log.warning(
                "%s skipped: the previous run (started %s) is still in progress",
                self._name,
                self._started.isoformat(timespec="seconds"),
            )
            return SKIPPED
        self._started = datetime.now(UTC)
        self.runs += 1
        log.info("%s started", self._name)
        try:
            return await self._job()
        finally:
            elapsed = datetime.now(UTC) - self._started
            self._started = None
            log.info("%s finished after %.1fs", self._name, elapsed.total_seconds())


# -- the scheduler ---------------------------------------------------------------------------


def _log_job_event(event: JobEvent) -> None:
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.warning("scheduled run %s skipped: the previous run is still in progress", event.job_id)
    elif event.code == EVENT_JOB_MISSED:
        log.warning(
            "scheduled run %s missed its fire time %s (beyond the misfire grace time)",
            event.job_id,
            event.scheduled_run_time,
        )
    elif event.code == EVENT_JOB_ERROR:
        log.error("scheduled run %s failed: %s", event.job_id, type(getattr(event, "exception", None)).__name__)


def build_scheduler(
    cron: str,
    job: Callable[[], Awaitable[object]],
    *,
    job_id: str = DEFAULT_JOB_ID,
    misfire_grace_seconds: int = 3600,
    guard: SchedulerGuard | None = None,
) -> AsyncIOScheduler:
    """An ``AsyncIOScheduler`` (UTC) holding one job that runs ``job`` on ``cron``; not started.

    The job is ``id=job_id``, ``replace_existing``, ``coalesce`` (missed runs collapse into one),
    ``max_instances=1`` and ``misfire_grace_time=misfire_grace_seconds``; it calls ``guard.run``
    (a new :class:`SchedulerGuard` around ``job`` unless one is given, in which case ``job`` is
    ignored in favour of the guard's). Start it with ``scheduler.start()`` inside the running loop;
    stop it with :func:`stop_scheduler`. Raises ``ValueError`` for a bad schedule or grace time.
    """
    trigger = cron_trigger(cron)
    if misfire_grace_seconds < 1:
        raise ValueError(f"misfire_grace_seconds must be >= 1 (got {misfire_grace_seconds})")
    runner = guard if guard is not None else SchedulerGuard(job)
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        runner.run,  # a bound coroutine function: APScheduler awaits it on the loop, not in a thread
        trigger,
        id=job_id,
        name=f"jira-cleanup lifecycle run ({cron} UTC)",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=misfire_grace_seconds,
    )
    scheduler.add_listener(_log_job_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    return scheduler


async def stop_scheduler(scheduler: AsyncIOScheduler) -> None:
    """Shut ``scheduler`` down without waiting for a run in progress (it is cancelled), and return once
    the shutdown has happened. APScheduler's asyncio scheduler only *schedules* its shutdown on the loop;
    this awaits it. A scheduler that is not running is left alone.
    """
    if not scheduler.running:
        return
    scheduler.shutdown(wait=False)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.call_soon(done.set_result, None)  # callbacks run in order: this one runs after the shutdown
    await done


def run_now(scheduler: AsyncIOScheduler, job_id: str = DEFAULT_JOB_ID) -> None:
    """Run the scheduled job as soon as possible (same job, same guard), then keep the schedule."""
    scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
