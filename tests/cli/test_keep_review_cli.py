"""``jira-cleanup keeps`` and ``digest`` as processes: the keep review and the week, from the database."""

from datetime import UTC, datetime, timedelta

from adapters.store import open_stores
from core.audit import AuditEntry
from core.model import DirectoryId, Org, OrgId
from tests.cli.conftest import clean_env, read_csv, run
from tests.fakes import make_account

ORG = "org-keep"


def seed(url: str, now: datetime) -> None:
    """A scan where k1 and k2 last used Jira 200 days ago and k3 yesterday; k1 kept twice, k2 once, k3 twice."""
    scans, lifecycle = open_stores(url)
    try:
        scans.upsert_org(Org(OrgId(ORG), DirectoryId("dir-1"), "Acme"))
        run_id = scans.start_scan(ORG, now - timedelta(hours=1), "policy-hash")
        accounts = [
            make_account(f"k{n}", email=f"k{n}@acme.example", products={"jira-software": days}, now=now)
            for n, days in ((1, 200), (2, 200), (3, 1))
        ]
        scans.save_accounts(run_id, ORG, accounts)
        scans.finish_scan(run_id, now, status="completed", plan_hash=None, accounts=3, summary=None)
        for account_id, days_ago, reason in (("k1", 120, "month-end close"), ("k1", 20, ""), ("k2", 20, "")):
            lifecycle.append_audit(keep(account_id, now - timedelta(days=days_ago), reason))
        for days_ago in (120, 20):
            lifecycle.append_audit(keep("k3", now - timedelta(days=days_ago), ""))
        lifecycle.append_audit(keep("k2", now - timedelta(days=10), "", outcome="refused"))
    finally:
        scans.close()
        lifecycle.close()


def keep(account_id: str, at: datetime, reason: str, outcome: str = "ok") -> AuditEntry:
    after = {"rule": "org", "keep_until": str(at + timedelta(days=90)), "restore_queued": False}
    return AuditEntry(at, "slack:T1/U9", "keep", outcome, ORG, subject=account_id, reason=reason, after=after)


def test_keeps_lists_the_repeated_keepers_and_writes_their_history(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    now = datetime.now(UTC)
    seed(url, now)
    out = tmp_path / "keeps.csv"
    done = run("keeps", "--org", ORG, "--csv", str(out), cwd=tmp_path, env=clean_env(DATABASE_URL=url))
    assert done.returncode == 0, done.stderr
    assert "1 accounts kept their access 2 or more times in the last 365 days" in done.stdout
    assert "k1@acme.example (org): 2 keeps" in done.stdout
    assert "k2@" not in done.stdout
    assert "k3@" not in done.stdout
    [row] = read_csv(out)
    assert (row["account_id"], row["rule"], row["keeps"], row["reasons"]) == ("k1", "org", "2", "month-end close")
    assert row["kept_by"] == "slack:T1/U9"
    assert datetime.fromisoformat(row["last_active"]) < datetime.fromisoformat(row["first_keep"])


def test_keeps_names_the_org_option_when_the_org_is_unknown(tmp_path) -> None:
    done = run("keeps", cwd=tmp_path, env=clean_env(DATABASE_URL=f"sqlite:///{tmp_path}/bot.db"))
    assert done.returncode != 0
    assert "ORG" in (done.stdout + done.stderr).upper()


def test_digest_prints_the_week(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    now = datetime.now(UTC)
    seed(url, now)
    scans, lifecycle = open_stores(url)
    try:
        lifecycle.append_audit(keep("k1", now - timedelta(days=2), "still closing the books"))
    finally:
        scans.close()
        lifecycle.close()
    done = run("digest", "--org", ORG, cwd=tmp_path, env=clean_env(DATABASE_URL=url))
    assert done.returncode == 0, done.stderr
    assert f"Weekly digest: Week of {now - timedelta(days=7):%d %b} – {now:%d %b %Y}. Nothing unusual." in done.stdout
    assert "  Kept: 1" in done.stdout
    assert "  Runs: 0" in done.stdout
