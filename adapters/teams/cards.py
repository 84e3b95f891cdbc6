"""Pure Adaptive Card builders for what the bot posts in Teams: warnings, notices, approvals, outcomes.

Every builder returns ``(text, card)``: ``text`` is the notification summary Teams shows in the
activity feed and in screen readers, ``card`` a JSON-able Adaptive Card (version 1.4, the first
with ``Action.Execute``). The wording is the Slack warning's (:mod:`adapters.slack.blocks` holds
the shared facts: product names, dates, prices). Nothing here does I/O.

Buttons are ``Action.Execute`` (Universal Actions): Teams sends an ``adaptiveCard/action`` invoke
whose ``verb`` names the purpose and whose ``data.token`` is the raw single-use token of
:mod:`core.chat`, a reference only: who may use it is decided on the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from adapters.wording import actioned_headline, actioned_text, approval_title, clip, product_name, warning_text
from core.chat import BUTTON_IDS, Button, Purpose
from core.engine.undo import is_undo
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule

Card = dict[str, Any]

CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
CARD_VERSION: Final = "1.4"
#: The ``verb`` of each kind of button.
VERBS: Final[Mapping[Purpose, str]] = BUTTON_IDS
#: ``id`` of the optional "why do you still need it?" input on warnings.
JUSTIFICATION_INPUT: Final = "justification"
MAX_JUSTIFICATION: Final = 500
TEXT_LIMIT: Final = 3000
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]<>#])")


def escape(text: str) -> str:
    """Neutralise the markdown Teams renders in a TextBlock (user-supplied text is never markup)."""
    return _MARKDOWN.sub(r"\\\1", text)


def text_block(text: str, **extra: Any) -> Card:
    """A wrapping TextBlock (clipped)."""
    return {"type": "TextBlock", "text": clip(text, TEXT_LIMIT), "wrap": True, **extra}


def heading(text: str) -> Card:
    """A bold, larger TextBlock."""
    return text_block(clip(text, 150), weight="Bolder", size="Medium", style="heading")


def facts(lines: Iterable[tuple[str, str]]) -> Card:
    """A FactSet of key/value lines."""
    return {"type": "FactSet", "facts": [{"title": clip(k, 100), "value": clip(v, 500)} for k, v in lines]}


def execute_action(button: Button) -> Card:
    """One ``Action.Execute``; its verb comes from the purpose, its data carries the raw token."""
    if button.purpose is None:
        raise ValueError(f"button {button.label!r} has no purpose: cannot route its clicks")
    action: Card = {
        "type": "Action.Execute",
        "title": clip(button.label, 40),
        "verb": VERBS[button.purpose],
        "data": {"token": button.token},
    }
    if button.style == "primary":
        action["style"] = "positive"
    elif button.style == "danger":
        action["style"] = "destructive"
    return action


def card(body: list[Card], buttons: Iterable[Button] = ()) -> Card:
    """An Adaptive Card 1.4 with ``body`` and one Action.Execute per button."""
    result: Card = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
    }
    actions = [execute_action(b) for b in buttons]
    if actions:
        result["actions"] = actions
    return result


def download_action(url: str, title: str = "Download the CSV") -> dict[str, Any]:
    """An Action.OpenUrl to a file served by the bot (a signed, expiring link)."""
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def attachment(content: Card) -> dict[str, Any]:
    """The message attachment carrying ``content``."""
    return {"contentType": CARD_CONTENT_TYPE, "content": content}


# -- the message a card lives in ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a posted card is (conversation + activity id) and its headline, kept server-side.

    Stored as the buttons' ``message_ref`` so a click can update the card for everyone and
    rebuild its outcome card without trusting anything the client sends.
    """

    conversation_id: str
    activity_id: str
    headline: str = ""

    def dumps(self) -> str:
        """Compact JSON, prefixed so other platforms' refs are never mistaken for ours."""
        return "teams:" + json.dumps(
            {"c": self.conversation_id, "a": self.activity_id, "h": self.headline}, separators=(",", ":")
        )

    @classmethod
    def loads(cls, raw: str | None) -> MessageRef | None:
        """Parse :meth:`dumps`; None for anything else."""
        if not raw or not raw.startswith("teams:"):
            return None
        try:
            data = json.loads(raw.removeprefix("teams:"))
        except ValueError:
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("c", "a")):
            return None
        return cls(data["c"], data["a"], str(data.get("h") or ""))


