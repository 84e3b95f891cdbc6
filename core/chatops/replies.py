"""Platform-neutral values the chat use cases return; Slack and Teams only render them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from core.chat import Actor, Button, Purpose, TokenStatus
from core.threads import ThreadKey


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a :class:`Section`: a line of text and the buttons that act on it."""

    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of a reply under its lines (the admin home's "Keeps waiting for you")."""

    title: str
    entries: tuple[Entry, ...] = ()
    note: str = ""  # under the entries, e.g. how many more were left out


@dataclass(frozen=True, slots=True)
class Reply:
    """What to show the person: text, optional key/value lines, buttons, sections and a file."""

    text: str
    ok: bool = True
    title: str = ""
    lines: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()
    file: Path | None = None
    public: bool = False  # visible to the channel rather than only to the caller
    #: Posted to the admins as the parent of this request's thread (replies and the outcome follow there).
    thread: ThreadKey | None = None
    #: Titled parts after the buttons, each entry with its own buttons (the admin home's waiting keeps).
    sections: tuple[Section, ...] = ()

    @property
    def thread_text(self) -> str:
        """The plain words kept with a thread parent, to redraw it with its outcome."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class ClickResult:
    """What a button click did; ``message_ref`` is the message to update in place, if known."""

    status: TokenStatus
    text: str
    purpose: Purpose | None = None
    message_ref: str | None = None
    first: bool = False  # True only for the click that actually did something
    ok: bool = True  # False when the click was valid but the action was refused (e.g. keep limit)
    #: Not done yet, and not refused: it waits for an admin (a keep past ``keep.approval_after``).
    waiting: bool = False


class Outcome(NamedTuple):
    """What a button's action did: text for the clicker, whether it was carried out, whether it waits for an admin."""

    text: str
    ok: bool
    waiting: bool = False


Respond = Callable[[Reply], Awaitable[None]]
#: Posts a reply (with buttons) where a chat surface's admins are; True when it was posted.
AdminPoster = Callable[[Reply], Awaitable[bool]]
#: Tells admins whom no admin thread reaches (EMAIL_ADMIN_ADDRESSES) a plain notice.
AdminNotice = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Admins:
    """Who may run admin commands: an allow-list of actors (platform, tenant, user id)."""

    allowed: frozenset[tuple[str, str, str]] = frozenset()

    @classmethod
    def of(cls, actors: Iterable[Actor]) -> Admins:
        """Build from actors."""
        return cls(frozenset((a.platform, a.tenant, a.user_id) for a in actors))

    def is_admin(self, actor: Actor) -> bool:
        """True for listed actors only: names and emails never grant anything."""
        return (actor.platform, actor.tenant, actor.user_id) in self.allowed
