"""The pure judge of self-service restore requests: deny, ask an admin, or restore at once.

Nothing here does I/O. :class:`core.restore.RestoreDesk` gathers the facts (the account as of
the latest scan, its lifecycle cases, how many restores were auto-approved recently) and
asks :func:`judge_restore`; the policy's ``restore:`` section (:class:`core.policy.RestoreRules`)
says what is allowed.

Reasons are plain language: they are shown to the requester and kept in the audit trail, and
the desk embeds them in a sentence, so they carry no final full stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.engine import REMOVED_FROM_DIRECTORY
from core.lifecycle import Case, CaseState, kept_times, needs_keep_approval
from core.model import Account
from core.policy import AutoApprove, KeepRules, RestoreRules


class Route(StrEnum):
    """Where a restore request goes."""

    AUTO = "auto"  # an auto-approve rule matched: restore at once
    ADMIN = "admin"  # an admin decides
    DENY = "deny"  # refused with a reason; nothing changes


@dataclass(frozen=True, slots=True)
class RestoreVerdict:
    """The judge's answer; ``rule`` names the auto-approve rule that matched (AUTO only)."""

    route: Route
    reason: str
    rule: str | None = None


NOTHING_REMOVED = "nothing to restore: jira-cleanup has not removed access for this account"
#: A warned person asking for access back: the answer points to the one way to keep it (and its approval).
NOT_REMOVED_YET = (
    "nothing to restore: your access has not been removed yet; to keep it, use “Keep my access” in your warning"
)
_LEFT_DIRECTORY = "the account was removed from the directory; invite the person again"
_DELETED = (
    "the account was deleted and Atlassian's 14-day grace period is over; "
    "it cannot be restored (invite the person again)"
)


def restorable(cases: Sequence[Case]) -> tuple[Case, ...]:
    """The cases a restore can undo, in the given order.

    As in :meth:`core.engine.Engine.restore`: an ``ACTIONED`` case, or a ``DELETION_SCHEDULED``
    one that still records what was changed (an ``effect``: deleted within Atlassian's 14-day
    grace). ``DELETED`` cases and removals from the directory cannot be undone.
    """
    return tuple(
        c
        for c in cases
        if c.state is CaseState.ACTIONED or (c.state is CaseState.DELETION_SCHEDULED and c.effect is not None)
    )


def judge_restore(
    account: Account | None,
    cases: Sequence[Case],
    rules: RestoreRules,
    *,
    source: str,
    restored_recently: int,
    kept: int = 0,
    keep: KeepRules | None = None,
) -> RestoreVerdict:
    """Route one self-service restore request.

    ``account`` is the account as of the latest scan (``None`` when that scan does not have it),
    ``cases`` are its lifecycle cases and ``restored_recently`` counts its auto-approved restores
    in the last ``rules.limit_days`` days. The first check that applies decides:

    1. ``source`` is not in ``rules.sources`` → DENY.
    2. The account is unknown → DENY.
    3. Nothing is restorable (:func:`restorable`) → DENY, with the engine's reason (nothing was
       removed, or the account was deleted / removed from the directory and must be invited again).
    4. The account is in one of ``rules.deny_groups`` (group name, case-insensitive, or group id)
       → DENY. The reason stays neutral and names the group(s) only at its end, for the audit.
    5. The access was kept ``kept`` times within the keep period and ``keep.approval_after`` says
       another keep needs an admin → ADMIN: a restore after the action is a keep that came late,
       so it never gets past the keep approval through a restore rule.
    6. ``restored_recently >= rules.limit_max`` → ADMIN (``limit_max`` 0: never auto-approve).
    7. The first ``rules.auto_approve`` rule that matches → AUTO, naming the rule. Within a rule
       every condition present must hold; within a condition any value may match. Groups are the
       account's groups as of the latest scan (product-access groups jira-cleanup removed are
       gone by then, which is what ``products`` is for); products are the ``product`` of the
       restorable cases (``any`` for org-wide suspend/deactivate rules).
    8. Otherwise → ADMIN.

    Raises ``ValueError`` when ``restored_recently`` is negative.
    """
    if restored_recently < 0:
        raise ValueError(f"restored_recently must be >= 0 (got {restored_recently})")
    if source not in rules.sources:
        return RestoreVerdict(Route.DENY, f"requests from {source} are not accepted; contact your admins")
    if account is None:
        return RestoreVerdict(Route.DENY, "this account is not in the latest directory scan; contact your admins")
    undoable = restorable(cases)
    if not undoable:
        return RestoreVerdict(Route.DENY, _refusal(cases))
    denied = sorted({g.name for g in account.groups if _in_groups(g.name, g.id, rules.deny_groups)})
    if denied:
        which = f"group {denied[0]}" if len(denied) == 1 else f"groups {', '.join(denied)}"
        return RestoreVerdict(Route.DENY, f"restoring this access needs your IT team; please contact them ({which})")
    held = _admin_first(rules, restored_recently, kept, keep)
    if held is not None:
        return held
    products = frozenset(c.product.lower() for c in undoable)
    for rule in rules.auto_approve:
        if matches(rule, account, products):
            return RestoreVerdict(Route.AUTO, f"approved by restore rule {rule.name}", rule.name)
    return RestoreVerdict(Route.ADMIN, "no auto-approve rule matches")


