"""``TeamsNotifier``: the lifecycle's :class:`core.ports.Notifier` over the Bot Framework (Teams).

Warnings go to the account's owner in their 1:1 chat with the bot; approvals, escalations and
notices go to the admin channel. Contracts:

* ``warn`` returns ``Delivery(True, "teams", …)`` only when the connector accepted the post and
  returned its activity id (the lifecycle's "no delivery, no action" rests on it). No email, no
  stored conversation for the email (the app is not installed for them), a 403
  ``BotNotInConversationRoster`` / ``MessageWritesBlocked``, throttling still hit after retries,
  network errors: ``Delivery(False, "teams", "<code>: <words>")``, never an exception.
* The person is found by email in the :class:`core.ports.ConversationStore` (references
  captured on install / first message). A ``member`` record (seen in a team, no 1:1 yet) gets
  its 1:1 created first (``POST /v3/conversations`` with the tenant), which is then stored.
* ``actioned`` (the notice after an action) reaches the person the same way and reports the
  same way; it has no buttons: the Teams app takes ``restore`` typed in the 1:1 chat.
* The buttons' raw tokens come from :meth:`core.buttons.ButtonIssuer.warning`, bound to
  ``Actor("teams", tenant id, AAD object id)``, and are attached to a :class:`~adapters.teams.cards.MessageRef`.
* Admin-channel posts are best effort: failures are logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from adapters.chat_notifier import ChatNotifierBase, Parent
from adapters.teams import cards
from adapters.teams.connector import TeamsConnector, TeamsSendError, classify, message
from core.buttons import ButtonIssuer
from core.chat import Actor, Button, actor_of_audit_id
from core.clock import SystemClock
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule
from core.ports import Clock, ConversationRecord, ConversationStore, Delivery

log = logging.getLogger("jira_cleanup.teams.notifier")

CHANNEL: Final = "teams"
PLATFORM: Final = "teams"


def actor_from_audit_id(audit_id: str | None) -> Actor | None:
    """``teams:<tenant>/<aad id>`` back to a Teams :class:`Actor`; anything else is None."""
    return actor_of_audit_id(audit_id, "teams")


class TeamsNotifier(ChatNotifierBase):
    """Implements ``core.ports.Notifier`` over Teams (see the module docstring for the contract)."""

    def __init__(
        self,
        connector: TeamsConnector,
        conversations: ConversationStore,
        issuer: ButtonIssuer,
        *,
        justification_required: Callable[[], bool] = lambda: False,
        clock: Clock | None = None,
        **common: Any,
    ) -> None:
        super().__init__(issuer, **common)  # admin_channel, price, currency, contact
        self.connector = connector
        self.conversations = conversations
        self.justification_required = justification_required
        self.clock = clock or SystemClock()

    # -- posting ---------------------------------------------------------------------------

    async def _personal(self, record: ConversationRecord) -> ConversationRecord:
        """A record whose reference can be posted to (a 1:1 is created for a ``member`` record)."""
        if record.kind != "member":
            return record
        ref = record.reference
        member_id, bot_id = str(ref.get("memberId") or ""), str(ref.get("botId") or "")
        if not member_id or not bot_id:
            raise TeamsSendError("invalid_reference", None, "member record without member or bot id")
        created = await self.connector.create_personal(record.tenant, record.service_url, member_id, bot_id)
        personal = replace(record, kind="personal", reference=created, updated_at=self.clock.now())
        try:
            await asyncio.to_thread(self.conversations.save_conversation, personal)
        except Exception:  # the chat exists; storing it only saves a call next time
            log.exception("could not store the new 1:1 chat with %s", record.user_id)
        return personal

    async def post(self, record: ConversationRecord, text: str, card: Mapping[str, Any]) -> cards.MessageRef:
        """Post a card into a stored conversation; raises :class:`TeamsSendError`."""
        target = await self._personal(record)
        activity_id = await self.connector.send(target.reference, message(text, card))
        conversation = target.reference.get("conversation")
        conversation_id = str(conversation.get("id", "")) if isinstance(conversation, Mapping) else ""
        return cards.MessageRef(conversation_id, activity_id, _headline(card))

    async def dm_actor(self, actor: Actor, text: str) -> bool:
        """A plain message to a Teams person the bot has a conversation with; False (logged) if not."""
        record = await asyncio.to_thread(
            self.conversations.conversation_for_user, PLATFORM, actor.tenant, actor.user_id
        )
        if record is None:
            log.warning("no Teams conversation with %s: not told %r", actor.audit_id, text)
            return False
        try:
            await self.post(record, *cards.plain(text))
        except TeamsSendError as exc:
            log.warning("could not message %s (%s)", actor.audit_id, exc.code)
            return False
        return True

    async def admin_record(self) -> ConversationRecord | None:
        """The admin channel's stored reference (None, logged, when unset or never seen)."""
        if not self.admin_channel:
            return None
        return await asyncio.to_thread(self.conversations.conversation_for_channel, PLATFORM, self.admin_channel)

    async def post_admins(
        self,
        text: str,
        card: Mapping[str, Any],
        buttons: tuple[Button, ...] = (),
        *,
        parent: Parent | None = None,
    ) -> cards.MessageRef | None:
        """Post to the admin channel and attach ``buttons``' tokens; None (logged) when it failed.

        ``parent``: the post opens that request's admin thread (its place is remembered).
        """
        record = await self.admin_record()
        if record is None:
            log.warning("no Teams admin channel reference (TEAMS_ADMIN_CHANNEL_ID, bot installed there?): %s", text)
            return None
        try:
            where = await self.post(record, text, card)
        except TeamsSendError as exc:
            log.error("could not post to the Teams admin channel (%s): %s", exc.code, text)
            return None
        if buttons:
            await self._attach(buttons, where)
        if parent is not None and record.channel_id:
            await self.opened(parent, PLATFORM, record.channel_id, where.activity_id)
        return where

    async def _attach(self, buttons: tuple[Button, ...], where: cards.MessageRef) -> None:
        try:
            await asyncio.to_thread(self.issuer.attach, buttons, where.dumps())
        except Exception:  # the message is out; updating it in place later is a nicety
            log.exception("could not attach message %s to its buttons", where.activity_id)

    # -- Notifier --------------------------------------------------------------------------

    async def _reach(self, account: Account) -> ConversationRecord | Delivery:
        """The owner's 1:1 chat (created for a ``member`` record), found by email; or the failed :class:`Delivery`."""
        if not account.email:
            return Delivery(False, CHANNEL, "no_email: the Atlassian account has no email to find it in Teams")
        try:
            record = await asyncio.to_thread(self.conversations.conversation_for_email, PLATFORM, account.email)
        except Exception as exc:
            return Delivery(False, CHANNEL, f"store_error: {type(exc).__name__}")
        if record is None or not record.user_id:
            return Delivery(
                False,
                CHANNEL,
                "not_installed: no Teams conversation for this email (the app is not installed for them)",
            )
        try:
            return await self._personal(record)
        except TeamsSendError as exc:
            return Delivery(False, CHANNEL, f"{exc.code}: could not open a 1:1 chat with {record.user_id}")

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """Message the account's owner with Keep / I don't need it; delivered only when posted."""
        target = await self._reach(account)
        if isinstance(target, Delivery):
            return target
        assert target.user_id is not None
        recipient = Actor(PLATFORM, target.tenant, target.user_id, account.name or "")
        buttons = await self.warning_buttons(account, case, recipient)
        required = self.justification_required()
        text, card = cards.warning(
            account, case, rule, buttons=buttons, justification_required=required, **self.wording(account, rule)
        )
        try:
            where = await self.post(target, text, card)
        except Exception as exc:
            error = classify(exc)
            return Delivery(False, CHANNEL, f"{error.code}: posting the warning to {target.user_id} failed")
        await self._attach(buttons, where)
        return Delivery(True, CHANNEL, f"chat {where.conversation_id}:{where.activity_id} to {target.user_id}")

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Message the owner what was removed and that replying ``restore`` asks for it back; no buttons.

        Found like :meth:`warn`; delivered only when the connector accepted the post. Never raises.
        """
        target = await self._reach(account)
        if isinstance(target, Delivery):
            return target
        text, card = cards.actioned(account, case, contact=self.contact)
        try:
            where = await self.post(target, text, card)
        except Exception as exc:
            error = classify(exc)
            return Delivery(False, CHANNEL, f"{error.code}: posting the notice to {target.user_id} failed")
        return Delivery(True, CHANNEL, f"chat {where.conversation_id}:{where.activity_id} to {target.user_id}")

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """Message the owner ``text`` (found like :meth:`warn`); delivered only when the connector accepted it."""
        target = await self._reach(account)
        if isinstance(target, Delivery):
            return target
        try:
            where = await self.post(target, *cards.plain(text))
        except Exception as exc:
            return Delivery(False, CHANNEL, f"{classify(exc).code}: posting the message to {target.user_id} failed")
        return Delivery(True, CHANNEL, f"chat {where.conversation_id}:{where.activity_id} to {target.user_id}")

    async def escalate(self, org_id: str, account: Account | None, case: Case, reason: str) -> None:
        """Post the case and the reason to the admin channel (best effort)."""
        text, card = cards.escalation(org_id, account, case, reason)
        await self.post_admins(text, card, parent=self.escalation_parent(org_id, case, text))

    async def request_approval(self, run: LifecycleRun, summary: str) -> None:
        """Post Approve / Deny for a held run to the admin channel; a Teams requester may not use them."""
        buttons = await self.approval_buttons(run, PLATFORM)
        text, card = cards.approval(run, summary, buttons)
        await self.post_admins(text, card, buttons, parent=self.approval_parent(run, summary))

    async def notify_admins(self, org_id: str, text: str) -> None:
        """A plain notice to the admin channel (best effort)."""
        await self.post_admins(*cards.notice(org_id, text))


def _headline(card: Mapping[str, Any]) -> str:
    body = card.get("body") or []
    first = body[0] if body and isinstance(body[0], Mapping) else {}
    return str(first.get("text") or "") if first.get("weight") == "Bolder" else ""
