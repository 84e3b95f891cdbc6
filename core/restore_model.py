"""Self-service restore requests: who asked, from where, where to answer, and what was decided."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.chat import Actor

#: The ``rule`` of a request made for someone else (never auto-approved: an admin decides).
ON_BEHALF = "on-behalf"


class RequestState(StrEnum):
    """The life of a restore request."""

    PENDING = "pending"  # waiting for an admin (or being auto-approved)
    APPROVED = "approved"  # an admin or a rule said yes; the restore is running
    RESTORED = "restored"
    DENIED = "denied"
    FAILED = "failed"  # approved, but the restore could not be done (the reason says why)


FINAL_STATES = frozenset({RequestState.RESTORED, RequestState.DENIED, RequestState.FAILED})


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    """One request for access back.

    ``reply_to`` says where the answer goes on channels without a chat identity: the JSM
    request key, or the email address. ``route`` is the judge's route (auto/admin/deny);
    ``rule`` the auto-approve rule that matched, or :data:`ON_BEHALF` for a request made for
    someone else (``requester`` is then who asked, ``account_id`` whose access it is).
    """

    request_id: str
    org_id: str
    account_id: str
    source: str
    requester: Actor
    created_at: datetime
    state: RequestState
    route: str
    reason: str = ""
    reply_to: str = ""
    rule: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    told_at: datetime | None = None  # when the requester was told the final outcome

    @property
    def on_behalf(self) -> bool:
        """True when someone asked for another person's access (an admin decides; the owner is told)."""
        return self.rule == ON_BEHALF


def request_id_for(org_id: str, source: str, key: str) -> str:
    """A stable id for a request that may be delivered twice (a retried webhook: ``key`` is the issue key)."""
    digest = hashlib.sha256(f"{org_id}\x1f{source}\x1f{key}".encode()).hexdigest()
    return f"rq-{digest[:24]}"
