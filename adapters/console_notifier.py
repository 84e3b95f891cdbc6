"""A notifier that writes to the log (and keeps a transcript): the default before chat is configured.

It confirms delivery of warnings to the log, so it stands in for a channel that always
works; chat and email notifiers replace it and report real delivery results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import ANY_PRODUCT, Rule
from core.ports import Delivery

log = logging.getLogger("jira_cleanup.notify")


@dataclass(frozen=True, slots=True)
class Notice:
    """One message the notifier sent."""

    kind: str  # warn | escalate | approval | admin
    to: str
    text: str


@dataclass
class ConsoleNotifier:
    """Implements ``core.ports.Notifier`` by logging; ``transcript`` keeps every notice."""

    transcript: list[Notice] = field(default_factory=list)

    def _send(self, kind: str, to: str, text: str) -> None:
        self.transcript.append(Notice(kind, to, text))
        log.info("%s to %s: %s", kind, to, text)

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """Log the warning and report it delivered on the ``log`` channel."""
        when = case.deadline.date().isoformat() if case.deadline else "soon"
        scope = "all Atlassian products" if rule.is_any_product else rule.product
        self._send(
            "warn",
            account.email or account.account_id,
            f"You have not used {scope} for a while. Unless you keep your access, "
            f"jira-cleanup will {rule.action.value.replace('_', ' ')} on {when}.",
        )
        return Delivery(True, "log")

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Log the notice that access was removed, with how to ask for it back."""
        scope = "all Atlassian products" if case.product == ANY_PRODUCT else case.product
        self._send(
            "actioned",
            account.email or account.account_id,
            f"jira-cleanup removed your access to {scope} because it was not used. "
            "To get it back, ask your admins (or message the jira-cleanup bot: restore).",
        )
        return Delivery(True, "log")

    async def escalate(self, org_id: str, account: Account | None, case: Case, reason: str) -> None:
        """Log an escalation for the admins."""
        self._send("escalate", f"admins of {org_id}", f"account {case.account_id}: {reason}")

    async def request_approval(self, run: LifecycleRun, summary: str) -> None:
        """Log an approval request with the command that approves it."""
        self._send(
            "approval",
            f"admins of {run.org_id}",
            f"run {run.run_id} holds {run.held} actions for approval ({summary}). "
            f"Approve with: jira-cleanup approve {run.run_id}",
        )

    async def notify_admins(self, org_id: str, text: str) -> None:
        """Log a notice for the admins."""
        self._send("admin", f"admins of {org_id}", text)
