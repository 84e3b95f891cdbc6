"""Platform-neutral chat concepts: who is acting, and single-use button references.

Slack and Teams translate their payloads into an :class:`Actor` and a raw token from a
button; everything after that is shared. A token's raw value goes into the button and is
never stored: the store keeps its SHA-256, so a database leak cannot be replayed as clicks.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Actor:
    """A person acting from a chat platform (or the CLI, or the system)."""

    platform: str  # slack | teams | email | jsm | cli | system
    tenant: str  # Slack team id, Teams tenant id, "" for cli/system
    user_id: str  # Slack user id, AAD object id, login...
    name: str = field(default="", compare=False)

    @property
    def audit_id(self) -> str:
        """How the actor appears in the audit trail, e.g. ``slack:T0ACME/U123``."""
        return f"{self.platform}:{self.tenant}/{self.user_id}" if self.tenant else f"{self.platform}:{self.user_id}"


def actor_of_audit_id(audit_id: str | None, platform: str) -> Actor | None:
    """``<platform>:<tenant>/<user>`` back to an :class:`Actor` of ``platform``; anything else is None."""
    prefix = f"{platform}:"
    if not audit_id or not audit_id.startswith(prefix):
        return None
    tenant, sep, user = audit_id.removeprefix(prefix).partition("/")
    if not sep or not tenant or not user:
        return None
    return Actor(platform, tenant, user)


class Purpose(StrEnum):
    """What a button does."""

    KEEP = "keep"  # keep my access
    RELEASE = "release"  # I don't need it: act at once
    APPROVE = "approve"  # approve held actions of a run
    DENY = "deny"  # deny held actions of a run
    CONFIRM_RUN = "confirm_run"  # an admin confirms /jira-cleanup run
    APPROVE_RESTORE = "approve_restore"  # an admin approves a user's restore request
    DENY_RESTORE = "deny_restore"
    REQUEST_RESTORE = "request_restore"  # a person asks for their access back (email link)
    APPROVE_KEEP = "approve_keep"  # an admin approves a keep beyond keep.approval_after
    # The admin home's Approve / Deny of a keep waiting for an admin: each decides through the posted APPROVE_KEEP.
    APPROVE_WAITING_KEEP = "approve_waiting_keep"
    DENY_WAITING_KEEP = "deny_waiting_keep"


#: The wire id of each chat button (Slack ``action_id``, Teams ``verb``); emailed links have none.
BUTTON_IDS: dict[Purpose, str] = {p: f"jc_{p.value}" for p in Purpose if p is not Purpose.REQUEST_RESTORE}

ADMIN_PURPOSES = frozenset(
    {
        Purpose.APPROVE,
        Purpose.DENY,
        Purpose.APPROVE_RESTORE,
        Purpose.DENY_RESTORE,
        Purpose.APPROVE_KEEP,
        Purpose.APPROVE_WAITING_KEEP,
        Purpose.DENY_WAITING_KEEP,
    }
)
#: Buttons that decide a keep waiting for an admin (four-eyes: nobody decides a keep of their own access).
KEEP_DECISIONS = frozenset({Purpose.APPROVE_KEEP, Purpose.APPROVE_WAITING_KEEP, Purpose.DENY_WAITING_KEEP})


@dataclass(frozen=True, slots=True)
class Button:
    """A button to render: its label, the raw single-use token, and a style hint."""

    label: str
    token: str
    style: str = ""  # primary | danger | ""
    purpose: Purpose | None = None


@dataclass(frozen=True, slots=True)
class ActionToken:
    """A stored single-use reference behind a button.

    ``intended`` is the only actor allowed to use it (user buttons), or ``None`` for admin
    buttons, which any admin except ``forbidden`` (the requester) may use.
    """

    token_hash: str
    purpose: Purpose
    org_id: str
    subject: str  # case id for keep/release; run id for approve/deny/confirm_run
    created_at: datetime
    expires_at: datetime
    intended: Actor | None = None
    forbidden: Actor | None = None
    account_id: str | None = None
    message_ref: str | None = None  # platform reference of the message to update in place
    used_at: datetime | None = None
    used_by: str | None = None
    outcome: str | None = None


class TokenStatus(StrEnum):
    """Result of trying to use a token."""

    OK = "ok"
    ALREADY_USED = "already_used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    WRONG_USER = "wrong_user"


@dataclass(frozen=True, slots=True)
class TokenUse:
    """What consuming a token found; ``token`` is set unless it was unknown."""

    status: TokenStatus
    token: ActionToken | None = None


def new_token(
    purpose: Purpose,
    org_id: str,
    subject: str,
    now: datetime,
    ttl: timedelta,
    *,
    intended: Actor | None = None,
    forbidden: Actor | None = None,
    account_id: str | None = None,
) -> tuple[str, ActionToken]:
    """A fresh random token: the raw value for the button, and the record to store."""
    raw = secrets.token_urlsafe(24)
    return raw, ActionToken(
        token_hash=hash_token(raw),
        purpose=purpose,
        org_id=org_id,
        subject=subject,
        created_at=now,
        expires_at=now + ttl,
        intended=intended,
        forbidden=forbidden,
        account_id=account_id,
    )


def hash_token(raw: str) -> str:
    """The stored form of a raw token."""
    return hashlib.sha256(raw.encode()).hexdigest()


def judge_use(token: ActionToken | None, actor: Actor, now: datetime) -> TokenStatus:
    """Whether ``actor`` may use ``token`` now (before the atomic consume)."""
    if token is None:
        return TokenStatus.UNKNOWN
    if token.intended is not None and token.intended != actor:
        return TokenStatus.WRONG_USER
    if token.forbidden is not None and token.forbidden == actor:
        return TokenStatus.WRONG_USER
    if token.used_at is not None:
        return TokenStatus.ALREADY_USED
    if now >= token.expires_at:
        return TokenStatus.EXPIRED
    return TokenStatus.OK
