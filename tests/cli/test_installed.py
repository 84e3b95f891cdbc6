"""The commands a new admin runs right after `pip install .`, from the built wheel, not the source tree."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, clean_env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project's wheel, unpacked as site-packages would hold it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("jira_cleanup_bot-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The unpacked wheel comes first on the path; dependencies still come from this environment.
    env = clean_env(PYTHONPATH=str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_wheel_is_what_runs(installed, tmp_path):
    env = clean_env(PYTHONPATH=str(installed))
    where = subprocess.run(
        [sys.executable, "-c", "import bot, teams_app; print(bot.__file__); print(teams_app.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(path.startswith(str(installed)) for path in where)


def test_teams_package_works_from_an_installed_package(installed, tmp_path):
    app_id = "8a0d5f0e-2b41-4f1f-9f49-5d8b0f7c1a11"
    done = run_installed(
        installed, tmp_path, "teams-package", "--app-id", app_id, "--domain", "bot.acme.example", "--out", "app.zip"
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "app.zip") as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["bots"][0]["botId"] == app_id


def test_policy_init_writes_the_sample_and_the_error_names_it(installed, tmp_path):
    missing = run_installed(installed, tmp_path, "run")
    assert missing.returncode == 2
    assert "jira-cleanup policy init" in missing.stderr
    done = run_installed(installed, tmp_path, "policy", "init", "policy.yml")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "policy.yml").read_text().startswith("#")
    checked = run_installed(installed, tmp_path, "policy", "check", "policy.yml")
    assert checked.returncode == 0, checked.stderr
    again = run_installed(installed, tmp_path, "policy", "init", "policy.yml")
    assert again.returncode == 2
    assert "--force" in again.stderr
