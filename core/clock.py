"""Clocks: the system clock for production, a settable one for tests and the demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    """The real time in UTC."""

    def now(self) -> datetime:
        """The current UTC time, tz-aware."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to. Used by tests and the demo's time travel."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start

    def now(self) -> datetime:
        """The clock's current time."""
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self._now += delta

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (tz-aware)."""
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        self._now = when
