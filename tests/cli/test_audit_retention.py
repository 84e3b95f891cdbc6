"""Safety bar 44: audit retention moves only events older than audit.retention_days (floor 365) to a CSV.

The chain stays verifiable from the archive point, new events continue it, and the checkpoints
still catch rows cut from the end.
"""

from datetime import UTC, datetime, timedelta

from adapters.store import create_lifecycle_store
from adapters.store.checkpoint import CheckpointFile, load_or_create_key
from core.audit import AuditEntry
from tests.cli.conftest import clean_env, read_csv, run

NOW = datetime.now(UTC)


def entry(days_ago: float, n: int) -> AuditEntry:
    return AuditEntry(
        at=NOW - timedelta(days=days_ago), actor="cli:alice", action="pause", outcome="ok", org_id="o", reason=f"e{n}"
    )


def test_old_events_are_archived_and_the_chain_stays_verifiable(tmp_path):
    db = tmp_path / "bot.db"
    store = create_lifecycle_store(f"sqlite:///{db}")
    checkpoints = CheckpointFile(
        tmp_path / "bot.db.audit-checkpoints", load_or_create_key(tmp_path / "bot.db.audit-key")
    )
    for n, days in enumerate([800, 700, 500, 401, 399, 30, 1]):
        store.append_audit(entry(days, n))
        checkpoints.seal(store)
    store.close()
    env = clean_env(DATABASE_URL=f"sqlite:///{db}")

    archived = run("audit", "archive", "--out", str(tmp_path / "archive"), cwd=tmp_path, env=env)
    assert archived.returncode == 0, archived.stderr
    assert "Archived 4 audit events (up to row 4, older than 400 days)" in archived.stdout
    [csv_file] = (tmp_path / "archive").glob("jira-cleanup-audit-archive-*.csv")
    rows = read_csv(csv_file)
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]
    assert all(r["hash"] for r in rows)

    verified = run("audit", "verify", cwd=tmp_path, env=env)
    assert verified.returncode == 0, verified.stderr
    assert "3 events verified" in verified.stdout
    assert "rows up to 4 are archived" in verified.stdout

    store = create_lifecycle_store(f"sqlite:///{db}")
    assert store.append_audit(entry(0, 99)).seq == 8  # the chain goes on from row 7
    store.close()
    assert run("audit", "verify", cwd=tmp_path, env=env).returncode == 0
    again = run("audit", "archive", "--out", str(tmp_path / "archive"), cwd=tmp_path, env=env)
    assert "Nothing to archive" in again.stdout


def test_retention_below_the_floor_is_refused_naming_the_field(tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(
        "rules: [{name: r, product: any, inactive_days: 90, action: suspend}]\naudit: {retention_days: 100}\n"
    )
    done = run("policy", "check", str(policy), cwd=tmp_path)
    assert done.returncode == 2
    assert "audit.retention_days" in done.stderr
    assert ">= 365" in done.stderr
