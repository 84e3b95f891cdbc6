"""The email notifier against a real SMTP server on loopback (aiosmtpd); the received MIME is parsed."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.email import EmailNotifier, SmtpConfig
from adapters.wording import warning_text
from core.buttons import ButtonIssuer
from core.chat import Actor, Purpose, hash_token
from core.clock import FixedClock
from core.lifecycle import Case, CaseState, Effect, Op
from core.policy import Action, Rule
from tests.fakes import NOW, make_account
from tests.fakes_chat import FakeTokenStore

RULE = Rule("jira", "jira-software", 90, Action.REMOVE_PRODUCT_ACCESS, 14)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK queued"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _case(**changes: Any) -> Case:
    base = Case(
        case_id="case-1",
        org_id="org-1",
        account_id="a1",
        rule="jira",
        product="jira-software",
        action=Action.REMOVE_PRODUCT_ACCESS,
        state=CaseState.WARNED,
        opened_at=NOW,
        updated_at=NOW,
        deadline=NOW + timedelta(days=14),
    )
    return Case(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **changes})


def _notifier(port: int, tokens: FakeTokenStore, **config: Any) -> EmailNotifier:
    settings = {"host": "127.0.0.1", "port": port, "sender": "jira-cleanup@acme.example", **config}
    return EmailNotifier(
        SmtpConfig(**settings),
        ButtonIssuer(tokens, FixedClock(NOW), "org-1"),
        base_url="https://cleanup.acme.example/",
        price=lambda product: Decimal("8.60"),
        currency="EUR",
        contact="#it-help",
        clock=FixedClock(NOW),
    )


def _bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


async def test_a_warning_has_both_parts_one_keep_link_and_the_facts(smtp):
    inbox, port = smtp
    tokens = FakeTokenStore()
    account = make_account("a1", email="Una@Acme.example", name='Una <script>&"', products={"jira-software": 120})
    delivery = await _notifier(port, tokens).warn(account, _case(), RULE)
    assert delivery.delivered, delivery.detail
    assert delivery.channel == "email"
    (message,) = inbox.messages
    assert message["To"] == "Una@Acme.example"
    assert message["Subject"] == "Action needed: your Jira access ends on 8 December 2026"
    assert message["Auto-Submitted"] == "auto-generated"
    assert email.utils.parsedate_to_datetime(message["Date"]) == NOW
    text, html = _bodies(message)
    (token,) = tokens.tokens.values()
    assert token.purpose is Purpose.KEEP
    assert token.intended == Actor("email", "", "una@acme.example")
    assert token.subject == "case-1"
    links = [w for w in text.split() if "/email/t/" in w]
    assert len(links) == 1
    raw = links[0].rsplit("/", 1)[1]
    assert hash_token(raw) == token.token_hash
    assert raw not in repr(token)
    assert f'href="https://cleanup.acme.example/email/t/{raw}"' in html
    assert "8 December 2026" in text
    assert "€8.60" in text or "8.60" in text
    assert "<script>" not in html
    assert "Una &lt;script&gt;&amp;&quot;" in html
    assert html.count("/email/t/") == 2  # the button and the copyable address: the keep link only


async def test_refused_recipients_and_dead_servers_are_not_delivered(smtp):
    inbox, port = smtp
    inbox.refuse.add("gone@acme.example")
    account = make_account("a1", email="gone@acme.example", products={"jira-software": 120})
    refused = await _notifier(port, FakeTokenStore()).warn(account, _case(), RULE)
    assert not refused.delivered
    assert refused.detail.startswith("550")
    dead = await _notifier(_port(), FakeTokenStore(), timeout=2).warn(account, _case(), RULE)
    assert not dead.delivered
    assert "unreachable" in dead.detail
    no_email = replace(make_account("a2"), email=None)
    nobody = await _notifier(port, FakeTokenStore()).warn(no_email, _case(), RULE)
    assert (nobody.delivered, nobody.detail) == (False, "no email address")
    assert inbox.messages == []


async def test_the_notice_after_an_action_carries_only_a_request_back_link(smtp):
    inbox, port = smtp
    tokens = FakeTokenStore()
    account = make_account("a1", email="una@acme.example", products={"jira-software": 120})
    case = _case(state=CaseState.ACTIONED, actioned_at=NOW, effect=Effect(Op.REMOVE_PRODUCT_ACCESS, ("g1",)))
    delivery = await _notifier(port, tokens).actioned(account, case)
    assert delivery.delivered
    (message,) = inbox.messages
    assert message["Subject"] == "Your Jira access was removed"
    (token,) = tokens.tokens.values()
    assert token.purpose is Purpose.REQUEST_RESTORE
    assert token.account_id == "a1"
    text, _ = _bodies(message)
    assert "Request access back" in text


async def test_admin_mail_goes_to_the_admin_addresses_only(smtp):
    inbox, port = smtp
    quiet = _notifier(port, FakeTokenStore())
    await quiet.notify_admins("org-1", "paused")
    assert inbox.messages == []
    loud = _notifier(port, FakeTokenStore(), admin_addresses=("it@acme.example", "sec@acme.example"))
    await loud.notify_admins("org-1", "Circuit breaker tripped")
    assert sorted(m["To"] for m in inbox.messages) == ["it@acme.example", "sec@acme.example"]
    assert "Circuit breaker tripped" in _plain(inbox.messages[0])


def _plain(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_template_overrides_win_and_typos_fail_at_start_up(tmp_path, smtp):
    _, port = smtp
    (tmp_path / "notice.txt").write_text("$headline\n$body\n-- the IT team ($contact)\n")
    notifier = EmailNotifier(
        SmtpConfig("127.0.0.1", port, "jira-cleanup@acme.example"),
        ButtonIssuer(FakeTokenStore(), FixedClock(NOW), "org-1"),
        base_url="https://x.example",
        price=lambda product: Decimal(0),
        currency="EUR",
        contact="#it-help",
        clock=FixedClock(NOW),
        templates_dir=tmp_path,
    )
    text, _ = notifier.templates.render("notice", {"headline": "H", "body": "B", "contact": "C"})
    assert text.endswith("-- the IT team (C)\n")
    (tmp_path / "warning.html").write_text("<p>$name $deadlin</p>")
    with pytest.raises(ValueError, match=r"warning\.html: unknown placeholder \$deadlin"):
        EmailNotifier(
            SmtpConfig("127.0.0.1", port, "jira-cleanup@acme.example"),
            ButtonIssuer(FakeTokenStore(), FixedClock(NOW), "org-1"),
            base_url="https://x.example",
            price=lambda product: Decimal(0),
            currency="EUR",
            contact="#it-help",
            clock=FixedClock(NOW),
            templates_dir=tmp_path,
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [("sender", "not-an-address"), ("tls", "ssl"), ("port", 0), ("admin_addresses", ("x",)), ("host", "")],
)
def test_bad_smtp_settings_name_the_field(field, value):
    settings: dict[str, Any] = {"host": "mail.acme.example", "port": 587, "sender": "bot@acme.example"}
    settings[field] = value
    with pytest.raises(ValueError, match=field):
        SmtpConfig(**settings)


async def test_an_org_wide_warning_and_the_real_effect_read_right(smtp):
    """No "your your" in the subject; the notice names what was done (suspended), not what the rule said."""
    inbox, port = smtp
    notifier = _notifier(port, FakeTokenStore())
    account = make_account("a1", email="una@acme.example", products={"jira-software": 200})
    org_wide = Rule("org", "any", 180, Action.DEACTIVATE, warn_days_before=14)
    assert (
        await notifier.warn(account, _case(rule="org", product="any", action=Action.DEACTIVATE), org_wide)
    ).delivered
    assert inbox.messages[-1]["Subject"] == "Action needed: your Atlassian access ends on 8 December 2026"
    suspended_instead = _case(
        rule="org",
        product="any",
        action=Action.DEACTIVATE,
        state=CaseState.ACTIONED,
        actioned_at=NOW,
        effect=Effect(Op.SUSPEND, ()),
    )
    assert (await notifier.actioned(account, suspended_instead)).delivered
    assert inbox.messages[-1]["Subject"] == "Your access to Atlassian products was suspended"
    text, _ = _bodies(inbox.messages[-1])
    assert "suspended your access" in text
    assert "deactivated" not in text


async def test_a_server_that_never_answers_is_a_timeout(smtp):
    """A listener that accepts the connection but never greets: reported as a timeout, not as unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        account = make_account("a1", email="una@acme.example", products={"jira-software": 120})
        notifier = _notifier(silent.getsockname()[1], FakeTokenStore(), timeout=0.3)
        delivery = await notifier.warn(account, _case(), RULE)
    assert not delivery.delivered
    assert delivery.detail.startswith("timeout after 0.3 s")


async def test_a_warning_of_a_rule_that_deletes_later_names_the_deletion_date(smtp):
    """Suspend now, delete 30 days later: the person is warned of both steps, by email and in chat."""
    inbox, port = smtp
    rule = Rule("org", "any", 180, Action.SUSPEND, 14, delete_after_days=30)
    case = _case(rule="org", product="any", action=Action.SUSPEND)
    account = make_account("a1", email="una@acme.example", products={"jira-software": 200})
    assert (await _notifier(port, FakeTokenStore()).warn(account, case, rule)).delivered
    text, html = _bodies(inbox.messages[-1])
    assert "the account is then deleted on 7 January 2027" in text
    assert "the account is then deleted on 7 January 2027" in html
    words = warning_text(
        account, case, rule, monthly_cost=Decimal(0), currency="EUR", contact="#it", bold=str, escape=str
    )
    assert words.summary.endswith("If it is not given back, the account is then deleted on 7 January 2027.")
    assert (
        "deleted"
        not in warning_text(
            account, _case(), RULE, monthly_cost=Decimal(0), currency="EUR", contact="#it", bold=str, escape=str
        ).summary
    )
