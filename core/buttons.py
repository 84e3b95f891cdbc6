"""Issuing the single-use tokens behind buttons, for notifiers and chat handlers alike."""

from __future__ import annotations

from datetime import timedelta

from core.chat import ActionToken, Actor, Button, Purpose, hash_token, new_token
from core.ports import Clock, TokenStore

#: How long a warning's buttons work; later, keeping access goes through an admin.
BUTTON_TTL = timedelta(days=45)
APPROVAL_TTL = timedelta(hours=72)
CONFIRM_TTL = timedelta(minutes=15)
#: How long an emailed "Request access back" link works.
RESTORE_LINK_TTL = timedelta(days=30)


class ButtonIssuer:
    """Creates and stores tokens; returns buttons carrying the raw values.

    Calls are synchronous (they write to the store): async callers use a worker thread.
    """

    def __init__(self, tokens: TokenStore, clock: Clock, org_id: str) -> None:
        self.tokens = tokens
        self.clock = clock
        self.org_id = org_id

    def _issue(
        self,
        label: str,
        style: str,
        purpose: Purpose,
        subject: str,
        ttl: timedelta,
        *,
        intended: Actor | None = None,
        forbidden: Actor | None = None,
        account_id: str | None = None,
    ) -> Button:
        raw, token = new_token(
            purpose,
            self.org_id,
            subject,
            self.clock.now(),
            ttl,
            intended=intended,
            forbidden=forbidden,
            account_id=account_id,
        )
        self.tokens.save_token(token)
        return Button(label, raw, style, purpose)

    def warning(self, case_id: str, account_id: str, recipient: Actor) -> tuple[Button, Button]:
        """Keep my access / I don't need it, usable only by ``recipient``."""
        return (
            self._issue(
                "Keep my access",
                "primary",
                Purpose.KEEP,
                case_id,
                BUTTON_TTL,
                intended=recipient,
                account_id=account_id,
            ),
            self._issue(
                "I don't need it", "", Purpose.RELEASE, case_id, BUTTON_TTL, intended=recipient, account_id=account_id
            ),
        )

    def email_keep(self, case_id: str, account_id: str, recipient: Actor) -> Button:
        """The "Keep my access" link of a warning email. Email never gets a button that reduces access."""
        return self._issue(
            "Keep my access", "primary", Purpose.KEEP, case_id, BUTTON_TTL, intended=recipient, account_id=account_id
        )

    def restore_link(self, account_id: str, recipient: Actor) -> Button:
        """The "Request access back" link of an email sent after jira-cleanup acted."""
        return self._issue(
            "Request access back",
            "primary",
            Purpose.REQUEST_RESTORE,
            account_id,
            RESTORE_LINK_TTL,
            intended=recipient,
            account_id=account_id,
        )

    def approval(self, run_id: str, requester: Actor | None) -> tuple[Button, Button]:
        """Approve / Deny a held run; any admin but the requester."""
        return (
            self._issue("Approve", "primary", Purpose.APPROVE, run_id, APPROVAL_TTL, forbidden=requester),
            self._issue("Deny", "danger", Purpose.DENY, run_id, APPROVAL_TTL, forbidden=requester),
        )

    def restore_request(self, request_id: str, account_id: str, requester: Actor) -> tuple[Button, Button]:
        """Approve / Deny restore request ``request_id``; any admin but the requester."""
        return (
            self._issue(
                "Approve restore",
                "primary",
                Purpose.APPROVE_RESTORE,
                request_id,
                APPROVAL_TTL,
                forbidden=requester,
                account_id=account_id,
            ),
            self._issue(
                "Deny",
                "danger",
                Purpose.DENY_RESTORE,
                request_id,
                APPROVAL_TTL,
                forbidden=requester,
                account_id=account_id,
            ),
        )

    def keep_approval(self, case_id: str, account_id: str, requester: Actor) -> Button | None:
        """Approve another keep of case ``case_id`` (``keep.approval_after``); any admin but the person.

        One per warning: None (nothing issued) while an approval of this case is open, decided
        atomically by the store, so simultaneous presses cannot ask twice. It lasts as long as the
        person's own Keep button: approved after the deadline, the access is given back.
        """
        now = self.clock.now()
        raw, token = new_token(
            Purpose.APPROVE_KEEP, self.org_id, case_id, now, BUTTON_TTL, forbidden=requester, account_id=account_id
        )
        if self.tokens.save_token_if_none_open(token, now) is not None:
            return None
        return Button("Approve keep", raw, "primary", Purpose.APPROVE_KEEP)

    def waiting_keep(self, approval: ActionToken) -> tuple[Button, Button]:
        """Approve / Deny the keep waiting on ``approval`` (an open Approve keep), e.g. from the admin home.

        Each decides through ``approval`` itself (its single use), so they are bound like it: any admin
        but the person who pressed Keep, and never past it.
        """
        ttl = min(APPROVAL_TTL, approval.expires_at - self.clock.now())
        who, account = approval.forbidden, approval.account_id
        return (
            self._issue(
                "Approve keep",
                "primary",
                Purpose.APPROVE_WAITING_KEEP,
                approval.subject,
                ttl,
                forbidden=who,
                account_id=account,
            ),
            self._issue(
                "Deny keep",
                "danger",
                Purpose.DENY_WAITING_KEEP,
                approval.subject,
                ttl,
                forbidden=who,
                account_id=account,
            ),
        )

    def confirm_run(self, requester: Actor) -> Button:
        """Run now, usable only by the admin who asked."""
        return self._issue("Run now", "danger", Purpose.CONFIRM_RUN, "run", CONFIRM_TTL, intended=requester)

    def attach(self, buttons: tuple[Button, ...], message_ref: str) -> None:
        """Remember the message that carries ``buttons``."""
        self.tokens.attach_message([hash_token(b.token) for b in buttons], message_ref)
