"""teams_app/: the manifest validates against Microsoft's Teams schema (1.29); icons and the zip are right.

Microsoft's schema is not part of this project: it is read from ``TEAMS_MANIFEST_SCHEMA`` or, by
default, from the reference folder beside the checkout (``../shared/reference/schemas/``, where the
development machines and CI keep it). Get it from Microsoft's json-schemas site
(``teams/v1.29/MicrosoftTeams.schema.json``) to run these tests elsewhere. It is checked with the
``jsonschema`` package (draft-04, as the schema declares), not with a validator of our own.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from adapters.teams.package import PACKAGE_FILES, fill_manifest, png_size
from bot.cli import app
from bot.commands import USAGE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TEAMS_APP = ROOT / "teams_app"
SCHEMA_FILE = Path(
    os.environ.get("TEAMS_MANIFEST_SCHEMA") or ROOT.parent / "shared/reference/schemas/MicrosoftTeams-1.29.schema.json"
)


@pytest.fixture(scope="module")
def schema() -> dict:
    assert SCHEMA_FILE.is_file(), f"Microsoft's Teams manifest schema 1.29 is not at {SCHEMA_FILE}: see the module doc"
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def validate(instance: dict, schema: dict) -> list[str]:
    """Every violation as ``"<json path>: <message>"`` (empty when valid)."""
    validator = jsonschema.Draft4Validator(schema)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(instance)]


APP_ID = "00000000-1111-2222-3333-444444444444"


def filled() -> dict:
    return fill_manifest(
        (TEAMS_APP / "manifest.json").read_text(encoding="utf-8"), app_id=APP_ID, domain="bot.acme.example"
    )


def test_the_validator_catches_mistakes(schema: dict) -> None:
    broken = filled()
    broken["bots"][0]["scopes"] = ["personal", "everywhere"]
    broken["name"]["short"] = "x" * 31
    del broken["developer"]["privacyUrl"]
    broken["surprise"] = True
    problems = validate(broken, schema)
    assert any("everywhere" in p for p in problems)
    assert any("name.short" in p for p in problems)
    assert any("privacyUrl" in p for p in problems)
    assert any("surprise" in p for p in problems)


def test_manifest_validates_against_microsofts_schema(schema: dict) -> None:
    assert validate(filled(), schema) == []


def test_manifest_content() -> None:
    manifest = filled()
    assert manifest["manifestVersion"] == "1.29"
    assert manifest["id"] == APP_ID
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert set(bot["scopes"]) == {"personal", "team"}
    assert manifest["validDomains"] == ["bot.acme.example"]
    assert len(bot["commandLists"]) <= 2
    for entry in bot["commandLists"]:
        assert len(entry["commands"]) <= 10
        for command in entry["commands"]:
            assert command["title"] in USAGE
            assert len(command["title"]) <= 32
            assert len(command["description"]) <= 128
    raw = (TEAMS_APP / "manifest.json").read_text(encoding="utf-8")
    assert "{{MICROSOFT_APP_ID}}" in raw


def test_icons_have_the_required_sizes_and_transparency() -> None:
    assert png_size((TEAMS_APP / "color.png").read_bytes()) == (192, 192)
    outline = (TEAMS_APP / "outline.png").read_bytes()
    assert png_size(outline) == (32, 32)
    assert outline[25] == 6  # colour type RGBA: the outline icon has an alpha channel


def test_fill_rejects_bad_values() -> None:
    template = (TEAMS_APP / "manifest.json").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="GUID"):
        fill_manifest(template, app_id="not-a-guid", domain="bot.acme.example")
    with pytest.raises(ValueError, match="host name"):
        fill_manifest(template, app_id=APP_ID, domain="https://bot.acme.example/api")


def test_cli_builds_the_zip(tmp_path: Path, schema: dict) -> None:
    out = tmp_path / "app.zip"
    result = CliRunner().invoke(
        app, ["teams-package", "--app-id", APP_ID, "--domain", "bot.acme.example", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(PACKAGE_FILES)
        manifest = json.loads(archive.read("manifest.json"))
        assert png_size(archive.read("color.png")) == (192, 192)
    assert manifest["bots"][0]["botId"] == APP_ID
    assert validate(manifest, schema) == []
    bad = CliRunner().invoke(app, ["teams-package", "--app-id", "nope", "--domain", "x.example", "--out", str(out)])
    assert bad.exit_code == 2


def test_user_text_never_becomes_teams_markup() -> None:
    """A hostile display name is escaped in cards, and text-only messages are sent as plain text."""
    from adapters.teams import cards
    from adapters.teams.connector import message

    hostile = "[Approve here](https://evil.example) **now** <at>everyone</at>"
    _, card = cards.plain(hostile)
    shown = card["body"][0]["text"]
    assert "[Approve here](" not in shown
    assert "**now**" not in shown
    assert "<at>" not in shown
    assert message(hostile).text_format == "plain"
