"""The command line with a deployment file of two orgs: each command works on the org ``--org`` names."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import yaml

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from tests.cli.conftest import read_csv, run
from tests.peers import threaded_slack

POLICY = {
    "mode": "dry_run",
    "new_account_grace_days": 0,
    "rules": [{"name": "all", "product": "any", "inactive_days": 60, "action": "suspend", "warn_days_before": 0}],
}


@pytest.fixture
def two_orgs(tmp_path) -> Iterator[tuple[dict[str, str], dict[str, SandboxServer]]]:
    with threaded_slack() as loop:  # its thread serves the two sandboxes
        sandboxes = {
            name: SandboxServer(generate_org(users=8, seed=seed), SandboxConfig(api_key=f"key-{name}"))
            for name, seed in (("acme", 31), ("globex", 32))
        }
        for sandbox in sandboxes.values():
            loop.call(sandbox.start)
        (tmp_path / "policy.yml").write_text(yaml.safe_dump(POLICY))
        entries = {
            name: {
                "org_id": s.org_id,
                "policy": "policy.yml",
                "ATLASSIAN_API_BASE": s.base_url,
                "ATLASSIAN_API_KEY": f"env:{name.upper()}_KEY",
            }
            for name, s in sandboxes.items()
        }
        (tmp_path / "orgs.yml").write_text(yaml.safe_dump({"orgs": entries}))
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ATLASSIAN_", "SLACK_", "SMTP_", "JIRA_"))}
        env = keep | {
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "JIRA_CLEANUP_ORGS": str(tmp_path / "orgs.yml"),
            "ACME_KEY": "key-acme",
            "GLOBEX_KEY": "key-globex",
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "ATLASSIAN_REQUESTS_PER_SECOND": "1000",
        }
        try:
            yield env, sandboxes
        finally:
            for sandbox in sandboxes.values():
                loop.call(sandbox.stop)


def test_each_command_works_on_the_org_it_names(tmp_path, two_orgs):
    env, sandboxes = two_orgs
    ambiguous = run("run", cwd=tmp_path, env=env)
    assert ambiguous.returncode == 2
    assert "has 2 orgs (acme, globex): name one" in ambiguous.stderr

    done = run("run", "--org", "globex", "--as", "alice", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert sandboxes["globex"].state.log  # globex's key, globex's API
    assert not sandboxes["acme"].state.log
    assert {r.status for r in sandboxes["globex"].state.log} == {200}

    assert run("pause", "--org", sandboxes["acme"].org_id, "--as", "alice", cwd=tmp_path, env=env).returncode == 0
    acme = run("status", "--org", "acme", cwd=tmp_path, env=env)
    globex = run("status", "--org", "globex", cwd=tmp_path, env=env)
    assert "Kill switch: ON" in acme.stdout
    assert "Kill switch: off" in globex.stdout
    assert "dry_run" in globex.stdout  # globex's run is listed in globex's status...
    assert "dry_run" not in acme.stdout  # ...and not in acme's

    # The audit trail: one chain for the database, and each org's own chain, exported and verified alone.
    assert "audit chain intact" in run("audit", "verify", cwd=tmp_path, env=env).stdout
    for name in ("acme", "globex"):
        verified = run("audit", "verify", "--org", name, cwd=tmp_path, env=env)
        assert verified.returncode == 0, verified.stderr
        assert f"audit chain of org {sandboxes[name].org_id} intact" in verified.stdout
    exported = run("audit", "export", "--org", "globex", "--csv", str(tmp_path / "globex.csv"), cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    rows = read_csv(tmp_path / "globex.csv")
    assert {r["org_id"] for r in rows} == {sandboxes["globex"].org_id}
    assert [int(r["org_seq"]) for r in rows] == list(range(1, len(rows) + 1))

    unknown = run("status", "--org", "initech", cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert "no org 'initech'" in unknown.stderr
