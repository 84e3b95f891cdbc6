"""Wording shared by every channel that warns people (Slack, Teams, email): one voice everywhere.

Pure helpers: product names, dates, money, and the sentences that say what will happen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from core.engine.undo import is_undo
from core.ledger import LifecycleRun
from core.lifecycle import Case, Op
from core.model import Account, ProductKey
from core.policy import ANY_PRODUCT, Action, Rule

PRODUCT_NAMES: Final[Mapping[str, str]] = {
    "jira-software": "Jira",
    "jira": "Jira",
    "confluence": "Confluence",
    "jira-servicedesk": "Jira Service Management",
    "jira-product-discovery": "Jira Product Discovery",
}


def monthly_cost(price: Callable[[str], Decimal], account: Account, rule: Rule) -> Decimal:
    """What the seats ``rule``'s action frees on ``account`` cost per month at ``price`` per seat."""
    return sum((price(p) for p in seat_products(account, rule)), Decimal(0))


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def product_name(key: str) -> str:
    """A human name for an Atlassian product key (unknown keys are shown as they are)."""
    if key == ANY_PRODUCT:
        return "Atlassian products"
    return PRODUCT_NAMES.get(key, key)


def day(when: datetime) -> str:
    """``8 December 2026`` (dates in messages are UTC calendar days)."""
    return f"{when.day} {when:%B %Y}"


def money(amount: Decimal, currency: str) -> str:
    """``12.50 USD``."""
    return f"{amount:,.2f} {currency}"


def deletion_note(rule: Rule, deadline: datetime | None) -> str:
    """`` The account is then deleted on 7 January 2027 …`` for a rule that deletes later, else ``""``.

    A warning names every step it leads to: a suspension followed by a deletion says both.
    """
    if rule.delete_after_days is None or deadline is None:
        return ""
    deleted = day(deadline + timedelta(days=rule.delete_after_days))
    return f" If it is not given back, the account is then deleted on {deleted}."


ACTION_TEXT: Final[Mapping[Action, str]] = {
    Action.REMOVE_PRODUCT_ACCESS: "remove your {product} access",
    Action.SUSPEND: "suspend your access to {product}",
    Action.DEACTIVATE: "deactivate your Atlassian account",
}


HEADLINE: Final[Mapping[Action, str]] = {
    Action.REMOVE_PRODUCT_ACCESS: "Your {product} access will be removed on {when}",
    Action.SUSPEND: "Your access to {product} will be suspended on {when}",
    Action.DEACTIVATE: "Your Atlassian account will be deactivated on {when}",
}


def last_active(account: Account, rule: Rule) -> tuple[bool, datetime | None]:
    """(known, when) of the activity the rule measured; ``(True, None)`` means never used."""
    if not account.activity_known:
        return False, None
    if rule.is_any_product:
        return True, account.last_active_anywhere()
    access = account.product(ProductKey(rule.product))
    return (access is not None), (access.last_active if access is not None else None)


def seat_products(account: Account, rule: Rule) -> tuple[str, ...]:
    """Products whose seats the action frees: the rule's product, or every product for ``any`` rules."""
    if rule.is_any_product:
        return tuple(sorted({str(p.key) for p in account.products}))
    return (rule.product,)


@dataclass(frozen=True, slots=True)
class WarningText:
    """The words of a warning, ready for a channel's own markup (Block Kit, Adaptive Cards, email)."""

    headline: str
    greeting: str
    instructions: str
    facts: tuple[str, ...]
    summary: str  # plain-text fallback / notification line


def warning_text(
    account: Account,
    case: Case,
    rule: Rule,
    *,
    monthly_cost: Decimal,
    currency: str,
    contact: str,
    bold: Callable[[str], str],
    escape: Callable[[str], str],
) -> WarningText:
    """Which product, last active, what happens when, the seat's cost and who to ask.

    ``bold`` marks emphasis in the channel's markup; ``escape`` neutralises user-supplied text.
    A ``monthly_cost`` of 0 leaves the cost out.
    """
    product = product_name(rule.product)
    verb = ACTION_TEXT[rule.action].format(product=product)
    when = day(case.deadline) if case.deadline is not None else "soon"
    known, at = last_active(account, rule)
    if not known:
        seen = ""
    elif at is None:
        seen = f"our records show you have never used {product}. "
    else:
        seen = f"you last used {product} on {bold(day(at))}. "
    keep, release = bold("Keep my access"), bold("I don't need it")
    then = deletion_note(rule, case.deadline)
    facts = []
    if monthly_cost > 0:
        facts.append(f"Licence cost: {bold(money(monthly_cost, currency))} per month")
    facts.append(f"Questions? Ask {escape(contact)}.")
    return WarningText(
        headline=HEADLINE[rule.action].format(product=product, when=when),
        greeting=f"Hi {escape(account.name or 'there')} — {seen}To free unused licences, jira-cleanup will "
        f"{bold(verb)} on {bold(when)}.{then}",
        instructions=f"If you still need it, press {keep}. If you don't, press {release} and the "
        "licence is freed at the next cleanup run.",
        facts=tuple(facts),
        summary=f"Unless you keep it, jira-cleanup will {verb} on {when}.{then}",
    )


