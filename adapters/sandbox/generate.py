"""Deterministic generator for a realistic simulated org.

``generate_org(users, seed)`` always returns the same org for the same
arguments (and ``now``): every random draw comes from one
``random.Random(seed)``.  Category sizes are exact counts (``round(fraction *
users)``) assigned over a seeded shuffle, so fractions are reliable even for
small orgs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random

from .org import (
    ORG_ADMIN_ROLE,
    SITE_ADMIN_ROLE,
    USER_ACCESS_ADMIN_ROLE,
    ApiToken,
    Group,
    Product,
    SandboxOrg,
    User,
)

MANAGED_DOMAIN = "acme.example"
EXTERNAL_DOMAINS = ("partner.example.net", "contractor.example.org", "gmail.example.com")
CUSTOMER_DOMAINS = ("customer-mail.example.org", "clients.example.com", "example.net")

PRODUCT_NAMES = {
    "jira-software": "Jira Software",
    "confluence": "Confluence",
    "jira-servicedesk": "Jira Service Management",
    "jira-product-discovery": "Jira Product Discovery",
}
PRODUCT_GROUPS = {
    "jira-software": "jira-software-users",
    "confluence": "confluence-users",
    "jira-servicedesk": "jira-servicemanagement-users",
    "jira-product-discovery": "jira-product-discovery-users",
}
#: Team groups: name -> (synced by IdP, admin role the group corresponds to).
TEAM_GROUPS: dict[str, tuple[bool, str | None]] = {
    "engineering": (True, None),
    "sales": (False, None),
    "support": (False, None),
    "contractors": (False, None),
    "site-admins": (False, SITE_ADMIN_ROLE),
    "org-admins": (False, ORG_ADMIN_ROLE),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "Ada Alan Grace Linus Barbara Ken Margaret Dennis Edsger Frances Donald Radia "
    "Tim Hedy John Katherine Guido Sophie Bjarne Anita Niklaus Lynn Rasmus Mary "
    "Yukihiro Shafi Leslie Joan Brian Karen Rob Ida Whitfield Jean Vint Elena "
    "Ivan Fran Tony Carla Omar Priya Wei Aisha Mateo Ingrid Kwame Sanna Lars Noor"
)
LAST = _words(
    "Lovelace Turing Hopper Torvalds Liskov Thompson Hamilton Ritchie Dijkstra "
    "Allen Knuth Perlman Berners-Lee Lamarr McCarthy Johnson Rossum Wilson "
    "Stroustrup Borg Wirth Conway Lerdorf Shaw Matsumoto Goldwasser Lamport Clarke "
    "Kernighan Jones Pike Holberton Diffie Sammet Cerf Petrova Sutherland Allen "
    "Hoare Silva Haddad Patel Zhang Khan Garcia Berg Mensah Virtanen Nilsson Aziz"
)


@dataclass(frozen=True, slots=True)
class Mix:
    """Population fractions (of all users) and activity shape.

    Primary categories are exclusive: ``org_admin``, ``site_admin``,
    ``user_access_admin``, ``app``, ``customer``, ``unmanaged``; the remainder
    are regular managed people on ``acme.example``.  Overlays
    (``invited_never_active``, ``recently_added``, ``suspended``,
    ``deactivated``) are exclusive of each other and drawn from regular and
    unmanaged people (``deactivated`` from managed ones only).  ``synced`` is
    drawn from regular managed people independently of the overlays.
    """

    org_admin: float = 0.01
    site_admin: float = 0.02
    user_access_admin: float = 0.005
    app: float = 0.03
    customer: float = 0.08
    unmanaged: float = 0.10
    synced: float = 0.15
    invited_never_active: float = 0.05
    recently_added: float = 0.03
    suspended: float = 0.02
    deactivated: float = 0.01
    #: Share of people whose product use is mostly within the last 30 days.
    active_30d: float = 0.55
    #: Oldest last-active age, in days.
    max_inactive_days: int = 500
    #: Chance that a person with a product's access never used that product.
    never_used_product: float = 0.07
    #: Per-person chance of being in each product group.
    jira_software: float = 0.85
    confluence: float = 0.65
    jira_servicedesk: float = 0.12
    jira_product_discovery: float = 0.02
    #: Share of unmanaged people whose email is hidden by privacy settings.
    hidden_email: float = 0.05
    mfa: float = 0.6


def _uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _count(fraction: float, total: int) -> int:
    if fraction <= 0:
        return 0
    return min(total, max(1 if total >= 50 else 0, int(fraction * total + 0.5)))


class _Builder:
    def __init__(self, rng: Random, now: datetime, mix: Mix, org: SandboxOrg) -> None:
        self.rng = rng
        self.now = now
        self.mix = mix
        self.org = org
        self.seen_emails: set[str] = set()
        self.group_id = {g.name: g.id for g in org.groups.values()}

    def account_id(self) -> str:
        if self.rng.random() < 0.3:
            return "712020:" + _uuid(self.rng)
        return f"{self.rng.getrandbits(96):024x}"

    def person(self, domain: str) -> tuple[str, str, str]:
        first = self.rng.choice(FIRST)
        last = self.rng.choice(LAST)
        local = f"{first}.{last}".lower()
        email = f"{local}@{domain}"
        n = 1
        while email in self.seen_emails:
            n += 1
            email = f"{local}{n}@{domain}"
        self.seen_emails.add(email)
        return f"{first} {last}", first.lower(), email

    def ago(self, min_days: float, max_days: float) -> datetime:
        lo, hi = int(min_days * 86400), int(max_days * 86400)
        return self.now - timedelta(seconds=self.rng.randint(lo, max(lo, hi)))

    def product_groups(self) -> list[str]:
        m, rng = self.mix, self.rng
        picks = [
            key
            for key, p in (
                ("jira-software", m.jira_software),
                ("confluence", m.confluence),
                ("jira-servicedesk", m.jira_servicedesk),
                ("jira-product-discovery", m.jira_product_discovery),
            )
            if rng.random() < p
        ]
        if not picks:
            picks = ["jira-software"]
        return [self.group_id[PRODUCT_GROUPS[k]] for k in picks]

    def activity(self, user: User, products: list[str], recent: bool = False) -> None:
        """Fill ``last_active`` for the products the user's groups grant."""
        m, rng = self.mix, self.rng
        added = user.added_to_org or (self.now - timedelta(days=m.max_inactive_days))
        age_days = max(0.0, (self.now - added).total_seconds() / 86400)
        active_person = recent or rng.random() < m.active_30d
        for n, key in enumerate(products):
            # a person who is not "never active" has used at least one product
            last_chance = n == len(products) - 1 and not user.last_active
            if not last_chance and rng.random() < m.never_used_product:
                continue
            if active_person and (recent or rng.random() < 0.9):
                lo, hi = 0.0, 30.0
            else:
                lo, hi = 30.0, float(m.max_inactive_days)
            hi = min(hi, age_days)
            lo = min(lo, hi)
            user.last_active[key] = self.ago(lo, hi)


