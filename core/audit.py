"""The audit trail: append-only events in a SHA-256 hash chain, and a chain per org.

Each event's ``hash`` is ``sha256(prev_hash + canonical JSON of the event's content)``, where
the content includes its ``seq``. Changing, deleting or reordering any row breaks the chain at
that row, and :func:`verify_chain` names it. Events carry account ids, never names or emails
(minimal PII).

Every event is also a link of its org's own chain (:class:`OrgLink`: ``org_seq`` 1..n per org,
``sha256(org_prev_hash + the same canonical JSON)``), so one org's trail can be exported and
verified on its own (:func:`verify_org_chain`) without the other orgs of a deployment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
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
class OrgLink:
    """An event's place in its org's own chain."""

    seq: int
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A sealed audit row (``org``: None for rows written before org chains existed)."""

    event_id: str
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str
    org: OrgLink | None = None


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


def seal(event_id: str, seq: int, entry: AuditEntry, prev_hash: str, org: tuple[int, str] | None = None) -> AuditEvent:
    """Chain ``entry`` after ``prev_hash`` as event number ``seq``; with ``org`` = (org seq, org
    previous hash), also as that link of its org's chain."""
    if entry.at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    canonical = json.dumps(content_of(event_id, seq, entry), sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256((prev_hash + canonical).encode()).hexdigest()
    link = None
    if org is not None:
        link = OrgLink(org[0], org[1], hashlib.sha256((org[1] + canonical).encode()).hexdigest())
    return AuditEvent(event_id=event_id, seq=seq, entry=entry, prev_hash=prev_hash, hash=digest, org=link)


def seal_after(
    entries: Iterable[AuditEntry], seq: int, prev_hash: str, org_head: Callable[[str], tuple[int, str]]
) -> list[AuditEvent]:
    """Seal ``entries`` after the chain's last row (``seq``, ``prev_hash``) and each after its org's.

    ``org_head(org_id)`` gives (org seq, hash) of the org's last row, (0, :data:`GENESIS`) for
    none; it is asked once per org, later rows of the batch follow the batch's own.
    """
    heads: dict[str, tuple[int, str]] = {}
    events: list[AuditEvent] = []
    for entry in entries:
        seq += 1
        org_seq, org_prev = heads[entry.org_id] if entry.org_id in heads else org_head(entry.org_id)
        event = seal(uuid.uuid4().hex, seq, entry, prev_hash, (org_seq + 1, org_prev))
        assert event.org is not None
        heads[entry.org_id] = (event.org.seq, event.org.hash)
        events.append(event)
        prev_hash = event.hash
    return events


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``ok``, how many events were checked, and the first problem."""

    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the chain kept in the database starts after older rows were archived: the last archived row."""

    seq: int
    hash: str


def verify_chain(events: Iterable[AuditEvent], start: Anchor | None = None) -> ChainReport:
    """Check sequence numbers and hashes in order; report the first broken row.

    Detects a changed row (its hash no longer matches its content), a deleted row (a gap in
    ``seq`` or a ``prev_hash`` that does not match), and reordered rows. With ``start`` (rows up to
    it were archived), the chain must continue exactly from that row. ``checked`` counts rows
    checked here; the last verified row is ``start.seq + checked``.
    """
    prev = start.hash if start is not None else GENESIS
    expected_seq = start.seq + 1 if start is not None else 1
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


def verify_org_chain(events: Iterable[AuditEvent], org_id: str) -> ChainReport:
    """Check ``org_id``'s own chain over its events (in order); report the first broken one.

    Events of other orgs are refused; events written before org chains existed (no link) are
    skipped. The chain starts at org row 1 from :data:`GENESIS`, or at the first row kept after
    older rows were archived. ``bad_seq`` is the org row number.
    """
    prev: str | None = None
    expected: int | None = None
    checked = 0
    for event in events:
        if event.entry.org_id != org_id:
            return ChainReport(False, checked, None, f"row {event.seq} belongs to another org")
        link = event.org
        if link is None:
            continue
        if expected is None:
            expected, prev = link.seq, (GENESIS if link.seq == 1 else link.prev_hash)
        if link.seq != expected:
            return ChainReport(False, checked, expected, f"org row {expected} missing or reordered")
        if link.prev_hash != prev:
            return ChainReport(False, checked, link.seq, f"org row {link.seq} does not follow org row {link.seq - 1}")
        resealed = seal(event.event_id, event.seq, event.entry, event.prev_hash, (link.seq, link.prev_hash)).org
        if resealed is None or resealed.hash != link.hash:
            return ChainReport(False, checked, link.seq, f"org row {link.seq} was changed after it was written")
        prev, expected, checked = link.hash, expected + 1, checked + 1
    return ChainReport(True, checked)


# -- checkpoints: the chain's head, sealed outside the database ---------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The chain head (``seq``, ``hash``) at one moment, signed with a key the database never holds.

    ``n`` counts checkpoints from 1 and ``prev_mac`` chains them, so a removed or edited checkpoint
    breaks the signatures after it, like a removed audit row breaks the hashes after it.
    """

    n: int
    seq: int
    hash: str
    at: str
    prev_mac: str
    mac: str


def checkpoint_mac(key: bytes, n: int, seq: int, head: str, at: str, prev_mac: str) -> str:
    """HMAC-SHA256 over a checkpoint's fields."""
    message = f"{n}|{seq}|{head}|{at}|{prev_mac}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def next_checkpoint(key: bytes, previous: Checkpoint | None, seq: int, head: str, at: datetime) -> Checkpoint:
    """The checkpoint after ``previous`` for the chain head (``seq``, ``head``)."""
    n = previous.n + 1 if previous is not None else 1
    prev_mac = previous.mac if previous is not None else GENESIS
    stamp = at.astimezone(UTC).isoformat()
    return Checkpoint(n, seq, head, stamp, prev_mac, checkpoint_mac(key, n, seq, head, stamp, prev_mac))


def check_checkpoints(checkpoints: Iterable[Checkpoint], key: bytes) -> str | None:
    """Why the checkpoints themselves cannot be trusted (wrong signature, one missing), or None."""
    prev_mac, expected, last_seq = GENESIS, 1, 0
    for cp in checkpoints:
        if cp.n != expected or cp.prev_mac != prev_mac:
            return f"checkpoint {expected} is missing (found checkpoint {cp.n}): the checkpoint file was cut"
        if not hmac.compare_digest(cp.mac, checkpoint_mac(key, cp.n, cp.seq, cp.hash, cp.at, cp.prev_mac)):
            return f"checkpoint {cp.n} has a wrong signature: the file was edited, or AUDIT_KEY is not the one used"
        if cp.seq < last_seq:
            return f"checkpoint {cp.n} goes back from row {last_seq} to row {cp.seq}"
        prev_mac, expected, last_seq = cp.mac, expected + 1, cp.seq
    return None


def verify_against_checkpoints(
    events: Iterable[AuditEvent], checkpoints: Iterable[Checkpoint], key: bytes, start: Anchor | None = None
) -> ChainReport:
    """:func:`verify_chain`, then the chain's tail against the signed checkpoints.

    Detects what the chain alone cannot: rows deleted from the end (the chain ends before the
    last checkpoint's row, or that row has another hash). A checkpoint with a wrong signature,
    or a checkpoint missing from the file, fails too.
    """
    marks = list(checkpoints)
    problem = check_checkpoints(marks, key)
    if problem is not None:
        return ChainReport(False, 0, None, problem)
    wanted = {cp.seq: cp for cp in marks}
    seen: dict[int, str] = {}

    def watch(stream: Iterable[AuditEvent]) -> Iterable[AuditEvent]:
        for event in stream:
            if event.seq in wanted:
                seen[event.seq] = event.hash
            yield event

    report = verify_chain(watch(events), start)
    if not report.ok:
        return report
    first = start.seq if start is not None else 0
    last = first + report.checked
    for cp in marks:
        if cp.seq > last:
            return ChainReport(
                False,
                report.checked,
                last + 1,
                f"rows {last + 1} to {cp.seq} are missing: checkpoint {cp.n} ({cp.at}) sealed the "
                f"chain at row {cp.seq}, but it ends at row {last}",
            )
        if start is not None and cp.seq == start.seq and cp.hash != start.hash:
            return ChainReport(False, report.checked, cp.seq, f"the archive point differs from checkpoint {cp.n}")
        if cp.seq > first and seen.get(cp.seq) != cp.hash:
            return ChainReport(
                False, report.checked, cp.seq, f"row {cp.seq} differs from what checkpoint {cp.n} ({cp.at}) sealed"
            )
    return report
