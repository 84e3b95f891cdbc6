"""A notifier that writes a transcript (and the log): what a dry run shows, never a delivery.

A log line reaches nobody, so :meth:`ConsoleNotifier.warn` and :meth:`ConsoleNotifier.actioned`
report *not delivered*: in enforce mode a warning that only reached this notifier never lets
an action happen. A dry run uses it as its preview, to show what people would be told.
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

NOT_A_DELIVERY = "written to the log only: no channel reaches people (configure Slack, Teams or SMTP)"


@dataclass(frozen=True, slots=True)
class Notice:
    """One message the notifier sent."""

    kind: str  # warn | escalate | approval | admin
    to: str
    text: str


@dataclass
class ConsoleNotifier:
    """Implements ``core.ports.Notifier`` by logging; ``transcript`` keeps every notice.

    Person-facing messages are never reported delivered (see the module docstring).
    """

    transcript: list[Notice] = field(default_factory=list)
    #: The transcript keeps the first ``limit`` notices (a long-running ``serve`` must not grow);
    #: ``counts`` counts every notice by kind.
    limit: int = 1000
    counts: dict[str, int] = field(default_factory=dict)

    def _send(self, kind: str, to: str, text: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.transcript) < self.limit:
            self.transcript.append(Notice(kind, to, text))
        log.info("%s to %s: %s", kind, to, text)

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """Write the warning to the transcript; a transcript is not a delivery."""
        when = case.deadline.date().isoformat() if case.deadline else "soon"
        scope = "all Atlassian products" if rule.is_any_product else rule.product
        self._send(
            "warn",
            account.email or account.account_id,
            f"You have not used {scope} for a while. Unless you keep your access, "
            f"jira-cleanup will {rule.action.value.replace('_', ' ')} on {when}.",
        )
        return Delivery(False, "log", NOT_A_DELIVERY)

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Log the notice that access was removed, with how to ask for it back."""
        scope = "all Atlassian products" if case.product == ANY_PRODUCT else case.product
        self._send(
            "actioned",
            account.email or account.account_id,
            f"jira-cleanup removed your access to {scope} because it was not used. "
            "To get it back, ask your admins (or message the jira-cleanup bot: restore).",
        )
        return Delivery(False, "log", NOT_A_DELIVERY)

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """Log a message to the owner (not a delivery: nobody reads the log for them)."""
        self._send("message", account.email or account.account_id, f"{subject}: {text}")
        return Delivery(False, "log", NOT_A_DELIVERY)

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
