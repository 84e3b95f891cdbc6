"""Settings from the environment (and an optional ``.env`` file), validated once at startup.

No secret has a default. Only this module reads the environment; ``core`` and ``adapters``
receive plain values.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./jira-cleanup.db"


class SettingsError(Exception):
    """The environment is missing something or holds a bad value; the message names the variable."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    atlassian_org_id: str | None = Field(default=None, description="ATLASSIAN_ORG_ID")
    atlassian_api_key: SecretStr | None = Field(default=None, description="ATLASSIAN_API_KEY")
    atlassian_api_base: str = Field(default="https://api.atlassian.com", description="ATLASSIAN_API_BASE")
    atlassian_directory_id: str | None = Field(default=None, description="ATLASSIAN_DIRECTORY_ID")
    atlassian_requests_per_second: float = Field(default=5.0, gt=0)
    atlassian_max_attempts: int = Field(default=6, ge=1, le=20)
    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="DATABASE_URL")
    leader_database_url: str | None = Field(default=None, description="LEADER_DATABASE_URL (direct, not pooled)")
    jira_cleanup_policy: Path | None = Field(default=None, description="JIRA_CLEANUP_POLICY")
    log_level: str = Field(default="WARNING", description="LOG_LEVEL")

    # Slack (single workspace). ``serve`` starts the Slack surface only when the bot token and the
    # signing secret are both set; SLACK_APP_TOKEN (xapp-…) adds a Socket Mode connection.
    slack_bot_token: SecretStr | None = Field(default=None, description="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, description="SLACK_SIGNING_SECRET")
    slack_signing_secret_previous: SecretStr | None = Field(
        default=None, description="SLACK_SIGNING_SECRET_PREVIOUS: also accepted while a rotated secret rolls out"
    )
    slack_app_token: SecretStr | None = Field(default=None, description="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", description="SLACK_API_URL")
    slack_admin_user_ids: str = Field(default="", description="SLACK_ADMIN_USER_IDS: U123,T0ACME:U456")
    slack_admin_channel_id: str | None = Field(default=None, description="SLACK_ADMIN_CHANNEL_ID")
    slack_warning_contact: str = Field(
        default="your Jira administrators", description="SLACK_WARNING_CONTACT: who users should ask"
    )

    # Microsoft Teams (Bot Framework, botbuilder's names). ``serve`` mounts POST /api/messages only when
    # MICROSOFT_APP_ID is set, or TEAMS_LOCAL_DEV=true for a local, unauthenticated (loudly logged) bot.
    microsoft_app_id: str = Field(default="", description="MICROSOFT_APP_ID (the bot's Entra app id)")
    microsoft_app_password: SecretStr | None = Field(default=None, description="MICROSOFT_APP_PASSWORD")
    microsoft_app_tenant_id: str | None = Field(default=None, description="MICROSOFT_APP_TENANT_ID")
    microsoft_app_type: str = Field(
        default="MultiTenant", description="MICROSOFT_APP_TYPE: MultiTenant | SingleTenant | UserAssignedMSI"
    )
    teams_admin_aad_ids: str = Field(default="", description="TEAMS_ADMIN_AAD_IDS: <aad id>,<tenant>:<aad id>")
    teams_admin_channel_id: str | None = Field(default=None, description="TEAMS_ADMIN_CHANNEL_ID (19:…@thread…)")
    teams_warning_contact: str = Field(
        default="your Jira administrators", description="TEAMS_WARNING_CONTACT: who users should ask"
    )
    teams_local_dev: bool = Field(
        default=False, description="TEAMS_LOCAL_DEV: allow an empty MICROSOFT_APP_ID (no authentication!)"
    )

    @field_validator("atlassian_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local sandbox)")
        return value.rstrip("/")

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local fake)")
        return value.rstrip("/") + "/"  # slack_sdk joins method names onto it

    @field_validator("slack_admin_user_ids")
    @classmethod
    def _slack_admin_ids(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item and re.fullmatch(r"(?:T[A-Z0-9]{2,}:)?[UW][A-Z0-9]{2,}", item) is None:
                raise ValueError(f"{item!r} is not a Slack user id (U…) or TEAM:USER pair (T…:U…)")
        return value

    @field_validator("microsoft_app_type")
    @classmethod
    def _app_type(cls, value: str) -> str:
        known = {t.lower(): t for t in ("MultiTenant", "SingleTenant", "UserAssignedMSI")}
        if value.strip().lower() not in known:
            raise ValueError("must be MultiTenant, SingleTenant or UserAssignedMSI")
        return known[value.strip().lower()]

    @field_validator("teams_admin_aad_ids")
    @classmethod
    def _teams_admin_ids(cls, value: str) -> str:
        guid = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        for item in (part.strip() for part in value.split(",")):
            if item and re.fullmatch(rf"(?:{guid}:)?{guid}", item) is None:
                raise ValueError(f"{item!r} is not an AAD object id (GUID) or TENANT:OBJECT pair of GUIDs")
        return value

    @property
    def teams_enabled(self) -> bool:
        """True when MICROSOFT_APP_ID is set, or TEAMS_LOCAL_DEV allows running without one."""
        return bool(self.microsoft_app_id.strip() or self.teams_local_dev)

    def teams_admin_pairs(self) -> tuple[tuple[str | None, str], ...]:
        """TEAMS_ADMIN_AAD_IDS as (tenant id or None, AAD object id), lower-cased; None: MICROSOFT_APP_TENANT_ID."""
        pairs: list[tuple[str | None, str]] = []
        for item in (part.strip().lower() for part in self.teams_admin_aad_ids.split(",")):
            if item:
                tenant, _, user = item.rpartition(":")
                pairs.append((tenant or None, user))
        return tuple(pairs)

    @property
    def slack_enabled(self) -> bool:
        """True when both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set (non-empty)."""
        return bool(
            self.slack_bot_token is not None
            and self.slack_bot_token.get_secret_value()
            and self.slack_signing_secret is not None
            and self.slack_signing_secret.get_secret_value()
        )

    def slack_admin_pairs(self) -> tuple[tuple[str | None, str], ...]:
        """SLACK_ADMIN_USER_IDS as (team id or None, user id) pairs; None means "the bot's workspace"."""
        pairs: list[tuple[str | None, str]] = []
        for item in (part.strip() for part in self.slack_admin_user_ids.split(",")):
            if item:
                team, _, user = item.rpartition(":")
                pairs.append((team or None, user))
        return tuple(pairs)

    def secret_values(self) -> list[str]:
        """Every configured secret, for log redaction."""
        secrets = [self.atlassian_api_key, self.slack_bot_token, self.slack_signing_secret, self.slack_app_token]
        secrets += [self.microsoft_app_password, self.slack_signing_secret_previous]
        return [v.get_secret_value() for v in secrets if v is not None]

    def require_atlassian(self, org_override: str | None = None) -> tuple[str, str]:
        """Return (org id, API key) or raise :class:`SettingsError` naming what is missing."""
        org = org_override or self.atlassian_org_id
        missing = []
        if not org:
            missing.append("ATLASSIAN_ORG_ID (or --org)")
        if self.atlassian_api_key is None or not self.atlassian_api_key.get_secret_value():
            missing.append("ATLASSIAN_API_KEY")
        if missing:
            raise SettingsError(
                "missing " + " and ".join(missing) + ": create an org API key at admin.atlassian.com → "
                "Settings → API keys, then export it (see README, 'Scan a real org')"
            )
        key = self.atlassian_api_key.get_secret_value() if self.atlassian_api_key is not None else ""
        return str(org), key


def load_settings() -> Settings:
    """Read settings from the environment; raises :class:`SettingsError` naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"{name}: {first['msg']} (got {first.get('input')!r})") from None
