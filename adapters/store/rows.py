"""Row <-> domain mapping for every SQL table, in one place.

The table classes (:mod:`adapters.store.tables` and the chat, restore and Teams tables) are
storage shapes whose columns carry the names of the core's frozen dataclasses, so one generic
pair does the plain work: :func:`to_row` (enums to their values, datetimes checked to be
timezone-aware and converted to UTC) and :func:`from_row` (every field read back by name).
Each table names only the fields that need more than that (JSON shapes, enums back from their
values, integers from drivers that return other types).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from core.audit import AuditEntry, AuditEvent, OrgLink, content_of
from core.chat import ActionToken, Actor, Purpose
from core.ledger import EntryState, LedgerEntry, LifecycleRun, RunStatus
from core.lifecycle import Case, CaseState, Effect, Op
from core.model import (
    Account,
    AccountId,
    AccountStatus,
    AccountType,
    Claim,
    Group,
    GroupId,
    ManagementSource,
    MembershipStatus,
    ProductAccess,
    ProductKey,
)
from core.planner import Decision, SkipReason, Verdict
from core.policy import Action
from core.ports import ConversationRecord, ScanRun
from core.restore_model import RequestState, RestoreRequest

_T = TypeVar("_T")
Convert = Callable[[Any], Any]


# --------------------------------------------------------------------------- values


def aware(value: datetime, what: str) -> datetime:
    """``value`` in UTC; ``ValueError`` naming ``what`` when it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def aware_or_none(value: datetime | None, what: str) -> datetime | None:
    """:func:`aware`, passing ``None`` through."""
    return None if value is None else aware(value, what)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time stored as text, in UTC (a naive one is taken as UTC)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso_or_none(value: datetime | None, what: str) -> str | None:
    return None if value is None else aware(value, what).isoformat()


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


# --------------------------------------------------------------------------- the generic pair


def to_row(obj: Any, what: str | None = None, **encode: Convert) -> dict[str, Any]:
    """The columns of dataclass (or named tuple) ``obj``: one per field, by name.

    ``encode`` converts named fields; otherwise enums become their values and, when ``what``
    is given, datetimes must be aware (``ValueError`` naming ``what`` and the field) and are
    stored in UTC.
    """
    row: dict[str, Any] = {}
    for name in _names(obj):
        value = getattr(obj, name)
        if name in encode:
            value = encode[name](value)
        elif isinstance(value, Enum):
            value = value.value
        elif what is not None and isinstance(value, datetime):
            value = aware(value, f"{what}: {name}")
        row[name] = value
    return row


def _names(record: Any) -> tuple[str, ...]:
    """The field names of a dataclass or a named tuple (class or instance)."""
    fields: tuple[str, ...] | None = getattr(record, "_fields", None)
    return fields if fields is not None else tuple(f.name for f in dataclasses.fields(record))


def from_row(cls: type[_T], row: Any, **decode: Convert) -> _T:
    """An instance of dataclass (or named tuple) ``cls`` from a result row (or mapped object), a column per field."""
    mapping: Mapping[str, Any] | None = getattr(row, "_mapping", None)
    values: dict[str, Any] = {}
    for name in _names(cls):
        value = mapping[name] if mapping is not None else getattr(row, name)
        values[name] = decode[name](value) if name in decode else value
    return cls(**values)


# --------------------------------------------------------------------------- scans


def account_row(run_id: str, org_id: str, account: Account) -> dict[str, Any]:
    """The ``account_snapshots`` row of ``account`` in scan ``run_id``."""
    what = f"account {account.account_id!r}"

    def product(p: ProductAccess) -> dict[str, Any]:
        last_active = _iso_or_none(p.last_active, f"{what}: {p.key} last_active")
        return {"key": p.key, "resource_id": p.resource_id, "last_active": last_active}

    row = to_row(
        account,
        what,
        groups=lambda groups: [{"id": g.id, "name": g.name} for g in groups],
        platform_roles=sorted,
        products=lambda products: [product(p) for p in products],
    )
    return {"run_id": run_id, "org_id": org_id, **row}


def _product(data: Mapping[str, Any]) -> ProductAccess:
    last_active = data.get("last_active")
    return ProductAccess(
        key=ProductKey(data["key"]),
        resource_id=data["resource_id"],
        last_active=None if last_active is None else parse_iso(last_active),
    )


def account_from_row(row: Any) -> Account:
    """The :class:`Account` of an ``account_snapshots`` row."""
    return from_row(
        Account,
        row,
        account_id=AccountId,
        account_type=AccountType,
        account_status=AccountStatus,
        membership_status=MembershipStatus,
        claim=Claim,
        management_source=ManagementSource,
        groups=lambda groups: tuple(Group(id=GroupId(g["id"]), name=g["name"]) for g in groups),
        platform_roles=frozenset,
        products=lambda products: tuple(_product(p) for p in products),
        activity_known=bool,
        scheduled_for_deletion=bool,
    )


def decision_row(run_id: str, org_id: str, decision: Decision) -> dict[str, Any]:
    """The ``planned_decisions`` row of ``decision`` in scan ``run_id``."""
    row = to_row(decision, f"decision ({decision.account_id!r}, {decision.rule!r})", verdict=int)
    return {"run_id": run_id, "org_id": org_id, **row, "code": decision.code}


def decision_from_row(row: Any) -> Decision:
    """The :class:`Decision` of a ``planned_decisions`` row."""
    return from_row(
        Decision, row, action=Action, verdict=Verdict, skip_reason=_optional(SkipReason), over_threshold=bool
    )


