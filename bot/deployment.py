"""One deployment, many Atlassian orgs: the deployment file named by ``JIRA_CLEANUP_ORGS``.

Without the file a process serves the one org of its environment (``ATLASSIAN_ORG_ID``...), as
before. With it, every org is an entry under ``orgs:``, keyed by a short name (``--org acme``,
and the path prefix ``/o/acme/`` of the org's chat, email and JSM endpoints in ``serve``)::

    orgs:
      acme:
        org_id: 1a2b3c4d-...                       # the Atlassian org id
        policy: policies/acme.yml                  # relative to this file
        schedule: "0 6 * * 1-5"                    # optional: overrides the policy's lifecycle.schedule
        ATLASSIAN_API_KEY: env:ACME_ATLASSIAN_API_KEY
        SLACK_BOT_TOKEN: file:/run/secrets/acme-slack-bot-token
        SLACK_SIGNING_SECRET: env:ACME_SLACK_SIGNING_SECRET
        SLACK_ADMIN_CHANNEL_ID: C0ACMEADM

Rules, each checked when the file is read (errors name ``orgs.<name>.<field>``):

* **Credentials and people belong to one org.** The variables in :data:`ORG_SCOPED` (API keys,
  Slack/Teams/JSM credentials, admin ids and channels, ADMIN_IDENTITIES, EMAIL_ADMIN_ADDRESSES)
  are taken from the org's entry only, never from the process environment: a key or an admin
  of one org never reaches another.
* **Secrets are references**, never literals: ``env:NAME`` (an environment variable) or
  ``file:PATH`` (a file's content, trailing newline dropped; relative to the deployment file).
* Variables in :data:`ORG_TUNABLE` (API base URLs, contacts, rates) may be set per org and
  otherwise come from the environment. Everything else (database, leader URL, SMTP, audit key,
  link secret, proxies...) is one per process and refused in an entry.

:func:`org_settings` turns the process settings and an org into that org's :class:`Settings`,
so every command works on one org exactly as it works without a deployment file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from bot.settings import Settings, SettingsError

__all__ = [
    "ORG_SCOPED",
    "ORG_TUNABLE",
    "Deployment",
    "OrgEntry",
    "deployment_secrets",
    "load_deployment",
    "org_settings",
    "settings_of",
]

#: Settings an entry must give itself: never inherited from the process environment.
ORG_SCOPED = frozenset(
    {
        "atlassian_api_key",
        "atlassian_directory_id",
        "admin_identities",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_signing_secret_previous",
        "slack_app_token",
        "slack_admin_user_ids",
        "slack_admin_channel_id",
        "slack_client_id",
        "slack_client_secret",
        "slack_token_key",
        "slack_admin_team_id",
        "slack_oauth_redirect_url",
        "microsoft_app_id",
        "microsoft_app_password",
        "microsoft_app_tenant_id",
        "teams_admin_aad_ids",
        "teams_admin_channel_id",
        "email_admin_addresses",
        "jsm_site_url",
        "jsm_email",
        "jsm_api_token",
        "jsm_webhook_secret",
        "jsm_service_desk_id",
        "jsm_request_type_id",
    }
)
#: Settings an entry may override; otherwise the process environment's value.
ORG_TUNABLE = frozenset(
    {
        "atlassian_api_base",
        "atlassian_requests_per_second",
        "atlassian_max_attempts",
        "slack_api_url",
        "slack_warning_contact",
        "slack_oauth_scopes",
        "microsoft_app_type",
        "teams_warning_contact",
        "teams_local_dev",
        "email_warning_contact",
        "email_templates_dir",
        "jsm_done_transition",
        "jsm_declined_transition",
    }
)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_OWN_KEYS = ("org_id", "policy", "schedule")


@dataclass(frozen=True, slots=True)
class OrgEntry:
    """One org of the deployment: its name, Atlassian id, policy file, schedule and own settings."""

    name: str
    org_id: str
    policy: Path | None
    schedule: str | None
    #: Settings field name -> value (secret references already resolved).
    values: Mapping[str, Any]

    @property
    def prefix(self) -> str:
        """The path prefix of the org's endpoints in ``serve``: ``/o/<name>``."""
        return f"/o/{self.name}"


@dataclass(frozen=True, slots=True)
class Deployment:
    """Every org of the deployment file, in file order."""

    path: Path
    orgs: tuple[OrgEntry, ...]

    def pick(self, wanted: str | None) -> OrgEntry:
        """The org named ``wanted`` (its short name or Atlassian org id); the only one when ``wanted`` is None."""
        if wanted is None:
            if len(self.orgs) == 1:
                return self.orgs[0]
            raise SettingsError(f"--org: {self.path} has {len(self.orgs)} orgs ({self.names()}): name one")
        for entry in self.orgs:
            if wanted in (entry.name, entry.org_id):
                return entry
        raise SettingsError(f"--org: no org {wanted!r} in {self.path} (its orgs: {self.names()})")

    def names(self) -> str:
        """The orgs' short names, comma separated."""
        return ", ".join(entry.name for entry in self.orgs)


