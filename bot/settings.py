"""Settings from the environment (and an optional ``.env`` file), validated once at startup.

No secret has a default. Only this module reads the environment; ``core`` and ``adapters``
receive plain values.
"""

from __future__ import annotations

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
    jira_cleanup_policy: Path | None = Field(default=None, description="JIRA_CLEANUP_POLICY")
    log_level: str = Field(default="WARNING", description="LOG_LEVEL")

    @field_validator("atlassian_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local sandbox)")
        return value.rstrip("/")

    def secret_values(self) -> list[str]:
        """Every configured secret, for log redaction."""
        secrets = [self.atlassian_api_key]
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
