"""People, not platform accounts: four-eyes rules compare persons across Slack, Teams, email and the CLI.

An actor id is how someone appears in the audit trail: ``slack:T0ACME/U0ALICE``,
``teams:<tenant>/<aad id>``, ``cli:alice``, ``email:alice@acme.example``. The same person often
has several (a Slack admin who is also a Teams admin and runs the CLI). :class:`People` maps
each known id to one person, from an explicit identity map in the settings; ids also name the
person's Atlassian account (``atlassian:<account id>``) so nobody approves a restore of their
own account. Ids the map does not list are persons of their own, so the rule is never weaker
than comparing platform accounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PREFIXES = ("slack:", "teams:", "cli:", "email:", "atlassian:", "jsm:")


class IdentityError(ValueError):
    """The identity map is malformed; the message names the entry."""


def _normal(actor_id: str) -> str:
    """Emails are compared in lower case; everything else exactly."""
    kind, _, rest = actor_id.partition(":")
    return f"{kind}:{rest.lower()}" if kind in ("email", "teams") else actor_id


@dataclass(frozen=True, slots=True)
class People:
    """Which actor ids belong to the same person (an empty map: every id is its own person)."""

    person_of: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, source: str = "ADMIN_IDENTITIES") -> People:
        """``alice = slack:T0ACME/U0ALICE, teams:<tenant>/<aad>, cli:alice, email:alice@acme.example; bob = ...``."""
        mapping: dict[str, str] = {}
        for number, chunk in enumerate((c.strip() for c in text.split(";")), start=1):
            if not chunk:
                continue
            name, sep, ids = chunk.partition("=")
            name = name.strip()
            if not sep or not name:
                raise IdentityError(f"{source}: entry {number} ({chunk!r}) is not 'person = id, id, ...'")
            for raw in (i.strip() for i in ids.split(",")):
                if not raw:
                    continue
                if not raw.startswith(PREFIXES) or raw.endswith(":"):
                    raise IdentityError(
                        f"{source}: {name}: {raw!r} is not an actor id ({', '.join(p + '…' for p in PREFIXES)})"
                    )
                key = _normal(raw)
                if mapping.get(key, name) != name:
                    raise IdentityError(f"{source}: {raw!r} is listed for both {mapping[key]} and {name}")
                mapping[key] = name
        return cls(mapping)

    def person(self, actor_id: str) -> str:
        """The person behind ``actor_id`` (the id itself when the map does not list it)."""
        key = _normal(actor_id)
        return self.person_of.get(key, key)

    def same(self, first: str | None, second: str | None) -> bool:
        """True when both ids are known and belong to one person."""
        if not first or not second:
            return False
        return self.person(first) == self.person(second)

    def owns_account(self, actor_id: str, account_id: str, emails: Iterable[str | None] = ()) -> bool:
        """True when ``actor_id`` is the person whose Atlassian account (or one of its emails) this is."""
        ids = [f"atlassian:{account_id}", *(f"email:{e}" for e in emails if e)]
        return any(self.same(actor_id, other) for other in ids)


def same_person(first: str | None, second: str | None, people: People | None = None) -> bool:
    """Four-eyes comparison of two actor ids, across platforms when ``people`` knows them."""
    return (people or People()).same(first, second)