def load_deployment(path: Path, environ: Mapping[str, str] | None = None) -> Deployment:
    """Read and check the deployment file (raises :class:`SettingsError` naming the field)."""
    environ = os.environ if environ is None else environ
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"JIRA_CLEANUP_ORGS: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"JIRA_CLEANUP_ORGS: {path} is not valid YAML: {exc}") from None
    orgs = data.get("orgs") if isinstance(data, dict) else None
    if not isinstance(orgs, dict) or not orgs:
        raise SettingsError(f"JIRA_CLEANUP_ORGS: {path}: expected a mapping 'orgs:' of at least one org")
    entries = tuple(_entry(path, str(name), raw, environ) for name, raw in orgs.items())
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.org_id in seen:
            raise SettingsError(
                f"orgs.{entry.name}.org_id: {entry.org_id!r} is already the org id of {seen[entry.org_id]}"
            )
        seen[entry.org_id] = entry.name
    return Deployment(path, entries)


def _entry(path: Path, name: str, raw: object, environ: Mapping[str, str]) -> OrgEntry:
    where = f"orgs.{name}"
    if _NAME.fullmatch(name) is None:
        raise SettingsError(f"{where}: a short name is 1-40 lower-case letters, digits or '-', starting alphanumeric")
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: expected a mapping of the org's settings")
    org_id = raw.get("org_id")
    if not isinstance(org_id, str) or not org_id.strip():
        raise SettingsError(f"{where}.org_id: the Atlassian org id is required")
    policy = raw.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise SettingsError(f"{where}.policy: expected a file path")
    schedule = raw.get("schedule")
    if schedule is not None and not isinstance(schedule, str):
        raise SettingsError(f"{where}.schedule: expected a five-field cron schedule (UTC)")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _OWN_KEYS:
            continue
        field = str(key).lower()
        if field not in ORG_SCOPED | ORG_TUNABLE:
            raise SettingsError(f"{where}.{key}: not a per-org setting (one per process: set it in the environment)")
        values[field] = _value(path, f"{where}.{key}", field, value, environ)
    return OrgEntry(name, org_id.strip(), path.parent / policy if policy else None, schedule, values)


def _value(path: Path, where: str, field: str, value: object, environ: Mapping[str, str]) -> Any:
    """An entry's value: references resolved; a secret must be a reference."""
    secret = _is_secret(field)
    if isinstance(value, str) and value.startswith("env:"):
        name = value.removeprefix("env:")
        if name not in environ:
            raise SettingsError(f"{where}: the environment variable {name} is not set")
        return environ[name]
    if isinstance(value, str) and value.startswith("file:"):
        file = path.parent / value.removeprefix("file:")
        try:
            return file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise SettingsError(f"{where}: cannot read {file}: {exc.strerror or exc}") from None
    if secret:
        raise SettingsError(f"{where}: a secret is never written in the file: use env:VARIABLE or file:PATH")
    return value


def org_settings(base: Settings, org: str | None) -> Settings:
    """The settings of ``org`` (``--org``): ``base`` itself without a deployment file.

    With ``JIRA_CLEANUP_ORGS``: the process settings, minus every org-scoped value of the
    environment, plus the org's own entry, and links under the org's path prefix.
    """
    if base.jira_cleanup_orgs is None:
        return base
    entry = load_deployment(base.jira_cleanup_orgs).pick(org)
    return settings_of(base, entry)


def deployment_secrets(base: Settings) -> list[str]:
    """Every secret of the process and of each org of its deployment file, for log redaction.

    A deployment file that cannot be read adds nothing here: the command reading it reports why.
    """
    secrets = base.secret_values()
    if base.jira_cleanup_orgs is not None:
        try:
            deployment = load_deployment(base.jira_cleanup_orgs)
        except SettingsError:
            return secrets
        for entry in deployment.orgs:
            secrets += [str(v) for f, v in entry.values.items() if _is_secret(f) and v]
    return secrets


def _is_secret(field: str) -> bool:
    return Settings.model_fields[field].annotation in (SecretStr, SecretStr | None)


def settings_of(base: Settings, entry: OrgEntry) -> Settings:
    """``base`` made into the settings of ``entry`` (see :func:`org_settings`)."""
    data = base.model_dump()
    for field in ORG_SCOPED:
        data[field] = Settings.model_fields[field].default
    data.update(entry.values)
    data.update(
        atlassian_org_id=entry.org_id,
        jira_cleanup_policy=entry.policy,
        public_base_url=f"{base.public_base_url}{entry.prefix}",
    )
    try:
        return Settings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "_".join(str(p) for p in first["loc"]).upper()
        raise SettingsError(f"orgs.{entry.name}.{field}: {first['msg']}") from None