ACTIONED_TEXT: Final[Mapping[Action, str]] = {
    Action.REMOVE_PRODUCT_ACCESS: "removed your {product} access",
    Action.SUSPEND: "suspended your access to {product}",
    Action.DEACTIVATE: "deactivated your Atlassian account",
}


ACTIONED_HEADLINE: Final[Mapping[Action, str]] = {
    Action.REMOVE_PRODUCT_ACCESS: "Your {product} access was removed",
    Action.SUSPEND: "Your access to {product} was suspended",
    Action.DEACTIVATE: "Your Atlassian account was deactivated",
}

#: The op an action became, back to the action it stands for (what the person experiences).
_DONE: Final[Mapping[Op, Action]] = {
    Op.REMOVE_PRODUCT_ACCESS: Action.REMOVE_PRODUCT_ACCESS,
    Op.SUSPEND: Action.SUSPEND,
    Op.DEACTIVATE: Action.DEACTIVATE,
}

#: How a chat user asks for access back: the Slack and Teams apps take ``restore`` typed in the DM.
CHAT_HOW_BACK: Final = "reply {restore} here and I'll ask the admins to give it back"


def actioned_what(case: Case) -> tuple[Action, str]:
    """(what was done, to which product key) for an actioned case.

    The effect says what really happened (an unmanaged account is suspended where the rule says
    deactivate); the rule's action is the fallback for cases stored without one. Suspensions and
    deactivations cover every product (``any``).
    """
    action = _DONE.get(case.effect.op, case.action) if case.effect is not None else case.action
    if action is not Action.REMOVE_PRODUCT_ACCESS:
        return action, ANY_PRODUCT
    return action, (case.effect.product if case.effect is not None and case.effect.product else case.product)


def actioned_headline(case: Case) -> str:
    """``Your Jira access was removed``: the notice's title."""
    action, product = actioned_what(case)
    return ACTIONED_HEADLINE[action].format(product=product_name(product))


def _same(text: str) -> str:
    return text


def _last_used(account: Account, product: str) -> tuple[bool, datetime | None]:
    """(known, when) the account last used ``product`` (``any``: any product); ``(True, None)``: never."""
    if not account.activity_known:
        return False, None
    if product == ANY_PRODUCT:
        return bool(account.products), account.last_active_anywhere()
    access = account.product(ProductKey(product))
    return (access is not None), (access.last_active if access is not None else None)


def actioned_text(
    account: Account,
    case: Case,
    *,
    contact: str,
    how_back: str | None = None,
    bold: Callable[[str], str] = _same,
    escape: Callable[[str], str] = _same,
) -> str:
    """What jira-cleanup did to the person's access and when, that it was unused, and how to ask back.

    ``how_back`` replaces the chat instruction (reply ``restore`` here), e.g. for email's link.
    ``bold`` marks emphasis in the channel's markup and ``escape`` neutralises user-supplied
    text (the name and ``contact``); both default to plain text.
    """
    action, product = actioned_what(case)
    did = ACTIONED_TEXT[action].format(product=product_name(product))
    when = f"on {bold(day(case.actioned_at))}" if case.actioned_at is not None else "today"
    known, at = _last_used(account, product)
    if not known:
        why = "it had not been used for a while"
    elif at is None:
        why = "it had never been used"
    else:
        why = f"it had not been used since {day(at)}"
    back = how_back if how_back is not None else CHAT_HOW_BACK.format(restore=bold("restore"))
    return (
        f"Hi {escape(account.name or 'there')} — {when} jira-cleanup {bold(did)} because {why}. "
        f"If you need it again, {back}. Questions? Ask {escape(contact)}."
    )


def approval_title(run: LifecycleRun) -> str:
    """The one line naming what a held run (or an undo) asks the admins to approve."""
    if is_undo(run.run_id):
        return f"Undo {run.run_id} holds {run.held} restores for approval"
    return f"Run {run.run_id[:12]} holds {run.held} actions for approval"
