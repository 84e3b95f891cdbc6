"""Pure Block Kit rendering of ChatOps results (:class:`~bot.chatops.Reply`, :class:`~bot.chatops.ClickResult`).

Nothing here does I/O. Every message carries a non-empty ``text`` next to its ``blocks`` (Slack
uses it for notifications; slack_sdk warns without it). Warnings, approvals and escalations
posted by the notifier are built in :mod:`adapters.slack.blocks`, whose helpers this reuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from adapters.slack import blocks as bk
from adapters.wording import clip
from bot.chatops import ClickResult, Reply
from core.chatops.replies import Section

Block = dict[str, Any]

#: ``callback_id`` of the "why do you need to keep access?" modal.
KEEP_MODAL_ID: Final = "jc_keep_justification"
KEEP_MODAL_BLOCK: Final = "jc_reason"
KEEP_MODAL_INPUT: Final = "jc_reason_input"
MAX_JUSTIFICATION: Final = 500
#: Room for the clicked message's blocks in the modal's private_metadata (Slack allows 3,000 characters).
METADATA_BLOCKS_BUDGET: Final = 2400


def reply_text(reply: Reply) -> str:
    """The notification text of a reply (never empty)."""
    parts = [p for p in (reply.title, reply.text) if p]
    return clip_text(": ".join(parts) if parts else "jira-cleanup")


def clip_text(text: str) -> str:
    """Text fallback, escaped (Slack reads it as mrkdwn) and clipped well under chat.postMessage's 40,000."""
    return clip(bk.escape(text), 3900)


