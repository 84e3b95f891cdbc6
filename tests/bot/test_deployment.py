"""The deployment file: many orgs, each with its own key, policy, chat credentials and admins."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.deployment import deployment_secrets, load_deployment, org_settings
from bot.settings import Settings, SettingsError


def write(tmp_path: Path, orgs: dict) -> Path:
    path = tmp_path / "orgs.yml"
    path.write_text(yaml.safe_dump({"orgs": orgs}))
    return path


def base(tmp_path: Path, path: Path, **extra: object) -> Settings:
    """Process settings as the environment would give them, org-scoped values included."""
    return Settings(
        _env_file=None,
        jira_cleanup_orgs=path,
        atlassian_org_id="env-org",
        atlassian_api_key="env-key",
        slack_bot_token="xoxb-env",
        slack_signing_secret="env-signing",
        slack_admin_channel_id="CENV",
        email_admin_addresses="env-admins@acme.example",
        database_url=f"sqlite:///{tmp_path}/bot.db",
        public_base_url="https://bot.acme.example",
        **extra,
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", "acme-key")
    monkeypatch.setenv("GLOBEX_KEY", "globex-key")
    monkeypatch.setenv("ACME_SLACK", "xoxb-acme")


def two_orgs(tmp_path: Path) -> Path:
    (tmp_path / "globex-signing").write_text("globex-signing\n")
    return write(
        tmp_path,
        {
            "acme": {
                "org_id": "org-acme",
                "policy": "acme.yml",
                "ATLASSIAN_API_KEY": "env:ACME_KEY",
                "SLACK_BOT_TOKEN": "env:ACME_SLACK",
                "SLACK_SIGNING_SECRET": "env:ACME_SLACK",
                "SLACK_ADMIN_CHANNEL_ID": "CACME",
            },
            "globex": {
                "org_id": "org-globex",
                "schedule": "0 7 * * *",
                "ATLASSIAN_API_KEY": "env:GLOBEX_KEY",
                "SLACK_SIGNING_SECRET": "file:globex-signing",
                "ATLASSIAN_API_BASE": "http://127.0.0.1:9",
            },
        },
    )


def test_each_org_gets_its_own_key_policy_and_chat_and_nothing_of_the_environment(tmp_path, env):
    path = two_orgs(tmp_path)
    process = base(tmp_path, path)
    acme, globex = org_settings(process, "acme"), org_settings(process, "org-globex")  # name or org id
    assert (acme.atlassian_org_id, acme.atlassian_api_key.get_secret_value()) == ("org-acme", "acme-key")
    assert acme.jira_cleanup_policy == tmp_path / "acme.yml"
    assert acme.slack_bot_token.get_secret_value() == "xoxb-acme"
    assert acme.slack_admin_channel_id == "CACME"
    assert acme.email_admin_addresses == ""  # the environment's admins belong to no org
    assert acme.public_base_url == "https://bot.acme.example/o/acme"
    assert acme.database_url == process.database_url  # one database for the deployment
    assert globex.atlassian_api_key.get_secret_value() == "globex-key"
    assert globex.slack_signing_secret.get_secret_value() == "globex-signing"  # file:, newline dropped
    assert globex.slack_bot_token is None  # not Acme's, not the environment's
    assert not globex.slack_enabled
    assert globex.atlassian_api_base == "http://127.0.0.1:9"
    assert acme.atlassian_api_base == process.atlassian_api_base  # tunable: inherited unless set
    assert globex.require_atlassian("globex") == ("org-globex", "globex-key")
    assert load_deployment(path).pick("globex").schedule == "0 7 * * *"


def test_without_a_deployment_file_the_environment_is_the_org(tmp_path):
    process = Settings(_env_file=None, atlassian_org_id="env-org", atlassian_api_key="k")
    assert org_settings(process, None) is process
    assert process.org_for("other-org") == "other-org"


def test_org_must_be_named_when_there_are_several(tmp_path, env):
    process = base(tmp_path, two_orgs(tmp_path))
    with pytest.raises(SettingsError, match=r"--org: .* has 2 orgs \(acme, globex\): name one"):
        org_settings(process, None)
    with pytest.raises(SettingsError, match=r"--org: no org 'initech' .*\(its orgs: acme, globex\)"):
        org_settings(process, "initech")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"org_id": "o", "ATLASSIAN_API_KEY": "literal-key"}, r"orgs\.acme\.ATLASSIAN_API_KEY: a secret is never"),
        ({"org_id": "o", "ATLASSIAN_API_KEY": "env:MISSING_VAR"}, r"orgs\.acme\.ATLASSIAN_API_KEY: .*MISSING_VAR"),
        ({"org_id": "o", "SLACK_BOT_TOKEN": "file:nope"}, r"orgs\.acme\.SLACK_BOT_TOKEN: cannot read"),
        ({"org_id": "o", "DATABASE_URL": "sqlite:///x.db"}, r"orgs\.acme\.DATABASE_URL: not a per-org setting"),
        ({"org_id": "o", "LINK_SECRET": "env:ACME_KEY"}, r"orgs\.acme\.LINK_SECRET: not a per-org setting"),
        ({"policy": "p.yml"}, r"orgs\.acme\.org_id: the Atlassian org id is required"),
        ({"org_id": "o", "schedule": 6}, r"orgs\.acme\.schedule: expected a five-field cron"),
        ({"org_id": "o", "SLACK_ADMIN_USER_IDS": "not-an-id"}, r"orgs\.acme\.SLACK_ADMIN_USER_IDS: .*not a Slack"),
        ("just a string", r"orgs\.acme: expected a mapping"),
    ],
)
def test_bad_entries_are_refused_naming_the_field(tmp_path, env, entry, message):
    process = base(tmp_path, write(tmp_path, {"acme": entry}))
    with pytest.raises(SettingsError, match=message):
        org_settings(process, "acme")


def test_bad_files_are_refused_naming_the_variable(tmp_path, env):
    bad_name = write(tmp_path, {"Acme Corp": {"org_id": "o"}})
    with pytest.raises(SettingsError, match=r"orgs\.Acme Corp: a short name is"):
        load_deployment(bad_name)
    dup = write(tmp_path, {"a": {"org_id": "same"}, "b": {"org_id": "same"}})
    with pytest.raises(SettingsError, match=r"orgs\.b\.org_id: 'same' is already the org id of a"):
        load_deployment(dup)
    empty = write(tmp_path, {})
    with pytest.raises(SettingsError, match=r"JIRA_CLEANUP_ORGS: .* expected a mapping 'orgs:'"):
        load_deployment(empty)
    with pytest.raises(SettingsError, match="JIRA_CLEANUP_ORGS: cannot read"):
        load_deployment(tmp_path / "missing.yml")


def test_every_orgs_secrets_are_redacted_from_logs(tmp_path, env):
    secrets = deployment_secrets(base(tmp_path, two_orgs(tmp_path)))
    assert {"acme-key", "xoxb-acme", "globex-key", "globex-signing", "env-key"} <= set(secrets)
