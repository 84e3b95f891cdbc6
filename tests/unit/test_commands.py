"""The chat command grammar."""

import pytest

from bot.commands import Command, CommandError, Target, help_text, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("  STATUS ", Command("status")),
        ("pause incident 42 in progress", Command("pause", reason="incident 42 in progress")),
        ("restore ada@acme.example", Command("restore", Target("email", "ada@acme.example"))),
        ("restore <mailto:Ada@Acme.example|Ada@Acme.example>", Command("restore", Target("email", "ada@acme.example"))),
        ("protect group:break-glass", Command("protect", Target("group", "break-glass"))),
        ("unprotect 712020:5b10ac8d-82e0", Command("unprotect", Target("account", "712020:5b10ac8d-82e0"))),
    ],
)
def test_valid_commands(text, expected):
    """Commands parse to what they mean."""
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nuke everything", "unknown command 'nuke'"),
        ("restore", "usage: /jira-cleanup restore"),
        ("restore a@b.c d@e.f", "usage: /jira-cleanup restore"),
        ("protect group:", "group: needs a group name"),
        ("restore not-an-@email", "not a valid email address"),
        ("protect x", "neither an email address"),
        ("status now", "status takes no arguments"),
    ],
)
def test_invalid_commands_say_why(text, message):
    """Bad input gets a short message naming the problem."""
    with pytest.raises(CommandError, match=message):
        parse(text)


def test_help_lists_every_command():
    """help shows each command once."""
    text = help_text()
    for name in ("preview", "run", "status", "pause", "resume", "restore", "protect", "unprotect", "report", "policy"):
        assert f"/jira-cleanup {name}" in text
