"""Ports: what the core needs from the outside world, as Protocols.

Adapters implement these without inheriting from them. Tests use in-memory fakes that
honour the same contracts (``tests/fakes.py``), and contract tests run the same assertions
against the fake and the real adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from core.audit import Anchor, AuditEntry, AuditEvent
from core.chat import ActionToken, Actor, Purpose, TokenUse
from core.ledger import EntryState, LedgerEntry, LifecycleRun
from core.lifecycle import Case, Op
from core.model import Account, AccountId, ApiEvidence, ApiUse, GroupId, Org
from core.planner import Decision, PlanSummary
from core.policy import Rule
from core.restore_model import RequestState, RestoreRequest


class Clock(Protocol):
    """Tells the time. Always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time, tz-aware."""
        ...


class DirectoryReader(Protocol):
    """Reads accounts from an Atlassian org's directory."""

    async def describe_org(self) -> Org:
        """Resolve the org and the directory to scan. Raises ``AccountNotFound`` for an unknown org."""
        ...

    def iter_accounts(self) -> AsyncIterator[Sequence[Account]]:
        """Yield every account of the directory, one page at a time.

        Pages are streamed: callers must not need more than one page in memory. Accounts the
        search left undated are completed by the per-user fallback; if that fails too they
        come back with ``activity_known=False``.
        """
        ...

    async def get_account(self, account_id: AccountId) -> Account:
        """Fetch one account, fully expanded. Raises ``AccountNotFound``."""
        ...

    async def count_accounts(self) -> int | None:
        """How many accounts ``iter_accounts`` will yield, or ``None`` when unknown (progress only)."""
        ...


@runtime_checkable
class ApiTokenReader(Protocol):
    """Reads the API tokens of one account (a directory that offers this is asked for candidates only)."""

    async def api_use(self, account_id: AccountId) -> ApiUse:
        """The account's API-token evidence; ``ApiUse.unknown`` when the tokens could not be read."""
        ...


@runtime_checkable
class ApiEvidenceStore(Protocol):
    """Keeps the API-token evidence read for an org's accounts, so a scan need not read it again.

    A store that offers this (the SQL store does) lets ``scan_and_plan`` reuse evidence where a
    newer read could not change what happens (see :mod:`core.token_evidence`).
    """

    def recall_api_use(self, org_id: str, account_ids: Sequence[str]) -> Mapping[str, ApiEvidence]:
        """The latest evidence kept for those of ``account_ids`` that have any."""
        ...

    def remember_api_use(self, org_id: str, evidence: Sequence[ApiEvidence]) -> None:
        """Keep ``evidence`` (known evidence only), replacing what was kept for the same accounts."""
        ...


class OpenCaseReader(Protocol):
    """The open cases of an org (a :class:`LifecycleStore` is one)."""

    def open_cases(self, org_id: str) -> Mapping[tuple[str, str], Case]:
        """Open cases of ``org_id`` keyed by (account id, rule)."""
        ...


class DirectoryWriter(Protocol):
    """Changes accounts in an Atlassian org. Every method is idempotent on Atlassian's side.

    Each raises ``AccountNotFound``, ``NotManageable(reason)``, ``RateLimited`` or
    ``DirectoryUnavailable``; none is ever called in dry-run mode.
    """

    async def suspend(self, account_id: AccountId) -> None:
        """Suspend the account's access to the org (v2); groups and roles are kept."""
        ...

    async def restore(self, account_id: AccountId) -> None:
        """Undo a suspension (v2)."""
        ...

    async def remove_from_directory(self, account_id: AccountId) -> None:
        """Remove the account from the directory (v2). Coming back needs a re-invite."""
        ...

    async def add_to_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """Add the account to a group (v2), re-granting what the group grants."""
        ...

    async def remove_from_group(self, group_id: GroupId, account_id: AccountId) -> None:
        """Remove the account from a group (v2)."""
        ...

    async def deactivate(self, account_id: AccountId, message: str | None = None) -> None:
        """Deactivate a managed account everywhere (user management ``lifecycle/disable``)."""
        ...

    async def activate(self, account_id: AccountId) -> None:
        """Re-activate a managed account (``lifecycle/enable``)."""
        ...

    async def delete_managed(self, account_id: AccountId) -> None:
        """Schedule a managed account for deletion after Atlassian's 14-day grace period."""
        ...

    async def cancel_delete(self, account_id: AccountId) -> None:
        """Cancel a scheduled deletion within the 14 days; Atlassian re-activates the account."""
        ...

    async def manageability(self, account_id: AccountId, privileges: Iterable[str]) -> Mapping[str, str | None]:
        """Map each privilege to ``None`` when allowed or to Atlassian's refusal reason key."""
        ...