def _build_groups(rng: Random) -> dict[str, Group]:
    groups: list[Group] = []
    for key, name in PRODUCT_GROUPS.items():
        grants = f"Grants access to {PRODUCT_NAMES[key]}"
        groups.append(Group(_uuid(rng), name, grants, grants=key))
    for name, (synced, role) in TEAM_GROUPS.items():
        desc = "Synced from the identity provider" if synced else None
        groups.append(Group(_uuid(rng), name, desc, synced=synced, admin_role=role))
    return {g.id: g for g in groups}


def generate_org(
    users: int = 2000,
    seed: int = 1,
    now: datetime | None = None,
    undated_fraction: float = 0.005,
    mix: Mix | None = None,
) -> SandboxOrg:
    """Build a deterministic simulated org of ``users`` accounts.

    ``now`` (tz-aware; default: current UTC time) anchors every generated
    timestamp; timestamps have whole-second precision.  ``undated_fraction``
    of the users who have at least one last-active date get
    ``User.undated = True``.  Same arguments -> identical org.
    """
    if users < 0:
        raise ValueError("users must be >= 0")
    if now is None:
        now = datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC).replace(microsecond=0)
    mix = mix or Mix()
    rng = Random(seed)
    org = _empty_org(rng)
    b = _Builder(rng, now, mix, org)
    kinds = _primary_kinds(rng, users, mix)
    overlay, synced = _overlays(rng, users, kinds, mix)
    for i in range(users):
        account_id = b.account_id()
        while account_id in org.users:
            account_id = b.account_id()
        mfa = rng.random() < mix.mfa
        kind = kinds[i]
        if kind == "app":
            user = _app_user(b, account_id, i)
        elif kind == "customer":
            user = _customer_user(b, account_id)
        else:
            user = _person(b, account_id, kind, mfa, is_synced=i in synced)
            _person_dates(b, user, overlay.get(i))
        org.users[account_id] = user
    dated = [u for u in org.users.values() if any(u.last_active.values())]
    dated.sort(key=lambda u: u.account_id)
    for u in rng.sample(dated, min(len(dated), _count(undated_fraction, users))):
        u.undated = True
    _api_tokens(Random(f"api-tokens-{seed}"), org, now, users)
    org.user_ids = sorted(org.users)
    return org


