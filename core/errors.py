"""Errors raised by the core and by adapters on its behalf.

The tree::

    CleanupError
    ├── PolicyError                 a policy file or mapping is invalid (names file, field, value)
    ├── DirectoryError              talking to the Atlassian directory failed
    │   ├── AuthenticationFailed    the API key was refused (401/403 on every call)
    │   ├── RateLimited             429 and the retry budget ran out
    │   ├── DirectoryUnavailable    5xx, timeouts or resets and the retry budget ran out
    │   ├── AccountNotFound         the account (or org) does not exist (404)
    │   └── NotManageable           Atlassian refuses to change this account, with a reason key
    └── StoreError                  the database refused or is unreachable
        └── FencedOut               a write carried a stale leader epoch: another replica leads now

Adapters catch their SDK's exceptions and raise these; the core never sees httpx or SQLAlchemy.
"""

from __future__ import annotations


class CleanupError(Exception):
    """Base class of every error this project raises on purpose."""


class PolicyError(CleanupError):
    """A policy is invalid. ``str(err)`` reads ``source: field: message (got value)``."""

    def __init__(self, source: str, field: str, message: str, value: object = None) -> None:
        self.source = source
        self.field = field
        self.message = message
        self.value = value
        got = "" if value is None else f" (got {value!r})"
        location = f"{source}: {field}" if field else source
        super().__init__(f"{location}: {message}{got}")


class DirectoryError(CleanupError):
    """Talking to the Atlassian directory failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None) -> None:
        self.status = status
        self.request_id = request_id
        super().__init__(message)


class AuthenticationFailed(DirectoryError):
    """The API key or token was refused."""


class RateLimited(DirectoryError):
    """Atlassian kept answering 429 after the retry budget; ``retry_after`` is in seconds if known."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class DirectoryUnavailable(DirectoryError):
    """Atlassian is down or unreachable (5xx, timeouts, resets) after the retry budget."""


class AccountNotFound(DirectoryError, LookupError):
    """No such account (or org) in the directory."""

    def __init__(self, account_id: str, *, status: int | None = 404, code: str | None = None) -> None:
        self.account_id = account_id
        self.code = code
        super().__init__(f"account {account_id!r} not found", status=status)


class NotManageable(DirectoryError):
    """Atlassian refuses to change this account; ``reason`` is Atlassian's reason key.

    Typical reasons: ``managedAccount`` (not a managed account), ``externalDirectory.scim``
    (an identity provider owns it: change it there), ``ADMIN-403-3`` (an org admin).
    """

    def __init__(self, account_id: str, reason: str, *, status: int | None = 403) -> None:
        self.account_id = account_id
        self.reason = reason
        super().__init__(f"account {account_id!r} cannot be changed here: {reason}", status=status)


class StoreError(CleanupError):
    """The database refused an operation or is unreachable."""


class FencedOut(StoreError):
    """A write carried a leader epoch that is no longer the org's current one; nothing was written.

    Another replica became leader (see ``core.ports.LeaderLock``) after this one took its
    epoch. The holder of the stale epoch must stop working on ``org_id`` at once; the new
    leader reconciles whatever was left in flight.
    """

    def __init__(self, org_id: str, epoch: int, current: int | None) -> None:
        self.org_id = org_id
        self.epoch = epoch
        self.current = current
        now = "no leader epoch is recorded" if current is None else f"the current epoch is {current}"
        super().__init__(f"fenced out of org {org_id!r}: this writer holds leader epoch {epoch} but {now}")