# -- warnings ----------------------------------------------------------------------------------


def warning(
    account: Account,
    case: Case,
    rule: Rule,
    *,
    buttons: Iterable[Button],
    justification_required: bool = False,
    **wording: Any,
) -> tuple[str, Card]:
    """The warning: which product, last active, what happens when, the seat's cost, who to ask.

    ``wording`` is :func:`adapters.wording.warning_text`'s ``monthly_cost``, ``currency`` and ``contact``.
    """
    words = warning_text(account, case, rule, bold=lambda text: f"**{text}**", escape=escape, **wording)
    body = [
        heading(words.headline),
        text_block(words.greeting),
        text_block(words.instructions),
        text_block(" · ".join(words.facts), isSubtle=True, size="Small"),
    ]
    if justification_required:
        body.append(
            {
                "type": "Input.Text",
                "id": JUSTIFICATION_INPUT,
                "label": "Why do you still need it? (needed to keep access)",
                "isMultiline": True,
                "maxLength": MAX_JUSTIFICATION,
            }
        )
    return words.summary, card(body, buttons)


def actioned(account: Account, case: Case, *, contact: str) -> tuple[str, Card]:
    """The notice after an action: what was removed, when, why, and that replying ``restore`` asks back.

    A heading and the words, like the warning, but no actions: the Teams app takes ``restore``
    typed in the 1:1 chat. The words stay plain, as in the app's own help text.
    """
    text = actioned_text(account, case, contact=contact)
    return text, card([heading(escape(actioned_headline(case))), text_block(escape(text))])


# -- admins --------------------------------------------------------------------------------------


def approval(run: LifecycleRun, summary: str, buttons: Iterable[Button]) -> tuple[str, Card]:
    """A held run awaiting approval, with Approve / Deny (any admin but the requester)."""
    text = approval_title(run)
    lines = [
        (
            "Held restores" if is_undo(run.run_id) else "Held actions",
            f"{run.held}: {summary or 'over the safety caps'}",
        ),
        ("Requested by", run.requested_by),
        ("Mode", run.mode),
    ]
    if run.expires_at is not None:
        lines.append(("Expires", f"{run.expires_at:%Y-%m-%d %H:%M} UTC"))
    body = [
        heading("Approval needed"),
        facts(lines),
        text_block("Approving applies exactly the held actions; the requester cannot approve their own run."),
    ]
    return text, card(body, buttons)


def escalation(org_id: str, account: Account | None, case: Case, reason: str) -> tuple[str, Card]:
    """A case that needs a human (typically: the warning could not be delivered)."""
    who = (account.email or account.name or case.account_id) if account is not None else case.account_id
    body = [
        heading("Needs attention"),
        facts(
            [
                ("Account", f"{who} ({case.account_id})"),
                ("Rule", f"{case.rule} · {product_name(case.product)} · {case.action.value}"),
                ("Why", reason),
            ]
        ),
        text_block(f"org {escape(org_id)}", isSubtle=True, size="Small"),
    ]
    return f"jira-cleanup needs a human for {who}: {reason}", card(body)


def notice(org_id: str, text: str) -> tuple[str, Card]:
    """A plain notice to the admins."""
    return text, card([text_block(escape(text)), text_block(f"jira-cleanup · org {escape(org_id)}", isSubtle=True)])


def plain(text: str) -> tuple[str, Card]:
    """A card that is just text (escaped)."""
    return text, card([text_block(escape(text))])


def outcome(headline: str, text: str, *, ok: bool = True, detail: str = "") -> Card:
    """What replaces a card once it is decided: its headline, its ``detail`` words and the outcome, no buttons."""
    body = []
    if headline:
        body.append(heading(headline))
    if detail:
        body.append(text_block(escape(detail)))
    body.append(text_block(("" if ok else "Not done: ") + escape(text), color="Good" if ok else "Attention"))
    return card(body)