@dataclass(frozen=True, slots=True)
class ScanRun:
    """A stored scan: when, over which org, under which policy, and its outcome."""

    run_id: str
    org_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | completed | failed
    policy_hash: str
    plan_hash: str | None
    accounts: int
    summary: Mapping[str, object] | None
    error: str | None = None


class ScanStore(Protocol):
    """Persists scans: the account snapshot, the decisions and the plan hash.

    Every row is keyed by org id. Methods are synchronous; async callers run them in a
    worker thread. ``save_*`` calls are idempotent for the same (run, account, rule).
    """

    def upsert_org(self, org: Org) -> None:
        """Record (or update) an org and its directory."""
        ...

    def start_scan(self, org_id: str, started_at: datetime, policy_hash: str) -> str:
        """Create a running scan and return its id."""
        ...

    def save_accounts(self, run_id: str, org_id: str, accounts: Sequence[Account]) -> None:
        """Store one page of the account snapshot of ``run_id``."""
        ...

    def save_decisions(self, run_id: str, org_id: str, decisions: Sequence[Decision]) -> None:
        """Store one page of planned decisions of ``run_id``."""
        ...

    def finish_scan(
        self,
        run_id: str,
        finished_at: datetime,
        *,
        status: str,
        plan_hash: str | None,
        accounts: int,
        summary: PlanSummary | None,
        error: str | None = None,
    ) -> None:
        """Close a scan as ``completed`` or ``failed``."""
        ...

    def get_scan(self, run_id: str) -> ScanRun:
        """Load a scan. Raises ``LookupError`` for an unknown id."""
        ...

    def latest_scan(self, org_id: str) -> ScanRun | None:
        """The most recently started scan of ``org_id``, if any."""
        ...

    def iter_decisions(self, run_id: str) -> Iterable[Decision]:
        """Every stored decision of ``run_id``, ordered by (account id, rule)."""
        ...

    def get_account(self, run_id: str, account_id: str) -> Account | None:
        """The snapshot of one account in ``run_id``."""
        ...

    def iter_accounts(self, run_id: str) -> Iterable[Account]:
        """Every account snapshot of ``run_id``, ordered by account id (streamed)."""
        ...


# -- lifecycle -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one attempt to deliver a warning or notice."""

    delivered: bool
    channel: str
    detail: str = ""
    #: Every channel tried for this message, in order: (channel, delivered, detail).
    attempts: tuple[tuple[str, bool, str], ...] = ()

    def tried(self) -> tuple[tuple[str, bool, str], ...]:
        """The attempts, or this delivery alone when it went through a single channel."""
        return self.attempts or ((self.channel, self.delivered, self.detail),)


class Notifier(Protocol):
    """Tells people things: warnings to users, approvals and escalations to admins.

    Chat and email adapters implement it; ``warn`` must only report ``delivered=True`` when the
    platform confirmed the message (the lifecycle's "no delivery, no action" rests on it).
    """

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """Warn ``account`` that ``rule`` will act at ``case.deadline``."""
        ...

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Tell ``account`` that jira-cleanup removed access (``case.effect``) and how to ask for it back.

        Best effort: the action stands whatever this returns.
        """
        ...

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """A plain message to the account's owner (e.g. someone asked for their access back).

        Delivered only when the platform confirmed it; never raises.
        """
        ...

    async def escalate(self, org_id: str, account: Account | None, case: Case, reason: str) -> None:
        """Tell the admins that a case needs a human (e.g. the warning could not be delivered)."""
        ...

    async def request_approval(self, run: LifecycleRun, summary: str) -> None:
        """Ask the admins to approve or deny the held actions of ``run``."""
        ...

    async def notify_admins(self, org_id: str, text: str) -> None:
        """A plain notice to the admins (paused, circuit breaker, canary failure...)."""
        ...


class WaitingKeeps(Protocol):
    """Keeps waiting for an admin's approval (``keep.approval_after``), as the engine meets them."""

    async def deadline_passed(self, case: Case) -> None:
        """``case``'s access was just removed at its deadline: a keep of it still waiting hears of it. Never raises."""
        ...


