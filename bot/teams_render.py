"""Pure Adaptive Card rendering of ChatOps results (:class:`~bot.chatops.Reply`, :class:`~bot.chatops.ClickResult`).

Nothing here does I/O. Cards the notifier posts on its own (warnings, approvals, escalations)
are built in :mod:`adapters.teams.cards`, whose helpers this reuses. Teams has no ephemeral
messages for bots: in a channel, every reply is visible to the channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from adapters.teams import cards
from adapters.wording import clip
from bot.chatops import ClickResult, Reply
from core.chatops.replies import Section

Card = dict[str, Any]

#: The invoke response types of an ``adaptiveCard/action``.
CARD_RESPONSE: Final = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE: Final = "application/vnd.microsoft.activity.message"
ERROR_RESPONSE: Final = "application/vnd.microsoft.error"


def reply_text(reply: Reply) -> str:
    """The notification text of a reply (never empty)."""
    parts = [p for p in (reply.title, reply.text) if p]
    return clip(": ".join(parts) if parts else "jira-cleanup", 1000)


#: Makes a signed download link for a report file (``bot.file_links``), or None when it cannot.
FileLink = Callable[[Path], "str | None"]


def reply_card(reply: Reply, link: FileLink | None = None) -> tuple[str, Card]:
    """Title, text, key/value lines (a FactSet), the CSV (a download link when ``link`` makes one) and the buttons."""
    body: list[Card] = []
    if reply.title:
        body.append(cards.heading(reply.title))
    if reply.text:
        body.append(cards.text_block(("" if reply.ok else "⚠️ ") + cards.escape(reply.text)))
    if reply.lines:
        body.append(cards.facts(reply.lines))
    url = link(reply.file) if reply.file is not None and link is not None else None
    chart = reply.file is not None and reply.file.suffix == ".png"
    if reply.file is not None:
        where = reply.file.name if url else f"written on the bot's server: {reply.file}"
        body.append(cards.text_block(f"{'Chart' if chart else 'CSV'} {cards.escape(where)}", isSubtle=True))
    if url and chart:
        body.append({"type": "Image", "url": url, "altText": "jira-cleanup report chart", "size": "Stretch"})
    body.extend(_sections(reply.sections))
    if not body:
        body.append(cards.text_block(cards.escape(reply_text(reply))))
    card = cards.card(body, reply.buttons)
    if url:
        title = "Open the chart" if chart else "Download the CSV"
        card["actions"] = [*card.get("actions", []), cards.download_action(url, title)]
    return reply_text(reply), card


def _sections(sections: Iterable[Section]) -> list[Card]:
    """Each section: its title, then each entry's text with its own buttons (an ActionSet under it)."""
    body: list[Card] = []
    for part in sections:
        body.append(cards.text_block(cards.escape(part.title), weight="Bolder", separator=True))
        for entry in part.entries:
            body.append(cards.text_block(cards.escape(entry.text)))
            if entry.buttons:
                body.append({"type": "ActionSet", "actions": [cards.execute_action(b) for b in entry.buttons]})
        if part.note:
            body.append(cards.text_block(cards.escape(part.note), isSubtle=True))
    return body


def outcome_card(result: ClickResult, headline: str) -> Card:
    """The card replacing a clicked one: its headline and what the click did."""
    return cards.outcome(headline, result.text, ok=result.ok or result.waiting)  # waiting for an admin is no failure


def card_response(card: Card) -> dict[str, Any]:
    """An invoke response body that replaces the clicked card (for the clicker) with ``card``."""
    return {"statusCode": 200, "type": CARD_RESPONSE, "value": card}


def message_response(text: str) -> dict[str, Any]:
    """An invoke response body that shows ``text`` and leaves the card as it was."""
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}


def error_response(status: int, code: str, text: str) -> dict[str, Any]:
    """An invoke response body for a malformed action."""
    return {"statusCode": status, "type": ERROR_RESPONSE, "value": {"code": code, "message": text}}
