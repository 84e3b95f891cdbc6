"""Settings from the environment (and an optional ``.env`` file), validated once at startup.

No secret has a default. Only this module reads the environment; ``core`` and ``adapters``
receive plain values.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
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
    atlassian_requests_per_second: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="ATLASSIAN_REQUESTS_PER_SECOND: optional ceiling (the API's own headers pace)",
    )
    atlassian_max_attempts: int = Field(default=6, ge=1, le=20)
    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="DATABASE_URL")
    leader_database_url: str | None = Field(default=None, description="LEADER_DATABASE_URL (direct, not pooled)")
    leader_retry_seconds: float = Field(
        default=5.0, gt=0, le=300, description="LEADER_RETRY_SECONDS: how often serve tries to lead free orgs"
    )
    jira_cleanup_policy: Path | None = Field(default=None, description="JIRA_CLEANUP_POLICY")
    jira_cleanup_orgs: Path | None = Field(
        default=None, description="JIRA_CLEANUP_ORGS: the deployment file of a many-org deployment (bot/deployment.py)"
    )
    log_level: str = Field(default="WARNING", description="LOG_LEVEL")
    log_format: str = Field(default="console", description="LOG_FORMAT: console (readable) or json (one object a line)")
    # Four-eyes across platforms: which chat, CLI and email identities are one person, e.g.
    # "alice = slack:T0ACME/U0ALICE, teams:<tenant>/<aad id>, cli:alice, atlassian:<account id>; bob = ...".
    admin_identities: str = Field(default="", description="ADMIN_IDENTITIES")

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
    # Slack's OAuth install flow (one app, many workspaces): on when the client id, the client secret and
    # the signing secret are set; SLACK_BOT_TOKEN is then optional (its workspace counts as installed).
    slack_client_id: str = Field(default="", description="SLACK_CLIENT_ID (Basic Information)")
    slack_client_secret: SecretStr | None = Field(default=None, description="SLACK_CLIENT_SECRET")
    slack_oauth_scopes: str = Field(
        default="", description="SLACK_OAUTH_SCOPES: bot scopes asked for (default: manifest.yml's)"
    )
    slack_oauth_redirect_url: str | None = Field(
        default=None, description="SLACK_OAUTH_REDIRECT_URL (default: PUBLIC_BASE_URL/slack/oauth_redirect)"
    )
    slack_token_key: SecretStr | None = Field(
        default=None, description="SLACK_TOKEN_KEY: encrypts stored bot tokens (default: from SLACK_CLIENT_SECRET)"
    )
    slack_admin_team_id: str | None = Field(
        default=None, description="SLACK_ADMIN_TEAM_ID: the workspace of SLACK_ADMIN_CHANNEL_ID (OAuth)"
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

    # Public pages (email links) and email. ``serve`` sends warning emails only when SMTP_HOST and
    # SMTP_SENDER are set; the links in them point at PUBLIC_BASE_URL.
    public_base_url: str = Field(default="http://127.0.0.1:8080", description="PUBLIC_BASE_URL for email links")
    link_secret: SecretStr | None = Field(
        default=None, description="LINK_SECRET: signs the email pages' CSRF fields (same on every replica)"
    )
    smtp_host: str | None = Field(default=None, description="SMTP_HOST")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP_PORT")
    smtp_sender: str | None = Field(default=None, description="SMTP_SENDER: the From address")
    smtp_username: str | None = Field(default=None, description="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP_PASSWORD")
    smtp_tls: str = Field(default="starttls", description="SMTP_TLS: none | starttls | tls")
    email_admin_addresses: str = Field(default="", description="EMAIL_ADMIN_ADDRESSES: a@x,b@y")
    email_templates_dir: Path | None = Field(default=None, description="EMAIL_TEMPLATES_DIR: overrides")
    email_warning_contact: str = Field(default="your Jira administrators", description="EMAIL_WARNING_CONTACT")
    # Jira Service Management: "restore my access" requests from the portal. The webhook at
    # POST /jsm/webhook is mounted only when JSM_WEBHOOK_SECRET is set.
    jsm_site_url: str | None = Field(default=None, description="JSM_SITE_URL: https://<site>.atlassian.net")
    jsm_email: str | None = Field(default=None, description="JSM_EMAIL: the account the API token belongs to")
    jsm_api_token: SecretStr | None = Field(default=None, description="JSM_API_TOKEN")
    jsm_webhook_secret: SecretStr | None = Field(default=None, description="JSM_WEBHOOK_SECRET")
    jsm_service_desk_id: str | None = Field(default=None, description="JSM_SERVICE_DESK_ID")
    jsm_request_type_id: str | None = Field(default=None, description="JSM_REQUEST_TYPE_ID")
    jsm_done_transition: str = Field(default="Resolved", description="JSM_DONE_TRANSITION")
    jsm_declined_transition: str = Field(default="Declined", description="JSM_DECLINED_TRANSITION")
    # Per-IP limit on the public endpoints (email pages, JSM webhook), requests per minute.
    public_requests_per_minute: int = Field(default=30, ge=1, description="PUBLIC_REQUESTS_PER_MINUTE")
    trust_forwarded_for: bool = Field(
        default=False, description="TRUST_FORWARDED_FOR: replaced by TRUSTED_PROXIES (refused when true)"
    )
    trusted_proxies: str = Field(
        default="", description="TRUSTED_PROXIES: reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed"
    )
    # The audit chain's head is checkpointed outside the database, signed with a key the database
    # never holds: AUDIT_KEY, else a key file generated beside the SQLite file (or in the working folder).
    audit_key: SecretStr | None = Field(default=None, description="AUDIT_KEY (at least 32 characters)")
    audit_key_file: Path | None = Field(default=None, description="AUDIT_KEY_FILE")
    audit_checkpoint_file: Path | None = Field(default=None, description="AUDIT_CHECKPOINT_FILE")
    status_token: SecretStr | None = Field(
        default=None, description="STATUS_TOKEN: bearer token for GET /readyz from outside loopback"
    )
    # Per-address limit on the chat endpoints (/slack/events, /api/messages), before the body is read.
    chat_requests_per_minute: int = Field(default=600, ge=1, description="CHAT_REQUESTS_PER_MINUTE")

    @field_validator("public_base_url", "slack_oauth_redirect_url")
    @classmethod
    def _public_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for local testing)")
        # A redirect URL must be exactly the one registered with Slack.
        return value.rstrip("/") if info.field_name == "public_base_url" else value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        from bot.ratelimit import parse_proxies

        parse_proxies(value)
        return value

    @field_validator("trust_forwarded_for")
    @classmethod
    def _no_blind_trust(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "X-Forwarded-For is only believed from known proxies now: unset it and set "
                "TRUSTED_PROXIES to your reverse proxy's addresses"
            )
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.strip().lower() not in ("console", "json"):
            raise ValueError("must be console or json")
        return value.strip().lower()

    @field_validator("smtp_tls")
    @classmethod
    def _smtp_tls(cls, value: str) -> str:
        if value.strip().lower() not in ("none", "starttls", "tls"):
            raise ValueError("must be none, starttls or tls")
        return value.strip().lower()

    @property
    def email_enabled(self) -> bool:
        """True when SMTP_HOST and SMTP_SENDER are set."""
        return bool(self.smtp_host and self.smtp_sender)

    @property
    def jsm_enabled(self) -> bool:
        """True when the JSM webhook secret and the site's API credentials are all set."""
        return bool(
            self.jsm_webhook_secret is not None
            and self.jsm_webhook_secret.get_secret_value()
            and self.jsm_site_url
            and self.jsm_email
            and self.jsm_api_token is not None
            and self.jsm_api_token.get_secret_value()
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
        """True when SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are set, or the OAuth install flow is on."""
        return self.slack_oauth_enabled or bool(
            self.slack_bot_token is not None
            and self.slack_bot_token.get_secret_value()
            and self.slack_signing_secret is not None
            and self.slack_signing_secret.get_secret_value()
        )

    @property
    def slack_oauth_enabled(self) -> bool:
        """True when SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET are all set."""
        return bool(
            self.slack_client_id.strip()
            and self.slack_client_secret is not None
            and self.slack_client_secret.get_secret_value()
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
        secrets += [self.smtp_password, self.jsm_api_token, self.jsm_webhook_secret, self.link_secret]
        secrets += [self.status_token, self.audit_key, self.slack_client_secret, self.slack_token_key]
        return [v.get_secret_value() for v in secrets if v is not None]

    def org_for(self, override: str | None) -> str | None:
        """The org id a command works on: ``--org``, else ATLASSIAN_ORG_ID.

        With a deployment file, ``--org`` (a short name or an org id) was already resolved into
        this org's settings (:func:`bot.deployment.org_settings`): the id is ATLASSIAN_ORG_ID.
        """
        if self.jira_cleanup_orgs is not None:
            return self.atlassian_org_id
        return override or self.atlassian_org_id

    def require_atlassian(self, org_override: str | None = None) -> tuple[str, str]:
        """Return (org id, API key) or raise :class:`SettingsError` naming what is missing."""
        org = self.org_for(org_override)
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


def beside_database(settings: Settings, suffix: str) -> Path:
    """A file next to the SQLite database file (``<db><suffix>``), or ``./jira-cleanup<suffix>`` otherwise."""
    url = settings.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0] + suffix)
    return Path("jira-cleanup" + suffix)


def load_settings() -> Settings:
    """Read settings from the environment; raises :class:`SettingsError` naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"{name}: {first['msg']} (got {first.get('input')!r})") from None