class NoWaitingKeeps:
    """:class:`WaitingKeeps` of a process without chat use cases: no keep ever waits there."""

    async def deadline_passed(self, case: Case) -> None:
        """Nothing waits."""


class CaseTransaction(Protocol):
    """One case locked for update, with its ledger entries; changes commit together or not at all.

    Keep requests and the executor's final check both go through this lock, which serializes
    them: a keep either lands before the executor commits ``REQUESTED`` (and the action is
    skipped) or after it (and a restore is queued). The audit rows written here commit with
    the change, so an event whose audit write fails did not happen.
    """

    case: Case
    entries: list[LedgerEntry]

    def save_case(self, case: Case) -> None:
        """Replace the locked case."""
        ...

    def save_entry(self, entry: LedgerEntry) -> None:
        """Insert or replace a ledger entry of this case."""
        ...

    def audit(self, entry: AuditEntry) -> None:
        """Append an audit event in this transaction."""
        ...


class LifecycleStore(Protocol):
    """Cases, the action ledger, runs, the pause switch and the audit chain.

    Synchronous; async callers use a worker thread. All times are tz-aware UTC.
    """

    def open_cases(self, org_id: str) -> Mapping[tuple[str, str], Case]:
        """Open cases of ``org_id`` keyed by (account id, rule)."""
        ...

    def get_case(self, case_id: str) -> Case:
        """One case. Raises ``LookupError`` when unknown."""
        ...

    def find_cases(self, org_id: str, account_id: str) -> Sequence[Case]:
        """Every case of one account, newest first."""
        ...

    def create_case(self, case: Case, audit: AuditEntry) -> None:
        """Insert a new case with its audit event. Raises ``ValueError`` if (org, account, rule) already has an
        open case."""
        ...

    def lock_case(self, case_id: str, *, epoch: int | None = None) -> AbstractContextManager[CaseTransaction]:
        """Lock one case and its entries for update; commit on normal exit, roll back on error.

        With ``epoch`` (the caller's leader epoch, see :class:`LeaderLock`): raises
        ``core.errors.FencedOut`` on entering, writing nothing, unless it is the org's current
        epoch; the check holds until the commit, and saved entries record ``epoch``.
        """
        ...

    def add_entries(self, entries: Sequence[LedgerEntry]) -> int:
        """Insert entries that do not exist yet (by id); return how many were new."""
        ...

    def get_entry(self, entry_id: str) -> LedgerEntry:
        """One entry. Raises ``LookupError`` when unknown."""
        ...

    def claim(
        self,
        org_id: str,
        worker: str,
        limit: int,
        *,
        run_id: str | None = None,
        ops: Collection[Op] | None = None,
        epoch: int | None = None,
    ) -> Sequence[LedgerEntry]:
        """Atomically move up to ``limit`` PLANNED entries to CLAIMED for ``worker`` (each claimed once).

        Only entries of ``run_id`` and of ``ops``, when given. With ``epoch``: ``FencedOut`` (nothing
        claimed) unless it is the org's current leader epoch.
        """
        ...

    def entries(
        self, org_id: str, *, states: Iterable[EntryState] | None = None, run_id: str | None = None
    ) -> Sequence[LedgerEntry]:
        """Entries of an org, optionally filtered, ordered by creation."""
        ...

    def set_entry_state(
        self,
        entry_id: str,
        expected: EntryState,
        new: EntryState,
        now: datetime,
        outcome: str = "",
        *,
        epoch: int | None = None,
    ) -> bool:
        """Compare-and-set an entry's state; False when it was not in ``expected``.

        With ``epoch``: ``FencedOut`` (nothing written) unless it is the current leader epoch of
        the entry's org.
        """
        ...

    def count_reducing_since(self, org_id: str, since: datetime) -> int:
        """Access-reducing entries claimed, requested or confirmed since ``since`` (for window caps)."""
        ...

    def save_run(self, run: LifecycleRun) -> None:
        """Insert or replace a lifecycle run."""
        ...

    def get_run(self, run_id: str) -> LifecycleRun:
        """One run. Raises ``LookupError`` when unknown."""
        ...

    def recent_runs(self, org_id: str | None, limit: int = 10) -> Sequence[LifecycleRun]:
        """The newest runs, newest first."""
        ...

    def is_paused(self, org_id: str) -> bool:
        """True while the kill switch is on for ``org_id``."""
        ...

    def set_paused(self, org_id: str, paused: bool, audit: AuditEntry) -> None:
        """Flip the kill switch, with its audit event."""
        ...

    def append_audit(self, entry: AuditEntry) -> AuditEvent:
        """Seal and append one audit event to the chain."""
        ...

    def audit_head(self) -> AuditEvent | None:
        """The newest audit event (the chain's head), or None when there is none."""
        ...

    def audit_anchor(self) -> Anchor | None:
        """Where the chain starts when older rows were archived (None: it starts at row 1)."""
        ...

    def iter_audit(self, *, since: datetime | None = None, org_id: str | None = None) -> Iterable[AuditEvent]:
        """Audit events in chain order (``since`` filters by time, ``org_id`` by org, for exports)."""
        ...


