"""Pure Block Kit builders for what the bot posts on its own: warnings, notices, approvals, escalations.

Every builder returns ``(text, blocks)``, both escaped (Slack reads ``text`` as mrkdwn too, so a
display name like ``<!channel>`` must not become a mention): ``text`` is the notification/fallback text Slack
shows in push notifications and screen readers (``chat.postMessage`` must always carry it
next to ``blocks``), ``blocks`` a JSON-able list within Block Kit's limits (≤ 50 blocks,
section text ≤ 3,000 characters, header ≤ 150, button value ≤ 2,000). Nothing here does I/O.

Button ``value``s are the raw single-use tokens of :mod:`core.chat`; ``action_id``s name the
purpose (:data:`ACTION_IDS`), so a handler can route on them without trusting the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from adapters.wording import (
    actioned_headline,
    actioned_text,
    approval_title,
    clip,
    product_name,
    warning_text,
)
from core.chat import BUTTON_IDS, Button, Purpose
from core.engine.undo import is_undo
from core.ledger import LifecycleRun
from core.lifecycle import Case
from core.model import Account
from core.policy import Rule

Block = dict[str, Any]

#: The ``action_id`` of each kind of button.
ACTION_IDS: Final[Mapping[Purpose, str]] = BUTTON_IDS
#: ``block_id`` of the actions block carrying the buttons (removed when the message is resolved).
BUTTONS_BLOCK_ID: Final = "jc_buttons"
#: ``block_id`` of the context line that replaces the buttons once a click decided the outcome.
OUTCOME_BLOCK_ID: Final = "jc_outcome"

SECTION_LIMIT: Final = 3000
HEADER_LIMIT: Final = 150
MAX_BLOCKS: Final = 50


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as Slack's mrkdwn requires (user-supplied text is never markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str, *, block_id: str | None = None) -> Block:
    """A mrkdwn section (text clipped to Slack's limit)."""
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
    if block_id:
        block["block_id"] = block_id
    return block


def header(text: str) -> Block:
    """A header block (plain text, clipped)."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_LIMIT), "emoji": True}}


def context(text: str, *, block_id: str | None = None) -> Block:
    """A context line (mrkdwn)."""
    block: Block = {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}]}
    if block_id:
        block["block_id"] = block_id
    return block


def button_element(button: Button) -> Block:
    """One button; its ``action_id`` comes from its purpose, its value is the raw token."""
    if button.purpose is None:
        raise ValueError(f"button {button.label!r} has no purpose: cannot route its clicks")
    element: Block = {
        "type": "button",
        "action_id": ACTION_IDS[button.purpose],
        "text": {"type": "plain_text", "text": clip(button.label, 75), "emoji": True},
        "value": button.token,
    }
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def actions(buttons: Iterable[Button]) -> Block:
    """The actions block holding ``buttons``."""
    return {"type": "actions", "block_id": BUTTONS_BLOCK_ID, "elements": [button_element(b) for b in buttons]}


# -- warnings --------------------------------------------------------------------------------


def warning(
    account: Account,
    case: Case,
    rule: Rule,
    *,
    monthly_cost: Decimal,
    currency: str,
    contact: str,
    buttons: Iterable[Button],
) -> tuple[str, list[Block]]:
    """The warning DM: which product, last active, what happens when, the seat's cost, who to ask.

    ``monthly_cost`` is what the seat(s) the action would free cost per month (0 hides the line).
    """
    words = warning_text(
        account,
        case,
        rule,
        monthly_cost=monthly_cost,
        currency=currency,
        contact=contact,
        bold=lambda text: f"*{text}*",
        escape=escape,
    )
    blocks: list[Block] = [
        header(words.headline),
        section(f"{words.greeting}\n\n{words.instructions}"),
        context(" · ".join(words.facts)),
        actions(buttons),
    ]
    return escape(words.summary), blocks


def actioned(account: Account, case: Case, *, contact: str) -> tuple[str, list[Block]]:
    """The notice after an action: what was removed, when, why, and that replying ``restore`` asks back.

    Laid out like the warning (header, then the words) but without buttons: the DM handler of the
    Slack app takes ``restore`` typed in this conversation.
    """
    marked = actioned_text(account, case, contact=contact, bold=lambda text: f"*{text}*", escape=escape)
    blocks: list[Block] = [header(actioned_headline(case)), section(marked)]
    return escape(actioned_text(account, case, contact=contact)), blocks


# -- admins ----------------------------------------------------------------------------------


def approval(run: LifecycleRun, summary: str, buttons: Iterable[Button]) -> tuple[str, list[Block]]:
    """A held run awaiting approval, with Approve / Deny (any admin but the requester)."""
    text = escape(approval_title(run))
    held = "restores" if is_undo(run.run_id) else "access-reducing actions"
    lines = [
        f"*{run.held}* {held} are held: {escape(summary or 'over the safety caps')}.",
        f"Requested by `{escape(run.requested_by)}` · mode {escape(run.mode)}"
        + (f" · expires {run.expires_at:%Y-%m-%d %H:%M} UTC" if run.expires_at is not None else ""),
        "Approving applies exactly the held actions; the requester cannot approve their own run.",
    ]
    return text, [header("Approval needed"), section("\n".join(lines)), actions(buttons)]


def escalation(org_id: str, account: Account | None, case: Case, reason: str) -> tuple[str, list[Block]]:
    """A case that needs a human (typically: the warning could not be delivered)."""
    who = (account.email or account.name or case.account_id) if account is not None else case.account_id
    text = escape(f"jira-cleanup needs a human for {who}: {reason}")
    lines = [
        f"*Account:* {escape(who)} (`{escape(case.account_id)}`)",
        f"*Rule:* {escape(case.rule)} · {escape(product_name(case.product))} · {escape(case.action.value)}",
        f"*Why:* {escape(reason)}",
    ]
    return text, [header("Needs attention"), section("\n".join(lines)), context(f"org {escape(org_id)}")]


def notice(org_id: str, text: str) -> tuple[str, list[Block]]:
    """A plain notice to the admins."""
    return escape(text), [section(escape(text)), context(f"jira-cleanup · org {escape(org_id)}")]


def plain(text: str) -> tuple[str, list[Block]]:
    """A message that is just text (escaped) in one section."""
    return escape(text), [section(escape(text))]


def resolved(blocks: Iterable[Mapping[str, Any]], outcome: str) -> list[Block]:
    """``blocks`` of a posted message with its buttons replaced by a context line saying ``outcome``."""
    kept = [dict(b) for b in blocks if b.get("type") != "actions" and b.get("block_id") != OUTCOME_BLOCK_ID]
    kept = kept[: MAX_BLOCKS - 1]
    kept.append(context(escape(outcome), block_id=OUTCOME_BLOCK_ID))
    return kept
