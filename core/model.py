"""Domain model: accounts as the Atlassian directory describes them.

Every type here is a frozen dataclass or a plain enum. Nothing here knows about HTTP,
JSON field names or storage; adapters translate at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NewType

AccountId = NewType("AccountId", str)
OrgId = NewType("OrgId", str)
DirectoryId = NewType("DirectoryId", str)
GroupId = NewType("GroupId", str)
#: Product keys are open-ended: ``jira-software``, ``confluence``, ``jira-servicedesk``, ``jira`` and any
#: key Atlassian adds later. Nothing may crash on a key it has not seen before.
ProductKey = NewType("ProductKey", str)

#: Platform roles that make an account an administrator. Administrators are never touched.
ADMIN_ROLES: frozenset[str] = frozenset({"atlassian/org-admin", "atlassian/site-admin", "atlassian/user-access-admin"})


class AccountType(StrEnum):
    """What kind of Atlassian account this is; ``OTHER`` keeps unknown values from crashing."""

    ATLASSIAN = "atlassian"
    APP = "app"
    CUSTOMER = "customer"
    OTHER = "other"

    @classmethod
    def parse(cls, value: str | None) -> AccountType:
        """Map an API value to a member; unknown or missing values become ``OTHER``."""
        try:
            return cls(value or "other")
        except ValueError:
            return cls.OTHER


class AccountStatus(StrEnum):
    """The Atlassian account's own status (not its membership in this org)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"
    OTHER = "other"

    @classmethod
    def parse(cls, value: str | None) -> AccountStatus:
        """Map an API value to a member; unknown or missing values become ``OTHER``."""
        try:
            return cls(value or "other")
        except ValueError:
            return cls.OTHER


class MembershipStatus(StrEnum):
    """The account's membership in the org's directory."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    NO_MEMBERSHIP = "no_membership"
    OTHER = "other"

    @classmethod
    def parse(cls, value: str | None) -> MembershipStatus:
        """Map an API value to a member; unknown or missing values become ``OTHER``."""
        try:
            return cls(value or "other")
        except ValueError:
            return cls.OTHER


class Claim(StrEnum):
    """Whether the org has claimed (verified the domain of) the account."""

    MANAGED = "managed"
    UNMANAGED = "unmanaged"


class ManagementSource(StrEnum):
    """How a managed account got into the directory; ``SYNCED`` means an IdP owns it (SCIM)."""

    INVITED = "invited"
    SYNCED = "synced"
    UNKNOWN = "unknown"


# Members looked up once for the properties the planner asks of every account (a member's
# class-attribute lookup costs more than the identity test).
_ATLASSIAN, _SYNCED = AccountType.ATLASSIAN, ManagementSource.SYNCED
_ACTIVE_ACCOUNT, _ACTIVE_MEMBER = AccountStatus.ACTIVE, MembershipStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Group:
    """A directory group the account belongs to."""

    id: GroupId
    name: str


@dataclass(frozen=True, slots=True)
class ProductAccess:
    """Access to one product instance, with the last time the account used it.

    ``last_active`` is ``None`` when Atlassian reports the product as never used.
    """

    key: ProductKey
    resource_id: str
    last_active: datetime | None


@dataclass(frozen=True, slots=True)
class Account:
    """One account in an org's directory, as of a scan.

    ``activity_known`` is false when Atlassian could not tell us when the account was last
    active (the search left it undated and the per-user fallback failed). The planner fails
    closed on such accounts: unknown never means "never active".
    """

    account_id: AccountId
    email: str | None
    name: str
    account_type: AccountType
    account_status: AccountStatus
    membership_status: MembershipStatus
    claim: Claim
    management_source: ManagementSource
    added_to_org: datetime | None
    groups: tuple[Group, ...] = ()
    platform_roles: frozenset[str] = frozenset()
    products: tuple[ProductAccess, ...] = ()
    activity_known: bool = True
    scheduled_for_deletion: bool = False

    @property
    def is_admin(self) -> bool:
        """True when any platform role is an administrator role."""
        return not ADMIN_ROLES.isdisjoint(self.platform_roles)

    @property
    def is_synced(self) -> bool:
        """True when an identity provider owns this account (SCIM)."""
        return self.management_source is _SYNCED

    @property
    def is_billable(self) -> bool:
        """True when this account can hold a paid product seat right now."""
        return (
            self.account_type is _ATLASSIAN
            and self.account_status is _ACTIVE_ACCOUNT
            and self.membership_status is _ACTIVE_MEMBER
        )

    def group_ids_named(self, names: tuple[str, ...] | frozenset[str]) -> tuple[GroupId, ...]:
        """Ids of this account's groups whose name is in ``names``."""
        return tuple(g.id for g in self.groups if g.name in names)

    def product(self, key: ProductKey) -> ProductAccess | None:
        """The access record for ``key``, or ``None`` when the account lacks that product."""
        for access in self.products:
            if access.key == key:
                return access
        return None

    def last_active_anywhere(self) -> datetime | None:
        """The most recent last-active time across every product, ``None`` if never active."""
        dates = [p.last_active for p in self.products if p.last_active is not None]
        return max(dates) if dates else None


@dataclass(frozen=True, slots=True)
class Org:
    """An Atlassian organization and the directory we scan in it."""

    org_id: OrgId
    directory_id: DirectoryId
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ApiUse:
    """What an account's API tokens say about its use (Atlassian counts only page views as activity).

    ``known`` is false when the tokens could not be read (``reason`` says why): unknown never
    means "unused". ``label`` and ``last_access`` describe the most recently used token;
    ``last_access`` is ``None`` when no token was ever used.
    """

    known: bool
    label: str = ""
    last_access: datetime | None = None
    reason: str = ""

    @classmethod
    def unknown(cls, reason: str) -> ApiUse:
        """Tokens that could not be read, with why."""
        return cls(known=False, reason=reason)

    @classmethod
    def latest(cls, tokens: list[tuple[str, datetime | None]]) -> ApiUse:
        """The evidence of ``tokens`` given as (label, last access) pairs: the latest use wins."""
        used = [(at, label) for label, at in tokens if at is not None]
        if not used:
            return cls(known=True)
        at, label = max(used)
        return cls(known=True, label=label, last_access=at)


@dataclass(frozen=True, slots=True)
class ApiEvidence:
    """The API-token evidence of one account as read at ``read_at`` (only known evidence is kept)."""

    account_id: str
    api: ApiUse
    read_at: datetime