# -- chat ----------------------------------------------------------------------------------


class TokenStore(Protocol):
    """Single-use button references (stored by hash)."""

    def save_token(self, token: ActionToken) -> None:
        """Store a new token."""
        ...

    def save_token_if_none_open(self, token: ActionToken, now: datetime) -> ActionToken | None:
        """Store ``token`` unless a token of its org, purpose and subject is still open at ``now``.

        None when it was stored; otherwise nothing is stored and the open token is returned. Atomic:
        of any number of concurrent calls for one subject exactly one stores its token (one keep
        approval per warning however many Keep presses arrive at once).
        """
        ...

    def get_token(self, token_hash: str) -> ActionToken | None:
        """The token with this hash, if any."""
        ...

    def consume_token(self, token_hash: str, actor: Actor, now: datetime) -> TokenUse:
        """Atomically mark the token used by ``actor`` if :func:`core.chat.judge_use` allows it.

        Exactly one of any number of concurrent calls gets ``OK``; the others see ``ALREADY_USED``.
        """
        ...

    def set_outcome(self, token_hash: str, outcome: str) -> None:
        """Record what the click did."""
        ...

    def attach_message(self, token_hashes: Iterable[str], message_ref: str) -> None:
        """Remember which message carries these buttons, to update it in place after a click."""
        ...

    def count_issued(self, org_id: str, purpose: Purpose, subject: str, since: datetime) -> int:
        """How many tokens of ``purpose`` about ``subject`` were issued since ``since`` (for rate limits)."""
        ...

    def open_tokens(self, org_id: str, purpose: Purpose, subject: str | None, now: datetime) -> list[ActionToken]:
        """The tokens of ``purpose`` about ``subject`` (None: any subject) still usable at ``now``
        (not used, not expired), oldest first."""
        ...