def _line_sections(lines: Iterable[tuple[str, str]]) -> list[Block]:
    sections: list[Block] = []
    chunk: list[str] = []
    size = 0
    for key, value in lines:
        line = f"*{bk.escape(key)}*: {bk.escape(value)}"
        if chunk and size + len(line) + 1 > bk.SECTION_LIMIT:
            sections.append(bk.section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        sections.append(bk.section("\n".join(chunk)))
    return sections


def reply_blocks(reply: Reply) -> list[Block]:
    """Header (title), the text, key/value lines and the buttons, within Block Kit's limits."""
    blocks: list[Block] = []
    if reply.title:
        blocks.append(bk.header(reply.title))
    if reply.text:
        blocks.append(bk.section(("" if reply.ok else ":warning: ") + bk.escape(reply.text)))
    blocks.extend(_line_sections(reply.lines))
    if reply.file is not None:
        blocks.append(bk.context(f"CSV: {bk.escape(reply.file.name)}"))
    if reply.buttons:
        blocks = blocks[: bk.MAX_BLOCKS - 1]
        blocks.append(bk.actions(reply.buttons))
    return blocks[: bk.MAX_BLOCKS] or [bk.section(bk.escape(reply_text(reply)))]


def message_args(reply: Reply) -> dict[str, Any]:
    """``text`` + ``blocks`` for ``chat.postMessage``."""
    return {"text": reply_text(reply), "blocks": reply_blocks(reply)}


def respond_args(reply: Reply, *, replace_original: bool = False) -> dict[str, Any]:
    """Arguments for Bolt's ``respond()`` (``response_url``): ephemeral unless ``reply.public``."""
    return {
        **message_args(reply),
        "response_type": "in_channel" if reply.public else "ephemeral",
        "replace_original": replace_original,
    }


def refusal_args(result: ClickResult) -> dict[str, Any]:
    """An ephemeral answer to a refused click (wrong user, expired, already used); nothing is replaced."""
    return {
        "text": clip_text(result.text),
        "blocks": [bk.section(":no_entry_sign: " + bk.escape(result.text))],
        "response_type": "ephemeral",
        "replace_original": False,
    }


def outcome_update(message_blocks: Iterable[Mapping[str, Any]], result: ClickResult) -> dict[str, Any]:
    """``text`` + ``blocks`` for updating the clicked message: buttons replaced by the outcome line."""
    text = ("" if result.ok or result.waiting else "Not done: ") + result.text
    return {"text": clip_text(text), "blocks": bk.resolved(message_blocks, text)}


# -- the keep justification modal -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeepContext:
    """What the modal must remember about the click that opened it (kept in ``private_metadata``)."""

    token: str
    channel: str
    ts: str
    response_url: str = ""
    blocks: list[Block] = field(default_factory=list)  # the message without its buttons, when it fits

    def dumps(self) -> str:
        """Compact JSON (Slack allows 3,000 characters of private_metadata)."""
        data = {"t": self.token, "c": self.channel, "m": self.ts, "r": self.response_url, "b": self.blocks}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str) -> KeepContext | None:
        """Parse ``private_metadata``; None when it is not ours."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("t", "c", "m")):
            return None
        blocks = data.get("b")
        kept = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
        return cls(data["t"], data["c"], data["m"], str(data.get("r") or ""), kept)


def keep_modal(ctx: KeepContext) -> dict[str, Any]:
    """The modal asking why access is still needed (``views.open``)."""
    return {
        "type": "modal",
        "callback_id": KEEP_MODAL_ID,
        "private_metadata": ctx.dumps(),
        "title": {"type": "plain_text", "text": "Keep my access"},
        "submit": {"type": "plain_text", "text": "Keep access"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            bk.section("Your admins ask for a short reason to keep this access (it goes into the audit trail)."),
            {
                "type": "input",
                "block_id": KEEP_MODAL_BLOCK,
                "label": {"type": "plain_text", "text": "Why do you still need it?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": KEEP_MODAL_INPUT,
                    "multiline": True,
                    "max_length": MAX_JUSTIFICATION,
                },
            },
        ],
    }


def modal_justification(view: Mapping[str, Any]) -> str:
    """The typed reason from a submitted :func:`keep_modal` ("" when missing)."""
    values = (view.get("state") or {}).get("values") or {}
    state = (values.get(KEEP_MODAL_BLOCK) or {}).get(KEEP_MODAL_INPUT) or {}
    return str(state.get("value") or "").strip()[:MAX_JUSTIFICATION]


#: ``action_id`` of the Home tab's "Request access back" button.
HOME_RESTORE_ACTION: Final = "jc_home_restore"
#: Block ids of the button pairs on the App Home (one block per pair: an action id appears once per block).
HOME_BLOCK_PREFIX: Final = "jc_home_buttons_"
#: Block ids of the buttons of a home section's entries (``jc_home_s{section}_{entry}``).
HOME_SECTION_PREFIX: Final = "jc_home_s"


def home_view(
    contact: str, home: Reply | None = None, *, admin: bool = False, notice: str = "", image_url: str | None = None
) -> dict[str, Any]:
    """The App Home tab: ``home`` (the admin home, or the person's own access), then how to ask for access back.

    ``notice``: what the person's last click on this tab did; ``image_url``: the report chart (admins).
    """
    blocks: list[Block] = []
    if home is not None:
        blocks.append(bk.header(home.title))
        if notice:
            blocks.append(bk.section(bk.escape(notice)))
        if home.text:
            blocks.append(bk.section(bk.escape(home.text)))
        blocks.extend(_line_sections(home.lines))
        if image_url:
            blocks.append({"type": "image", "image_url": image_url, "alt_text": "jira-cleanup report chart"})
        for n in range(0, len(home.buttons), 2):  # an action id appears once per block: pairs, each its own block
            blocks.append({**bk.actions(home.buttons[n : n + 2]), "block_id": f"{HOME_BLOCK_PREFIX}{n // 2}"})
        blocks.extend(_home_sections(home.sections))
        if admin:
            return {"type": "home", "blocks": blocks[: bk.MAX_BLOCKS]}
    else:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": "jira-cleanup"}})
    blocks += [
        bk.section(
            "jira-cleanup frees Atlassian licences nobody uses. It always warns you here first, and "
            "*Keep my access* on the warning keeps it."
        ),
        bk.section(
            "Lost access you need? Ask for it back: your organisation's rules may approve it at once, "
            f"otherwise the admins decide. Questions? Ask {bk.escape(contact)}."
        ),
        {
            "type": "actions",
            "block_id": "jc_home",
            "elements": [
                {
                    "type": "button",
                    "action_id": HOME_RESTORE_ACTION,
                    "text": {"type": "plain_text", "text": "Request access back"},
                    "style": "primary",
                    "value": "restore",
                }
            ],
        },
    ]
    return {"type": "home", "blocks": blocks[: bk.MAX_BLOCKS]}


def _home_sections(sections: Iterable[Section]) -> list[Block]:
    """Each section of a home: a divider, its bold title, then each entry with its buttons in a block of its own."""
    blocks: list[Block] = []
    for n, part in enumerate(sections):
        blocks += [{"type": "divider"}, bk.section(f"*{bk.escape(part.title)}*")]
        for m, entry in enumerate(part.entries):
            blocks.append(bk.section(bk.escape(entry.text)))
            if entry.buttons:
                blocks.append({**bk.actions(entry.buttons), "block_id": f"{HOME_SECTION_PREFIX}{n}_{m}"})
        if part.note:
            blocks.append(bk.context(bk.escape(part.note)))
    return blocks
