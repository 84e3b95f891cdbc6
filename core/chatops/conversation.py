"""What every chat surface says and remembers the same way: DM words, help, retries seen.

Slack and Teams only format these (bold marks differ) and feed them their own event ids.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Final

#: What a person types in a DM to ask for their access back.
RESTORE_WORDS: Final = frozenset({"restore", "restore my access", "give me my access back"})
#: The prefix of the message telling a chat requester how their restore request was decided.
TOLD_PREFIX: Final = "Your request to get access back: "


def dm_help(bold: str = "") -> str:
    """The answer to any other DM; ``bold`` is the surface's emphasis mark (``*`` on Slack)."""
    return (
        f"Hi! I'm jira-cleanup. If I removed Atlassian access you still need, send me {bold}restore{bold} and "
        f"I'll ask the admins to give it back. To ask for someone else: {bold}restore for their.email@…{bold}"
    )


def asks_for_restore(text: str) -> bool:
    """True when a DM's text is one of :data:`RESTORE_WORDS` (case, spaces and ``.!`` ignored)."""
    return " ".join(text.lower().split()).strip(" .!") in RESTORE_WORDS


_RESTORE_FOR: Final = re.compile(
    r"^restore(?: (?:access|the access))? for <?(?:mailto:)?([^\s<>|@]+@[^\s<>|]+?)(?:\|[^>]*)?>?$"
)


def restore_for(text: str) -> str | None:
    """The email in ``restore for <email>`` (someone asks for another person's access), or None.

    Slack sends an email as ``<mailto:a@b|a@b>``; case, spaces and a final ``.!`` are ignored.
    """
    found = _RESTORE_FOR.match(" ".join(text.lower().split()).rstrip(" .!"))
    return found.group(1) if found else None


def no_email_text(why: str, contact: str) -> str:
    """Why a restore request cannot be taken from a chat account without an email address."""
    return f"Sorry, I can't take restore requests from this account ({why}). Please contact {contact}."


def told_text(outcome: str) -> str:
    """The message telling a chat requester the decision on their restore request."""
    return TOLD_PREFIX + outcome


class RecentIds:
    """A bounded memory of event ids, to drop platform retries of what was already handled."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        """False for a key seen among the last ``size``; an empty key is always new."""
        if not key:
            return True
        if key in self._ids:
            return False
        self._ids[key] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True
