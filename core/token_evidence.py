"""API-token evidence for a scan: read for the candidates, reused where a newer read changes nothing.

Atlassian has no bulk endpoint for API tokens, so every account the plan would warn or act on
costs one request. Evidence is reused for at most ``lifecycle.api_token_recheck_days`` (0: read on
every scan), but only where a fresher read could not lead to a warning or an action the older one
would not:

* evidence that keeps every decision of the account in the review lane (a token used within the
  rule's threshold): a newer read can only show a later use, so the account stays in review
  (a revoked token makes it actionable at most ``recheck_days`` later, never sooner);
* decisions whose warning is already delivered: the warning was decided on a fresh read, and
  the action is never decided here — the executor's final check reads the tokens again right
  before each write (:func:`core.engine.judgement.final_check`).

Everything else is read now: a first warning (no open case, a keep that ran out, a warning not
delivered yet), evidence past its recheck point, and evidence that could not be read last time
(unknown is never kept).

Each account falls due at its own point of the recheck window (:func:`recheck_due`), so that after
a first scan reads every candidate, the re-reads are spread evenly over the days of the window
instead of all falling on the same scan. Evidence is kept until the first of the account's recheck
points after it was read, never longer than the window: it may be read again sooner, never later.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.lifecycle import Case, CaseState
from core.model import Account, ApiEvidence, ApiUse, Claim
from core.planner import Decision, PlanBuilder, SkipReason, Verdict
from core.ports import ApiEvidenceStore, ApiTokenReader

#: Recheck points are counted from this instant (changing it would move every account's points).
RECHECK_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def recheck_phase(account_id: str, window: timedelta) -> timedelta:
    """The account's offset within every recheck ``window``: the same in every scan and every process.

    The first 8 bytes of the SHA-256 digest of the UTF-8 account id, read as a big-endian unsigned
    integer, modulo the window in whole microseconds. (Python's ``hash()`` is salted per process,
    so it would move the phase on every restart.) ``window`` must be positive.
    """
    if window <= timedelta(0):
        raise ValueError(f"recheck window must be positive, got {window}")
    digest = hashlib.sha256(account_id.encode("utf-8")).digest()
    return timedelta(microseconds=int.from_bytes(digest[:8], "big") % (window // timedelta(microseconds=1)))


def recheck_due(account_id: str, read_at: datetime, window: timedelta) -> datetime:
    """The last instant evidence read at ``read_at`` may be reused: the account's next recheck point.

    The account's recheck points are ``RECHECK_EPOCH + recheck_phase(account_id, window) + k * window``
    for every integer k; this is the first of them strictly after ``read_at``, so it falls in
    ``(read_at, read_at + window]``. ``read_at`` must be timezone-aware; ``window`` positive.
    """
    first = RECHECK_EPOCH + recheck_phase(account_id, window)
    return first + ((read_at - first) // window + 1) * window


def settled_warnings(open_cases: Mapping[tuple[str, str], Case]) -> frozenset[tuple[str, str]]:
    """(account id, rule) of warnings already delivered: decided on evidence read when they were sent."""
    return frozenset(
        key for key, case in open_cases.items() if case.state is CaseState.WARNED and case.delivered_at is not None
    )


@dataclass(slots=True)
class TokenEvidence:
    """Reads (or reuses) the API-token evidence of one scan's candidates, page by page."""

    reader: ApiTokenReader
    builder: PlanBuilder
    org_id: str
    cache: ApiEvidenceStore | None = None
    max_age: timedelta = timedelta(0)
    settled: frozenset[tuple[str, str]] = frozenset()
    reads: int = 0
    reused: int = 0
    _fresh: list[ApiEvidence] = field(default_factory=list)

    async def plan_page(self, page: Sequence[Account]) -> list[tuple[Account, tuple[Decision, ...]]]:
        """Each account of ``page`` with its decisions, the candidates' API evidence applied."""
        judged = [(account, self.builder.judge(account)) for account in page]
        wanted = [a.account_id for a, decisions in judged if _is_candidate(a, decisions)]
        kept = await self._recall(wanted)
        planned = []
        for account, decisions in judged:
            if not _is_candidate(account, decisions):
                planned.append((account, self.builder.add(account, judged=decisions)))
                continue
            api = self._reusable(account.account_id, decisions, kept.get(account.account_id))
            if api is None:
                api = await self._read(account)
            else:
                self.reused += 1
            planned.append((account, self.builder.add(account, api=api, judged=decisions)))
        await self._remember()
        return planned

    async def _recall(self, account_ids: Sequence[str]) -> Mapping[str, ApiEvidence]:
        if self.cache is None or not account_ids or self.max_age <= timedelta(0):
            return {}
        return await asyncio.to_thread(self.cache.recall_api_use, self.org_id, account_ids)

    async def _remember(self) -> None:
        if self.cache is not None and self._fresh:
            fresh, self._fresh = self._fresh, []
            await asyncio.to_thread(self.cache.remember_api_use, self.org_id, fresh)

    async def _read(self, account: Account) -> ApiUse:
        self.reads += 1
        try:
            api = await self.reader.api_use(account.account_id)
        except Exception as exc:  # fail closed: an unread token list never means "unused"
            return ApiUse.unknown(f"{type(exc).__name__}: {exc}")
        if api.known:
            self._fresh.append(ApiEvidence(account.account_id, api, self.builder.now))
        return api

    def _reusable(self, account_id: str, judged: tuple[Decision, ...], kept: ApiEvidence | None) -> ApiUse | None:
        """The kept evidence when a newer read could not change the outcome (see the module), else None."""
        if kept is None or not kept.api.known or self.max_age <= timedelta(0):
            return None
        if self.builder.now > recheck_due(account_id, kept.read_at, self.max_age):
            return None
        live = [d for d in judged if d.verdict is not Verdict.SKIP]
        reviewed = self.builder.review(tuple(live), kept.api)
        if all(d.skip_reason is SkipReason.USED_THROUGH_API for d in reviewed):
            return kept.api
        if all((account_id, d.rule) in self.settled for d in live):
            return kept.api
        return None


def _is_candidate(account: Account, decisions: tuple[Decision, ...]) -> bool:
    """Tokens are read for managed accounts the plan would warn, act on or delete.

    Atlassian refuses the token list of an unmanaged account to every org, so those are planned
    on page views alone (the README says so) rather than never being acted on.
    """
    return account.claim is Claim.MANAGED and any(d.verdict is not Verdict.SKIP for d in decisions)
