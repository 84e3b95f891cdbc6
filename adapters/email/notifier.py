"""Implements ``core.ports.Notifier`` by email (aiosmtplib), plus notices to restore requesters.

Contract
--------
* ``warn`` sends a multipart (text + HTML) email with a **Keep my access** link only: email never
  carries a link that reduces access. ``Delivery(True)`` means the SMTP server accepted the
  recipient; a refused recipient, a refused connection, a timeout or an authentication failure is
  ``Delivery(False, "email", "<code> <reason>")`` — never an exception.
* ``actioned`` tells the person access was removed, with a **Request access back** link.
* Links are ``{base_url}/email/t/{token}``: a single-use token whose hash is stored, bound to the
  account and the case; the page behind it confirms before anything happens (``bot.email_pages``).
* Admin messages (escalations, approval requests, notices) go to ``admin_addresses`` in plain
  text; approvals themselves happen in chat or with the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib

from adapters.email.templates import Templates
from adapters.wording import (
    ACTION_TEXT,
    ACTIONED_TEXT,
    actioned_headline,
    actioned_what,
    approval_title,
    day,
    deletion_note,
    last_active,
    money,
    monthly_cost,
    product_name,
)
from core.buttons import ButtonIssuer
from core.chat import Actor, Button
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import ANY_PRODUCT, Rule
from core.ports import Clock, Delivery

log = logging.getLogger("jira_cleanup.email")

CHANNEL = "email"
TLS_MODES = ("none", "starttls", "tls")
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to send mail."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | tls
    timeout: float = 15.0
    admin_addresses: tuple[str, ...] = ()
    reply_to: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host: must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: must be 1-65535 (got {self.port})")
        if not _ADDRESS.fullmatch(self.sender):
            raise ValueError(f"sender: not an email address ({self.sender!r})")
        if self.tls not in TLS_MODES:
            raise ValueError(f"tls: must be one of {', '.join(TLS_MODES)} (got {self.tls!r})")
        for address in self.admin_addresses:
            if not _ADDRESS.fullmatch(address):
                raise ValueError(f"admin_addresses: not an email address ({address!r})")


class EmailNotifier:
    """Warnings, notices and admin messages by email; see the module docstring."""

    def __init__(
        self,
        config: SmtpConfig,
        buttons: ButtonIssuer,
        *,
        base_url: str,
        price: Callable[[str], Decimal],
        currency: str,
        contact: str,
        clock: Clock,
        templates_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.buttons = buttons
        self.base_url = base_url.rstrip("/")
        self.price = price
        self.currency = currency
        self.contact = contact
        self.clock = clock
        self.templates = Templates(templates_dir)

    # -- sending -------------------------------------------------------------------------------

    def link(self, button: Button) -> str:
        """The page address behind an email link."""
        return f"{self.base_url}/email/t/{button.token}"

    def _message(self, to: str, subject: str, text: str, html: str | None) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.config.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(self.clock.now())
        message["Message-ID"] = make_msgid(domain=self.config.sender.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        if self.config.reply_to:
            message["Reply-To"] = self.config.reply_to
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    async def _send(self, message: EmailMessage) -> Delivery:
        config = self.config
        try:
            errors, response = await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.tls == "tls",
                start_tls=config.tls == "starttls",
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            return Delivery(False, CHANNEL, _why(refused.code, refused.message) if refused else "recipient refused")
        except aiosmtplib.SMTPResponseException as exc:
            return Delivery(False, CHANNEL, _why(exc.code, exc.message))
        except (aiosmtplib.SMTPTimeoutError, TimeoutError) as exc:
            return Delivery(False, CHANNEL, f"timeout after {config.timeout:g} s: {type(exc).__name__}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Delivery(False, CHANNEL, f"unreachable: {type(exc).__name__}")
        if errors:
            code, text = next(iter(errors.values()))
            return Delivery(False, CHANNEL, _why(code, text))
        return Delivery(True, CHANNEL, f"accepted by {config.host}:{config.port}: {response[:80]}")

    async def send(self, to: str, subject: str, text: str, html: str | None = None) -> Delivery:
        """A plain notice (e.g. the outcome of a restore request); HTML from the notice template."""
        if html is None:
            _, html = self.templates.render("notice", {"headline": subject, "body": text, "contact": self.contact})
        return await self._send(self._message(to, subject, text, html))

    async def _to_admins(self, subject: str, text: str) -> None:
        for address in self.config.admin_addresses:
            delivery = await self._send(self._message(address, subject, text, None))
            if not delivery.delivered:
                log.warning("admin email to %s not delivered: %s", address, delivery.detail)

    # -- Notifier ------------------------------------------------------------------------------

    def monthly_cost(self, account: Account, rule: Rule) -> Decimal:
        """What the seats the rule's action frees cost per month."""
        return monthly_cost(self.price, account, rule)

    async def warn(self, account: Account, case: Case, rule: Rule) -> Delivery:
        """Email the warning with a Keep my access link; delivered only when the server accepted it."""
        if not account.email:
            return Delivery(False, CHANNEL, "no email address")
        recipient = Actor(CHANNEL, "", account.email.lower(), account.name or "")
        keep = await asyncio.to_thread(self.buttons.email_keep, case.case_id, str(account.account_id), recipient)
        product = "your Atlassian products" if rule.is_any_product else product_name(rule.product)
        access = "Atlassian" if rule.is_any_product else product_name(rule.product)
        when = day(case.deadline) if case.deadline is not None else "soon"
        known, at = last_active(account, rule)
        last_used = "unknown" if not known else ("never" if at is None else day(at))
        verb = ACTION_TEXT[rule.action].format(product=product)
        cost = self.monthly_cost(account, rule)
        intro = f"You have not used {product} for a while. To free unused licences, jira-cleanup will {verb} on {when}."
        intro += deletion_note(rule, case.deadline)
        if cost > 0:
            intro += f" The licence costs {money(cost, self.currency)} per month."
        values = {
            "name": account.name or "there",
            "product": product,
            "headline": f"Action needed: your {access} access ends on {when}",
            "intro": intro,
            "deadline": when,
            "last_used": last_used,
            "contact": self.contact,
            "link": self.link(keep),
            "link_label": "Keep my access",
        }
        text, html = self.templates.render("warning", values)
        return await self._send(self._message(account.email, values["headline"], text, html))

    async def actioned(self, account: Account, case: Case) -> Delivery:
        """Tell the person what was removed, with a Request access back link."""
        if not account.email:
            return Delivery(False, CHANNEL, "no email address")
        recipient = Actor(CHANNEL, "", account.email.lower(), account.name or "")
        link = await asyncio.to_thread(self.buttons.restore_link, str(account.account_id), recipient)
        action, key = actioned_what(case)  # what was really done (the effect), not only what the rule said
        product = "your Atlassian products" if key == ANY_PRODUCT else product_name(key)
        did = ACTIONED_TEXT[action].format(product=product_name(key))
        when = day(case.actioned_at) if case.actioned_at is not None else "today"
        values = {
            "name": account.name or "there",
            "product": product,
            "headline": actioned_headline(case),
            "intro": f"On {when} jira-cleanup {did} because it had not been used for a while.",
            "contact": self.contact,
            "link": self.link(link),
            "link_label": "Request access back",
        }
        text, html = self.templates.render("actioned", values)
        return await self._send(self._message(account.email, values["headline"], text, html))

    async def tell(self, account: Account, subject: str, text: str) -> Delivery:
        """Email the owner ``text`` under ``subject`` (the notice template)."""
        if not account.email:
            return Delivery(False, CHANNEL, "no email address")
        return await self.send(account.email, subject, text)

    async def escalate(self, org_id: str, account: Account | None, case: Case, reason: str) -> None:
        """Email the admins about a case that needs a human."""
        who = account.email if account is not None and account.email else case.account_id
        await self._to_admins(
            f"jira-cleanup: {who} needs attention",
            f"Account {who} (org {org_id}, rule {case.rule}): {reason}.\n\n-- jira-cleanup",
        )

    async def request_approval(self, run: LifecycleRun, summary: str) -> None:
        """Email the admins that a run holds actions; they approve in chat or with the CLI."""
        await self._to_admins(
            f"jira-cleanup: {approval_title(run)}",
            f"Run {run.run_id} holds {run.held} actions for approval ({summary}).\n\n"
            f"Approve in the admin channel, or with: jira-cleanup approve {run.run_id}\n"
            f"Deny with: jira-cleanup deny {run.run_id}\n\n-- jira-cleanup",
        )

    async def notify_admins(self, org_id: str, text: str) -> None:
        """A plain notice to the admins."""
        await self._to_admins("jira-cleanup notice", f"{text}\n\n-- jira-cleanup")


def _why(code: int, message: str) -> str:
    return f"{code} {message.strip()[:120]}"