def scan_from_row(row: Any) -> ScanRun:
    """The :class:`ScanRun` of a ``scan_runs`` row."""
    return from_row(ScanRun, row)


# --------------------------------------------------------------------------- lifecycle


def _effect_json(effect: Effect | None) -> dict[str, Any] | None:
    if effect is None:
        return None
    return {"op": effect.op.value, "group_ids": list(effect.group_ids), "product": effect.product}


def _effect(data: Mapping[str, Any]) -> Effect:
    return Effect(op=Op(data["op"]), group_ids=tuple(data.get("group_ids") or ()), product=data.get("product"))


def case_row(case: Case) -> dict[str, Any]:
    """The ``cases`` row of ``case`` (``ValueError`` for a naive time)."""
    what = f"case {case.case_id!r}"

    def keeps(values: tuple[datetime, ...]) -> list[str]:
        return [aware(k, f"{what}: keeps").isoformat() for k in values]

    return to_row(case, what, keeps=keeps, effect=_effect_json)


def case_from_row(row: Any) -> Case:
    """The :class:`Case` of a ``cases`` row."""
    return from_row(
        Case,
        row,
        action=Action,
        state=CaseState,
        keeps=lambda keeps: tuple(parse_iso(k) for k in keeps),
        effect=_optional(_effect),
    )


def entry_row(entry: LedgerEntry) -> dict[str, Any]:
    """The ``ledger`` row of ``entry`` (``ValueError`` for a naive time)."""
    return to_row(entry, f"ledger entry {entry.entry_id!r}", group_ids=list)


def entry_from_row(row: Any) -> LedgerEntry:
    """The :class:`LedgerEntry` of a ``ledger`` row."""
    return from_row(LedgerEntry, row, op=Op, state=EntryState, group_ids=tuple, attempts=int, epoch=_optional(int))


def _counts(counts: Mapping[Any, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in counts.items()}


def run_row(run: LifecycleRun) -> dict[str, Any]:
    """The ``lifecycle_runs`` row of ``run`` (``ValueError`` for a naive time)."""
    return to_row(run, f"lifecycle run {run.run_id!r}", counts=_counts)


def run_from_row(row: Any) -> LifecycleRun:
    """The :class:`LifecycleRun` of a ``lifecycle_runs`` row."""
    return from_row(LifecycleRun, row, status=RunStatus, held=int, billable=int, counts=_counts)


def audit_row(event: AuditEvent) -> dict[str, Any]:
    """The stored row: the hashed content (with ``at`` as a datetime) and the two hashes."""
    content = content_of(event.event_id, event.seq, event.entry)
    org = event.org
    links: dict[str, Any] = {"org_seq": None, "org_prev_hash": None, "org_hash": None}
    if org is not None:
        links = {"org_seq": org.seq, "org_prev_hash": org.prev_hash, "org_hash": org.hash}
    return {**content, "at": event.entry.at, "prev_hash": event.prev_hash, "hash": event.hash, **links}


def audit_from_row(row: Any) -> AuditEvent:
    """The sealed :class:`AuditEvent` of an ``audit_events`` row."""
    entry = from_row(AuditEntry, row)
    org = None if row.org_seq is None else OrgLink(int(row.org_seq), row.org_prev_hash, row.org_hash)
    return AuditEvent(
        event_id=row.event_id, seq=int(row.seq), entry=entry, prev_hash=row.prev_hash, hash=row.hash, org=org
    )


# --------------------------------------------------------------------------- chat, restore, Teams


def actor_json(actor: Actor | None) -> dict[str, str] | None:
    """An :class:`Actor` as stored in a JSON column."""
    if actor is None:
        return None
    return {"platform": actor.platform, "tenant": actor.tenant, "user_id": actor.user_id, "name": actor.name}


def actor_from_json(data: Mapping[str, Any] | None) -> Actor | None:
    """The :class:`Actor` of a JSON column (``None`` for an empty one)."""
    if not data:
        return None
    return Actor(str(data["platform"]), str(data["tenant"]), str(data["user_id"]), str(data.get("name", "")))


def token_row(token: ActionToken) -> dict[str, Any]:
    """The ``action_tokens`` row of ``token`` (its hash; the raw value is never stored)."""
    return to_row(token, intended=actor_json, forbidden=actor_json)


def token_from_row(row: Any) -> ActionToken:
    """The :class:`ActionToken` of an ``action_tokens`` row."""
    return from_row(ActionToken, row, purpose=Purpose, intended=actor_from_json, forbidden=actor_from_json)


def request_row(request: RestoreRequest) -> dict[str, Any]:
    """The ``restore_requests`` row of ``request``."""
    return to_row(request, requester=actor_json)


def _requester(data: Mapping[str, Any] | None) -> Actor:
    requester = actor_from_json(data)
    assert requester is not None  # the column is NOT NULL and always written from an Actor
    return requester


def request_from_row(row: Any) -> RestoreRequest:
    """The :class:`RestoreRequest` of a ``restore_requests`` row."""
    return from_row(RestoreRequest, row, state=RequestState, requester=_requester)


def conversation_row(key: str, record: ConversationRecord) -> dict[str, Any]:
    """The ``chat_conversations`` row of ``record`` under ``key`` (emails lower-case)."""
    row = to_row(record, email=lambda email: email.lower() if email else None, reference=dict)
    return {"conv_key": key, **row}


def conversation_from_row(row: Any) -> ConversationRecord:
    """The :class:`ConversationRecord` of a ``chat_conversations`` row."""
    return from_row(ConversationRecord, row, reference=lambda reference: dict(reference or {}))