def _admin_first(
    rules: RestoreRules, restored_recently: int, kept: int, keep: KeepRules | None
) -> RestoreVerdict | None:
    """Steps 5 and 6 of :func:`judge_restore`: an admin decides whatever the auto-approve rules say."""
    if keep is not None and needs_keep_approval(keep, kept) is not None:
        return RestoreVerdict(
            Route.ADMIN, f"this access was {kept_times(kept)} in {keep.period_days} days: an admin must approve"
        )
    if restored_recently >= rules.limit_max:
        if rules.limit_max == 0:
            return RestoreVerdict(Route.ADMIN, "auto-approval is switched off (restore limit max is 0)")
        return RestoreVerdict(
            Route.ADMIN, f"restore limit reached: {restored_recently} in the last {rules.limit_days} days"
        )
    return None


def matches(rule: AutoApprove, account: Account, products: frozenset[str]) -> bool:
    """True when every condition of ``rule`` holds for ``account`` and the ``products`` a restore gives back.

    An absent condition (empty set) holds; a rule without any condition never matches (the
    policy parser refuses such rules, so this only guards hand-built ones).
    """
    if not (rule.groups or rule.email_domains or rule.products):
        return False
    if rule.groups and not any(_in_groups(g.name, g.id, rule.groups) for g in account.groups):
        return False
    if rule.email_domains and not any(domain_matches(account.email, d) for d in rule.email_domains):
        return False
    return not rule.products or not rule.products.isdisjoint(products)


def domain_matches(email: str | None, pattern: str) -> bool:
    """True when the domain of ``email`` is ``pattern`` (case-insensitive).

    ``acme.com`` matches only ``acme.com`` (not ``evil-acme.com``, ``acme.com.evil`` or
    ``eu.acme.com``); ``*.acme.com`` matches any subdomain of acme.com (``eu.acme.com``,
    ``a.b.acme.com``) but not acme.com itself. A missing email or one without ``@`` never matches.
    """
    if not email or "@" not in email:
        return False
    local, _, domain = email.strip().rpartition("@")
    domain = domain.lower().removesuffix(".")
    pattern = pattern.strip().lower()
    if not local or not all(domain.split(".")):  # no domain, or an empty label (".acme.com", "a..acme.com")
        return False
    if pattern.startswith("*."):
        parent = pattern[2:]
        return bool(parent) and domain.endswith("." + parent)
    return domain == pattern


def _in_groups(name: str, group_id: str, wanted: frozenset[str]) -> bool:
    return name.lower() in wanted or group_id.lower() in wanted


def _refusal(cases: Sequence[Case]) -> str:
    """Why nothing can be restored, worded like the engine's refusals."""
    reasons: list[str] = []
    for case in cases:
        if case.state is CaseState.DELETED:
            reason = _LEFT_DIRECTORY if case.closed_reason == REMOVED_FROM_DIRECTORY else _DELETED
        elif case.state is CaseState.DELETION_SCHEDULED and case.effect is None:
            reason = _LEFT_DIRECTORY
        else:
            continue
        if reason not in reasons:
            reasons.append(reason)
    if not reasons and any(case.state is CaseState.WARNED for case in cases):
        return NOT_REMOVED_YET
    return "; ".join(reasons) or NOTHING_REMOVED