#: Shares of the people given API tokens: service-style accounts whose only activity is a
#: token used in the last week, and accounts with tokens unused for a year or never used.
API_ONLY_SHARE = 0.01
STALE_TOKEN_SHARE = 0.02


def _api_tokens(rng: Random, org: SandboxOrg, now: datetime, users: int) -> None:
    """Give some people API tokens, from their own random stream (the rest of the org is unchanged)."""
    people = sorted((u for u in org.users.values() if u.account_type == "atlassian"), key=lambda u: u.account_id)
    dormant = [
        u
        for u in people
        if u.last_active
        and not u.platform_roles
        and not u.synced
        and u.status == "active"
        and all(t is None or now - t > timedelta(days=200) for t in u.last_active.values())
    ]
    api_only = rng.sample(dormant, min(len(dormant), _count(API_ONLY_SHARE, users)))
    for u in api_only:
        created = now - timedelta(days=rng.randint(200, 900))
        used = now - timedelta(days=rng.randint(0, 6), seconds=rng.randint(0, 86_399))
        u.api_tokens = (ApiToken(_uuid(rng), rng.choice(_SERVICE_LABELS), created, used),)
    rest = [u for u in people if not u.api_tokens]
    for u in rng.sample(rest, min(len(rest), _count(STALE_TOKEN_SHARE, users))):
        created = now - timedelta(days=rng.randint(400, 1200))
        stale = None if rng.random() < 0.5 else created + timedelta(days=rng.randint(1, 30))
        u.api_tokens = (ApiToken(_uuid(rng), rng.choice(_SERVICE_LABELS), created, stale),)


_SERVICE_LABELS = ("ci-deploy", "backup-export", "reporting-sync", "jira-cli", "release-bot")


def _empty_org(rng: Random) -> SandboxOrg:
    """The org, its directory, products and groups, without users."""
    org_id, directory_id, cloud_id = _uuid(rng), _uuid(rng), _uuid(rng)
    products = {key: Product(key, name, f"ari:cloud:{key}::site/{cloud_id}") for key, name in PRODUCT_NAMES.items()}
    return SandboxOrg(
        org_id=org_id,
        org_name="Acme Example",
        directory_id=directory_id,
        directory_name="Acme Example directory",
        cloud_id=cloud_id,
        managed_domain=MANAGED_DOMAIN,
        products=products,
        groups=_build_groups(rng),
        users={},
    )


def _primary_kinds(rng: Random, users: int, mix: Mix) -> list[str]:
    """Each user's primary category, exact counts over a seeded shuffle."""
    order = list(range(users))
    rng.shuffle(order)
    kinds: list[str] = ["regular"] * users
    pos = 0
    for kind, frac in (
        ("org_admin", mix.org_admin),
        ("site_admin", mix.site_admin),
        ("uaa", mix.user_access_admin),
        ("app", mix.app),
        ("customer", mix.customer),
        ("unmanaged", mix.unmanaged),
    ):
        n = min(_count(frac, users), users - pos)
        for i in order[pos : pos + n]:
            kinds[i] = kind
        pos += n
    return kinds


