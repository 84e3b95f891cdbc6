"""ADMIN_IDENTITIES: parsed with errors naming the entry, and asked for where four-eyes needs it."""

import logging

import pytest

from bot.compose import UNLINKED_ADMINS, people_of
from bot.settings import Settings, SettingsError

AAD = "00000000-0000-0000-0000-0000000000a1"
TENANT = "00000000-0000-0000-0000-0000000000f1"


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)


def test_admins_on_slack_and_teams_without_an_identity_map_are_warned_about(caplog) -> None:
    caplog.set_level(logging.WARNING)
    both = {"slack_admin_user_ids": "T0ACME:U0ADA", "teams_admin_aad_ids": f"{TENANT}:{AAD}"}
    people_of(_settings(**both))
    assert UNLINKED_ADMINS in caplog.messages
    caplog.clear()
    people_of(_settings(**both, admin_identities=f"ada = slack:T0ACME/U0ADA, teams:{TENANT}/{AAD}"))
    people_of(_settings(slack_admin_user_ids="T0ACME:U0ADA"))  # one platform: nothing to link
    assert UNLINKED_ADMINS not in caplog.messages


def test_a_bad_identity_map_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="ADMIN_IDENTITIES: entry 1"):
        people_of(_settings(admin_identities="ada slack:T0ACME/U0ADA"))