class ProtectionStore(Protocol):
    """Protections added at runtime (e.g. ``/jira-cleanup protect``), merged into the policy's."""

    def protections(self, org_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """(accounts, groups) protected in ``org_id`` beyond the policy file."""
        ...

    def set_protection(self, org_id: str, kind: str, value: str, protected: bool, audit: AuditEntry) -> None:
        """Add (``protected``) or remove a protection of ``kind`` account|group, with its audit event."""
        ...


class LeaderLock(Protocol):
    """Leader election among replicas of the service, with a fencing epoch per leadership.

    One object holds at most one org's leadership at a time. The epoch ``acquire`` returns
    grows by one with every new leadership of the org; pass it to the store's ``claim``,
    ``set_entry_state`` and ``lock_case`` so that a replica that lost leadership without
    noticing (a pause, a dropped connection) is refused (``FencedOut``) instead of writing.
    """

    def acquire(self, org_id: str) -> int | None:
        """Try once, without waiting: the new fencing epoch when this replica now leads ``org_id``, else None.

        Called again while still leading ``org_id`` it returns the current epoch; after a lost
        leadership it competes anew (no ``release`` needed first).
        """
        ...

    def still_leader(self) -> bool:
        """True while the lock is held (its connection or file lock is alive and the epoch unchanged)."""
        ...

    def release(self) -> None:
        """Give leadership up (idempotent); ``acquire`` may be called again afterwards."""
        ...

    def replicas(self, group: str = "") -> int:
        """How many replicas serving ``group`` (the same orgs) run right now, this one included (at least 1).

        A replica leads at most its fair share of the orgs it serves (their number divided by
        this), so replicas started later get orgs too.
        """
        ...


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """Where a chat platform lets the bot write to a person or a channel later (proactively).

    ``kind`` is ``personal`` (a 1:1 chat the bot can continue), ``member`` (a person the bot
    only saw in a team: a 1:1 must be created first) or ``channel`` (a team channel).
    ``reference`` is the platform's own serialized reference (for Teams, a
    ``ConversationReference`` as JSON), kept opaque to the core.
    """

    platform: str  # teams
    kind: str  # personal | member | channel
    tenant: str
    service_url: str
    reference: Mapping[str, object]
    updated_at: datetime
    user_id: str | None = None  # AAD object id for personal/member
    email: str | None = None  # lower-case, when the platform told us
    channel_id: str | None = None  # for channel


class ConversationStore(Protocol):
    """Conversation references captured on install / first message, for proactive messages.

    One record per (platform, kind, tenant, user) or (platform, channel); saving again replaces it.
    """

    def save_conversation(self, record: ConversationRecord) -> None:
        """Insert or replace the record for the same person (or channel)."""
        ...

    def conversation_for_user(self, platform: str, tenant: str, user_id: str) -> ConversationRecord | None:
        """The best record for a person: ``personal`` before ``member``."""
        ...

    def conversation_for_email(self, platform: str, email: str) -> ConversationRecord | None:
        """The best record for an email (case-insensitive), newest first among equals."""
        ...

    def conversation_for_channel(self, platform: str, channel_id: str) -> ConversationRecord | None:
        """A stored channel."""
        ...


# -- restore requests ----------------------------------------------------------------------


class RestoreRequestStore(Protocol):
    """Self-service restore requests, with their audit events (in the same transaction)."""

    def create_request(self, request: RestoreRequest, audit: AuditEntry) -> bool:
        """Insert ``request``; False (nothing written) when its id already exists (a retried webhook)."""
        ...

    def get_request(self, request_id: str) -> RestoreRequest:
        """One request. Raises ``LookupError`` when unknown."""
        ...

    def update_request(self, request: RestoreRequest, expected: RequestState, audit: AuditEntry) -> bool:
        """Replace the request if it is still in ``expected`` (compare-and-set); False otherwise."""
        ...

    def count_requests(self, org_id: str, account_id: str, since: datetime) -> int:
        """Requests about ``account_id`` created since ``since`` (for the per-account rate limit)."""
        ...

    def count_auto_restored(self, org_id: str, account_id: str, since: datetime) -> int:
        """Requests about ``account_id`` restored by an auto-approve rule since ``since``."""
        ...

    def pending_requests(self, org_id: str) -> Sequence[RestoreRequest]:
        """Requests of ``org_id`` waiting for an admin, oldest first."""
        ...

    def approved_requests(self, org_id: str) -> Sequence[RestoreRequest]:
        """Requests of ``org_id`` approved but not restored or failed yet (queued restores), oldest first."""
        ...

    def mark_told(self, request_id: str, at: datetime) -> None:
        """Record that the requester was told the final outcome of ``request_id``."""
        ...

    def untold_requests(self, org_id: str) -> Sequence[RestoreRequest]:
        """Decided (final) requests whose requester was not told yet, oldest first."""
        ...


class RequesterChannel(Protocol):
    """Answers a restore requester on the channel they used (JSM comment, email, chat DM)."""

    async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
        """Tell the requester the outcome of ``request``; raise on failure (the caller logs it)."""
        ...