def _overlays(rng: Random, users: int, kinds: list[str], mix: Mix) -> tuple[dict[int, str], set[int]]:
    """The states laid over the categories (deactivated, suspended...) and who is IdP-synced."""
    regular = [i for i in range(users) if kinds[i] == "regular"]
    people = [i for i in range(users) if kinds[i] in ("regular", "unmanaged")]
    overlay: dict[int, str] = {}
    for name, frac, pool in (
        ("deactivated", mix.deactivated, regular),
        ("suspended", mix.suspended, people),
        ("invited", mix.invited_never_active, people),
        ("recent", mix.recently_added, people),
    ):
        free = [i for i in pool if i not in overlay]
        for i in rng.sample(free, min(len(free), _count(frac, users))):
            overlay[i] = name
    synced = set(rng.sample(regular, min(len(regular), _count(mix.synced, users))))
    return overlay, synced


def _app_user(b: _Builder, account_id: str, i: int) -> User:
    label = b.rng.choice(("Automation", "Slack", "Jenkins", "Tempo", "Zapier"))
    user = User(
        account_id,
        "app",
        f"{label} for Jira {i}",
        f"{label.lower()}-{i}",
        None,
        False,
        "unmanaged",
        None,
        False,
    )
    user.group_ids = (b.group_id["jira-software-users"],)
    return user


def _customer_user(b: _Builder, account_id: str) -> User:
    name, nick, email = b.person(b.rng.choice(CUSTOMER_DOMAINS))
    return User(
        account_id,
        "customer",
        name,
        nick,
        email,
        True,
        "unmanaged",
        None,
        False,
        added_to_org=b.ago(15, 900),
    )


def _person(b: _Builder, account_id: str, kind: str, mfa: bool, *, is_synced: bool) -> User:
    """A regular, admin or unmanaged person with roles and groups (dates come after)."""
    rng, gid = b.rng, b.group_id
    managed = kind != "unmanaged"
    domain = MANAGED_DOMAIN if managed else rng.choice(EXTERNAL_DOMAINS)
    name, nick, email = b.person(domain)
    shown_email: str | None = email
    if not managed and rng.random() < b.mix.hidden_email:
        shown_email = None
    user = User(
        account_id,
        "atlassian",
        name,
        nick,
        shown_email,
        True,
        "managed" if managed else "unmanaged",
        "synced" if is_synced else "invited",
        mfa,
    )
    groups = b.product_groups()
    if kind == "org_admin":
        user.platform_roles = (ORG_ADMIN_ROLE,)
        groups += [gid["org-admins"], gid["site-admins"]]
    elif kind == "site_admin":
        user.platform_roles = (SITE_ADMIN_ROLE,)
        groups.append(gid["site-admins"])
    elif kind == "uaa":
        user.platform_roles = (USER_ACCESS_ADMIN_ROLE,)
    if not managed:
        groups.append(gid["contractors"])
    elif is_synced:
        groups.append(gid["engineering"])
    else:
        groups.append(gid[rng.choice(("sales", "support"))])
    user.group_ids = tuple(groups)
    return user


def _person_dates(b: _Builder, user: User, ov: str | None) -> None:
    """When the person joined, was last active, and the overlaid state (suspended, deactivated...)."""
    granted = [b.org.groups[g].grants for g in user.group_ids if b.org.groups[g].grants]
    product_keys = [k for k in granted if k is not None]
    if ov == "recent":
        user.added_to_org = b.ago(0, 14)
        if b.rng.random() < 0.5:
            b.activity(user, product_keys, recent=True)
    else:
        user.added_to_org = b.ago(20, 1500)
        if ov != "invited":
            b.activity(user, product_keys)
    if ov == "suspended":
        user.membership_status = "suspended"
    elif ov == "deactivated":
        user.account_status = "inactive"
        dates = [d for d in user.last_active.values() if d is not None]
        start = max(dates) if dates else user.added_to_org
        span = max(0.0, (b.now - start).total_seconds() / 86400)
        user.deactivated_on = b.ago(0, span)
