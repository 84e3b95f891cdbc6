"""Slack OAuth storage in the bot's own database: installations and one-use install states.

slack_sdk's interfaces (``AsyncInstallationStore``, ``AsyncOAuthStateStore``) over the tables of
migration ``0012`` (:mod:`adapters.store.slack_tables`), on the lifecycle store's engine; slack_sdk
never creates tables. Every store has a ``scope`` (the org whose install URL was used): it reads,
replaces and deletes only its own rows, so two orgs installing into one workspace keep a bot each.

* **Installations** are keyed by (scope, enterprise id, team id); saving one replaces the previous
  install of that workspace (a re-install after a scope change). An org-wide Enterprise Grid
  install has team id ``""`` and answers for every workspace of that enterprise. Bot tokens are
  encrypted with :class:`TokenCipher` (Fernet: AES-128-CBC + HMAC-SHA256) before they are written;
  a row that cannot be decrypted (another key) reads as not installed, logged without the token.
* **States** are random (32 bytes, URL-safe), stored only as their SHA-256 with an expiry
  (``expiration_seconds``, 10 minutes by default) on the injected clock; consuming one deletes it
  in the same transaction, so a state is good once, and never after it expired.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from adapters.store.database import Database, EngineStore
from adapters.store.slack_tables import SLACK_INSTALLATIONS, SLACK_OAUTH_STATES

__all__ = ["DEFAULT_STATE_SECONDS", "InstalledWorkspace", "SqlSlackInstallations", "SqlSlackStates", "TokenCipher"]

log = logging.getLogger("jira_cleanup.store.slack")

#: How long a ``state`` from ``/slack/install`` may be used (Slack's consent page included).
DEFAULT_STATE_SECONDS: Final = 600
_KEY_LABEL: Final = b"jira-cleanup slack bot tokens v1"

Now = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenCipher:
    """Encrypts bot tokens for the database with a key derived from a secret the database never holds."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the token key must not be empty")
        digest = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, token: str) -> str:
        """The token as stored."""
        return self._fernet.encrypt(token.encode()).decode("ascii")

    def open(self, stored: str) -> str | None:
        """The token, or None when ``stored`` was sealed with another key (or is not a sealed token)."""
        try:
            return self._fernet.decrypt(stored.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class InstalledWorkspace:
    """One workspace (or Grid org) the app is installed in, with its bot token in clear."""

    enterprise_id: str
    team_id: str
    bot_token: str
    bot_id: str
    bot_user_id: str
    installed_at: datetime
    is_enterprise_install: bool = False
    team_name: str = ""


def _bot_of(row: sa.Row[Any], token: str) -> Bot:
    return Bot(
        app_id=row.app_id,
        enterprise_id=row.enterprise_id or None,
        enterprise_name=row.enterprise_name,
        team_id=row.team_id or None,
        team_name=row.team_name,
        bot_token=token,
        bot_id=row.bot_id or "",
        bot_user_id=row.bot_user_id or "",
        bot_scopes=row.bot_scopes or "",
        is_enterprise_install=bool(row.is_enterprise_install),
        installed_at=row.installed_at.timestamp(),
    )


class SqlSlackInstallations(AsyncInstallationStore):
    """slack_sdk's installation store over ``slack_installations`` (see the module docstring).

    Only bot installations are kept: user tokens (the bot asks for none) are never stored.
    """

    def __init__(self, lifecycle: EngineStore | Database, cipher: TokenCipher, scope: str = "") -> None:
        self._db = lifecycle if isinstance(lifecycle, Database) else lifecycle.database
        self._cipher = cipher
        self.scope = scope

    @property
    def logger(self) -> logging.Logger:
        return log

    # -- writing ---------------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        """Store (or replace) the installation's bot; an installation without a bot token is refused."""
        await self._save(installation.to_bot(), installation.user_id)

    async def async_save_bot(self, bot: Bot) -> None:
        """Store (or replace) one workspace's bot."""
        await self._save(bot, None)

    async def _save(self, bot: Bot, installer: str | None) -> None:
        if not bot.bot_token:
            raise ValueError("an installation without a bot token cannot be stored")
        row = {
            "scope": self.scope,
            "enterprise_id": bot.enterprise_id or "",
            "team_id": "" if bot.is_enterprise_install else (bot.team_id or ""),
            "is_enterprise_install": bool(bot.is_enterprise_install),
            "app_id": bot.app_id,
            "enterprise_name": bot.enterprise_name,
            "team_name": bot.team_name,
            "bot_id": bot.bot_id,
            "bot_user_id": bot.bot_user_id,
            "bot_scopes": ",".join(bot.bot_scopes),
            "bot_token": self._cipher.seal(bot.bot_token),
            "installer_user_id": installer or None,
            "installed_at": datetime.fromtimestamp(bot.installed_at, UTC),
        }
        await asyncio.to_thread(self._replace, row)

    def _replace(self, row: dict[str, Any]) -> None:
        with self._db.write("saving a Slack installation") as conn:
            conn.execute(sa.delete(SLACK_INSTALLATIONS).where(*self._key(row["enterprise_id"], row["team_id"])))
            conn.execute(sa.insert(SLACK_INSTALLATIONS), row)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the workspace's installation (``app_uninstalled``, ``tokens_revoked``)."""
        await asyncio.to_thread(self.delete, enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Forget the workspace's installation (there are no per-user installations)."""
        if user_id is None:
            await asyncio.to_thread(self.delete, enterprise_id, team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget the workspace's installation."""
        await asyncio.to_thread(self.delete, enterprise_id, team_id)

    def delete(self, enterprise_id: str | None, team_id: str | None) -> bool:
        """Forget the installation of exactly this (enterprise, team); True when there was one."""
        with self._db.write("deleting a Slack installation") as conn:
            done = conn.execute(sa.delete(SLACK_INSTALLATIONS).where(*self._key(enterprise_id, team_id)))
        return bool(done.rowcount)

    # -- reading ---------------------------------------------------------------------------

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        """The bot of the workspace (or of its enterprise's org-wide install), or None."""
        found = await asyncio.to_thread(self._find_row, enterprise_id, None if is_enterprise_install else team_id)
        return None if found is None else _bot_of(*found)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The installation of the workspace as slack_sdk's model (bot fields only), or None."""
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            enterprise_name=bot.enterprise_name,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id="",
            is_enterprise_install=bot.is_enterprise_install,
            installed_at=bot.installed_at,
        )

    def find(self, enterprise_id: str | None, team_id: str | None) -> InstalledWorkspace | None:
        """The workspace's installation (else its enterprise's org-wide one), or None."""
        found = self._find_row(enterprise_id, team_id)
        return None if found is None else _workspace(*found)

    def installed(self) -> list[InstalledWorkspace]:
        """Every readable installation of this scope, oldest first."""
        c = SLACK_INSTALLATIONS.c
        stmt = sa.select(SLACK_INSTALLATIONS).where(c.scope == self.scope).order_by(c.installed_at, c.team_id)
        with self._db.read("reading Slack installations") as conn:
            rows = list(conn.execute(stmt))
        return [_workspace(row, token) for row in rows if (token := self._token(row)) is not None]

    def _find_row(self, enterprise_id: str | None, team_id: str | None) -> tuple[sa.Row[Any], str] | None:
        c = SLACK_INSTALLATIONS.c
        wheres = [self._key(enterprise_id, team_id)]
        if enterprise_id and team_id:
            wheres.append(self._key(enterprise_id, ""))  # an org-wide install answers for the org's workspaces
        if team_id and not enterprise_id:  # team ids are unique: a Grid workspace found by its team id alone
            wheres.append((c.scope == self.scope, c.team_id == team_id))
        with self._db.read("reading a Slack installation") as conn:
            for where in wheres:
                row = conn.execute(sa.select(SLACK_INSTALLATIONS).where(*where)).first()
                if row is not None:
                    token = self._token(row)
                    return None if token is None else (row, token)
        return None

    def _token(self, row: sa.Row[Any]) -> str | None:
        token = self._cipher.open(str(row.bot_token))
        if token is None:
            where = f"{row.enterprise_id}/{row.team_id}"
            log.warning("the Slack bot token of %s cannot be decrypted (another key?)", where)
        return token

    def _key(self, enterprise_id: str | None, team_id: str | None) -> tuple[sa.ColumnElement[bool], ...]:
        c = SLACK_INSTALLATIONS.c
        return (c.scope == self.scope, c.enterprise_id == (enterprise_id or ""), c.team_id == (team_id or ""))


def _workspace(row: sa.Row[Any], token: str) -> InstalledWorkspace:
    return InstalledWorkspace(
        enterprise_id=str(row.enterprise_id),
        team_id=str(row.team_id),
        bot_token=token,
        bot_id=str(row.bot_id or ""),
        bot_user_id=str(row.bot_user_id or ""),
        installed_at=row.installed_at,
        is_enterprise_install=bool(row.is_enterprise_install),
        team_name=str(row.team_name or ""),
    )


class SqlSlackStates(AsyncOAuthStateStore):
    """slack_sdk's OAuth state store over ``slack_oauth_states``: one use, before it expires."""

    def __init__(
        self,
        lifecycle: EngineStore | Database,
        scope: str = "",
        *,
        expiration_seconds: int = DEFAULT_STATE_SECONDS,
        now: Now = _utcnow,
    ) -> None:
        self._db = lifecycle if isinstance(lifecycle, Database) else lifecycle.database
        self.scope = scope
        self.expiration_seconds = expiration_seconds
        self._now = now

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        """A new random state, stored (as its hash) until it expires; expired states are swept."""
        state = secrets.token_urlsafe(32)
        await asyncio.to_thread(self.issue, state)
        return state

    def issue(self, state: str) -> None:
        """Store ``state`` (as its hash) with its expiry; drop every expired one."""
        now = self._now()
        with self._db.write("issuing a Slack OAuth state") as conn:
            conn.execute(sa.delete(SLACK_OAUTH_STATES).where(SLACK_OAUTH_STATES.c.expires_at <= now))
            conn.execute(
                sa.insert(SLACK_OAUTH_STATES),
                {
                    "state_hash": _hash(state),
                    "scope": self.scope,
                    "expires_at": now + timedelta(seconds=self.expiration_seconds),
                },
            )

    async def async_consume(self, state: str) -> bool:
        """True once for a state this scope issued and that has not expired; it is deleted either way."""
        return bool(state) and await asyncio.to_thread(self.consume, state)

    def consume(self, state: str) -> bool:
        """See :meth:`async_consume`."""
        c = SLACK_OAUTH_STATES.c
        key = (c.state_hash == _hash(state), c.scope == self.scope)
        with self._db.write("consuming a Slack OAuth state") as conn:
            expires = conn.execute(sa.select(c.expires_at).where(*key)).scalar()
            if expires is None:
                return False
            conn.execute(sa.delete(SLACK_OAUTH_STATES).where(*key))
        return bool(self._now() < expires)


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
