"""The audit trail: append-only events in a SHA-256 hash chain.

Each event's ``hash`` is ``sha256(prev_hash + canonical JSON of the event's content)``, where
the content includes its ``seq``. Changing, deleting or reordering any row breaks the chain at
that row, and :func:`verify_chain` names it. Events carry account ids, never names or emails
(minimal PII).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, before it is sealed into the chain."""

    at: datetime
    actor: str  # "system:<worker id>" or "<platform>:<user id>" (e.g. "cli:alice", "slack:T1/U2")
    action: str  # e.g. warn, keep, act.suspend, approve, pause, restore
    outcome: str  # e.g. ok, skipped, failed, refused, dry_run
    org_id: str
    subject: str | None = None  # account id
    approver: str | None = None
    reason: str = ""
    run_id: str | None = None
    plan_hash: str | None = None
    mode: str | None = None
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    http_status: int | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A sealed audit row."""

    event_id: str
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


def content_of(event_id: str, seq: int, entry: AuditEntry) -> dict[str, Any]:
    """The canonical content hashed for an event (every field but the hashes)."""
    return {
        "event_id": event_id,
        "seq": seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "approver": entry.approver,
        "action": entry.action,
        "outcome": entry.outcome,
        "org_id": entry.org_id,
        "subject": entry.subject,
        "reason": entry.reason,
        "run_id": entry.run_id,
        "plan_hash": entry.plan_hash,
        "mode": entry.mode,
        "before": dict(entry.before),
        "after": dict(entry.after),
        "http_status": entry.http_status,
        "request_id": entry.request_id,
    }


def _plain_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as plain JSON data, exactly as :func:`seal` serialises it (``default=str``)."""
    result: dict[str, Any] = json.loads(json.dumps(dict(value), sort_keys=True, default=str))
    return result


def normalised(entry: AuditEntry) -> AuditEntry:
    """``entry`` with ``at`` in UTC and ``before``/``after`` as plain JSON, ready to seal and store.

    Sealing the normalised entry makes a stored copy hash to the same value when read back.
    Raises ``ValueError`` for a naive ``at``.
    """
    at = entry.at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"audit entry time must be timezone-aware (got naive {at.isoformat()})")
    return replace(entry, at=at.astimezone(UTC), before=_plain_json(entry.before), after=_plain_json(entry.after))


def seal(event_id: str, seq: int, entry: AuditEntry, prev_hash: str) -> AuditEvent:
    """Chain ``entry`` after ``prev_hash`` as event number ``seq``."""
    if entry.at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    canonical = json.dumps(content_of(event_id, seq, entry), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256((prev_hash + canonical).encode()).hexdigest()
    return AuditEvent(event_id=event_id, seq=seq, entry=entry, prev_hash=prev_hash, hash=digest)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``ok``, how many events were checked, and the first problem."""

    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str = ""


def verify_chain(events: Iterable[AuditEvent]) -> ChainReport:
    """Check sequence numbers and hashes in order; report the first broken row.

    Detects a changed row (its hash no longer matches its content), a deleted row (a gap in
    ``seq`` or a ``prev_hash`` that does not match), and reordered rows.
    """
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for event in events:
        if event.seq != expected_seq:
            kind = "missing or reordered" if event.seq > expected_seq else "reordered or duplicated"
            return ChainReport(False, checked, expected_seq, f"row {expected_seq} {kind} (found seq {event.seq})")
        if event.prev_hash != prev:
            return ChainReport(False, checked, event.seq, f"row {event.seq} does not follow row {event.seq - 1}")
        if seal(event.event_id, event.seq, event.entry, prev).hash != event.hash:
            return ChainReport(False, checked, event.seq, f"row {event.seq} was changed after it was written")
        prev = event.hash
        expected_seq += 1
        checked += 1
    return ChainReport(True, checked)
