"""In-memory data model of the simulated Atlassian organization.

Everything here is plain stdlib: ``__slots__`` dataclasses plus a few
state-transition helpers.  The HTTP layer (``server``/``handlers``) renders
these objects as Atlassian JSON; nothing in here knows about HTTP.

Invariants:

* ``SandboxOrg.user_ids`` is the sorted list of every account id; the search
  endpoint pages over it with keyset cursors, so it must stay sorted (use
  :meth:`SandboxOrg.add_user`).
* Product access is *derived*: a user has access to a product exactly when
  they are a member of the directory (``membership_status != "no_membership"``)
  and one of their groups grants that product.
* Last-active dates are stored per (user, product key) and survive losing
  access, so re-granting access shows the old date again.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime

ACCOUNT_TYPES = ("atlassian", "app", "customer")
ACCOUNT_STATUSES = ("active", "inactive", "closed")
MEMBERSHIP_STATUSES = ("active", "suspended", "no_membership")
USER_STATUSES = ("active", "suspended", "not_invited", "deactivated", "for_deletion")
CLAIM_STATUSES = ("managed", "unmanaged")

ORG_ADMIN_ROLE = "atlassian/org-admin"
SITE_ADMIN_ROLE = "atlassian/site-admin"
USER_ACCESS_ADMIN_ROLE = "atlassian/user-access-admin"


@dataclass(slots=True)
class Product:
    """A product installed on the org's single site.

    ``resource_id`` is the site ARI, ``ari:cloud:<key>::site/<cloudId>``.
    """

    key: str
    name: str
    resource_id: str


@dataclass(slots=True)
class Group:
    """A directory group.

    ``grants`` is the product key the group gives access to (``None`` for team
    groups).  ``synced`` groups are managed by the IdP (SCIM) and refuse
    membership changes.  ``admin_role`` marks the ``site-admins``/``org-admins``
    groups, which cannot be edited through the membership API.
    """

    id: str
    name: str
    description: str | None
    grants: str | None = None
    synced: bool = False
    admin_role: str | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One API token of a user, as ``GET /users/{id}/manage/api-tokens`` lists it."""

    id: str
    label: str
    created_at: datetime
    last_access: datetime | None = None


@dataclass(slots=True)
class User:
    """One account in the org.

    ``group_ids`` and ``platform_roles`` are tuples; mutators replace them.
    ``last_active`` maps product key -> last-active time (absent or ``None``
    means "never used").  ``undated`` users have their ``productAccess`` key
    omitted from v2 responses (degraded data) while the v1 last-active-dates
    endpoint still serves their dates.
    """

    account_id: str
    account_type: str
    name: str
    nickname: str
    email: str | None
    email_verified: bool
    claim_status: str
    management_source: str | None
    mfa_enabled: bool
    account_status: str = "active"
    membership_status: str = "active"
    for_deletion: bool = False
    added_to_org: datetime | None = None
    deactivated_on: datetime | None = None
    platform_roles: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    last_active: dict[str, datetime | None] = field(default_factory=dict)
    undated: bool = False
    api_tokens: tuple[ApiToken, ...] = ()

    @property
    def status(self) -> str:
        """The v2 aggregate ``status`` derived from the other state fields."""
        if self.for_deletion:
            return "for_deletion"
        if self.account_status != "active":
            return "deactivated"
        if self.membership_status == "suspended":
            return "suspended"
        if self.membership_status == "no_membership":
            return "not_invited"
        return "active"

    @property
    def is_org_admin(self) -> bool:
        """True when the user holds the org-admin platform role."""
        return ORG_ADMIN_ROLE in self.platform_roles

    @property
    def synced(self) -> bool:
        """True when the account is provisioned by the IdP (SCIM)."""
        return self.management_source == "synced"

    @property
    def managed(self) -> bool:
        """True when the account's email domain is claimed by the org."""
        return self.claim_status == "managed"


@dataclass(slots=True)
class SandboxOrg:
    """The whole simulated org: one site, one directory, groups and users."""

    org_id: str
    org_name: str
    directory_id: str
    directory_name: str
    cloud_id: str
    managed_domain: str
    products: dict[str, Product]
    groups: dict[str, Group]
    users: dict[str, User]
    user_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.user_ids:
            self.user_ids = sorted(self.users)

    # -- queries -----------------------------------------------------------
    def group_by_name(self, name: str) -> Group:
        """Return the group called ``name`` (KeyError when absent)."""
        for group in self.groups.values():
            if group.name == name:
                return group
        raise KeyError(name)

    def product_access(self, user: User) -> list[Product]:
        """Products the user can currently access, in ``products`` order."""
        if user.membership_status == "no_membership":
            return []
        granted = {self.groups[g].grants for g in user.group_ids if g in self.groups}
        return [p for k, p in self.products.items() if k in granted]

    def users_where(self, **attrs: object) -> list[User]:
        """Users whose attributes equal every given keyword (test helper)."""
        return [u for u in self.users.values() if all(getattr(u, k) == v for k, v in attrs.items())]

    # -- mutations ---------------------------------------------------------
    def add_user(self, user: User) -> None:
        """Insert a user, keeping ``user_ids`` sorted for keyset paging."""
        if user.account_id in self.users:
            raise ValueError(f"duplicate account id {user.account_id}")
        self.users[user.account_id] = user
        bisect.insort(self.user_ids, user.account_id)

    def suspend(self, user: User) -> None:
        """Suspend directory membership; groups and roles are kept."""
        user.membership_status = "suspended"

    def restore(self, user: User) -> None:
        """Undo :meth:`suspend`."""
        user.membership_status = "active"

    def remove_from_directory(self, user: User) -> None:
        """Remove the user from the directory: groups and roles are cleared."""
        user.membership_status = "no_membership"
        user.group_ids = ()
        user.platform_roles = ()

    def add_to_group(self, user: User, group: Group) -> bool:
        """Add a membership; returns False when it already existed."""
        if group.id in user.group_ids:
            return False
        user.group_ids = (*user.group_ids, group.id)
        return True

    def remove_from_group(self, user: User, group: Group) -> bool:
        """Remove a membership; returns False when there was none."""
        if group.id not in user.group_ids:
            return False
        user.group_ids = tuple(g for g in user.group_ids if g != group.id)
        return True

    def disable(self, user: User, now: datetime) -> None:
        """Deactivate the Atlassian account (lifecycle/disable)."""
        if user.account_status != "inactive":
            user.account_status = "inactive"
            user.deactivated_on = now

    def enable(self, user: User) -> None:
        """Reactivate the account (lifecycle/enable)."""
        user.account_status = "active"
        user.deactivated_on = None

    def schedule_deletion(self, user: User, now: datetime) -> None:
        """Schedule deletion with the 14-day grace (lifecycle/delete)."""
        user.for_deletion = True
        self.disable(user, now)

    def cancel_deletion(self, user: User) -> None:
        """Cancel a scheduled deletion; the account is active again."""
        user.for_deletion = False
        self.enable(user)
