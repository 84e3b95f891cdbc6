"""Declarative fault injection for the sandbox.

A :class:`FaultSchedule` is consulted for every request *before* auth, rate
limiting and the handler run.  Each :class:`Fault` counts the requests that
match its filters (1-based, counting every match whether or not another
fault fired); the first fault that decides to fire wins.  Schedules are
plain mutable objects: tests may add or clear faults while the server runs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from random import Random
from typing import Literal

FaultKind = Literal["429", "500", "502", "503", "504", "reset"]
FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "504", "reset")


@dataclass(slots=True)
class Fault:
    """One injected failure.

    * ``kind``: ``"429"`` (rate-limit response with ``X-RateLimit-*``
      headers), ``"500"`` (``ADMIN-500-1`` body), ``"502"``/``"503"``/``"504"``
      (plain-text gateway bodies) or ``"reset"`` (connection aborted, no
      response).
    * ``path``: substring the request path must contain (None: any path).
    * ``method``: HTTP method the request must use (None: any).
    * ``nth``: 1-based numbers of the matching requests that fail, e.g.
      ``{1, 2, 3}``.  Otherwise ``probability`` (drawn from this fault's own
      ``Random(seed)``) decides; with neither, every matching request fails.
    * ``retry_after``: for ``"429"``, a Retry-After value in seconds that is
      always sent (overrides ``SandboxConfig.send_retry_after``).

    A fault's answer uses up nothing of the key's rate limit.  When a limit is
    configured it carries that key's ``X-RateLimit-*`` headers (``Remaining``
    forced to 0 on a ``"429"``); without one, only a ``"429"`` carries them,
    for a nominal window of 1000 a minute.
    """

    kind: FaultKind
    path: str | None = None
    method: str | None = None
    nth: Collection[int] | None = None
    probability: float | None = None
    seed: int = 0
    retry_after: int | None = None
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)
    _rng: Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.nth is not None:
            self.nth = frozenset(self.nth)
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError("probability must be within [0, 1]")
        if self.method is not None:
            self.method = self.method.upper()
        self._rng = Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        """True when the request passes the path/method filters."""
        if self.method is not None and method.upper() != self.method:
            return False
        return self.path is None or self.path in path

    def evaluate(self, method: str, path: str) -> bool:
        """Count the request if it matches and decide whether to fire."""
        if not self.matches(method, path):
            return False
        self.seen += 1
        if self.nth is not None:
            fire = self.seen in self.nth
        elif self.probability is not None:
            fire = self._rng.random() < self.probability
        else:
            fire = True
        if fire:
            self.fired += 1
        return fire


@dataclass(slots=True)
class FaultSchedule:
    """An ordered, mutable list of :class:`Fault` objects."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, *faults: Fault) -> FaultSchedule:
        """Append faults; returns self for chaining."""
        self.faults.extend(faults)
        return self

    def clear(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        """Advance every fault's counter; return the first that fires."""
        chosen: Fault | None = None
        for fault in self.faults:
            if fault.evaluate(method, path) and chosen is None:
                chosen = fault
        return chosen
