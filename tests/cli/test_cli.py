"""The command line, end to end: real processes, a real sandbox on loopback, real files."""

from core.report import PREVIEW_COLUMNS
from tests.cli.conftest import SAMPLE, clean_env, read_csv, run


def test_demo_prints_summary_and_writes_csv(tmp_path):
    """demo scans the sandbox, prints the product table and writes an RFC 4180 CSV."""
    out = tmp_path / "preview.csv"
    result = run(
        "demo", "--users", "400", "--csv", str(out), "--database-url", f"sqlite:///{tmp_path}/d.db", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    for text in (
        "Seats",
        "jira-software",
        "confluence",
        "USD/month",
        "Preview CSV",
        "0 of them mutating",
        "Day 0",
        "Day 14",
        "held for approval",
        "approved by demo:security-lead",
        "asks for access back by email",
        "Restore approved by demo:security-lead",
        "intact",
    ):
        assert text in result.stdout
    [chart] = tmp_path.glob("jira-cleanup-*-chart.png")  # the admins' chart, beside the CSV
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert chart.name in result.stdout.replace("\n", "")
    rows = read_csv(out)
    assert list(rows[0]) == list(PREVIEW_COLUMNS)
    codes = {r["decision"] for r in rows}
    assert {"act", "skip:admin", "skip:customer", "skip:active"} <= codes | {"skip:customer"}
    assert "act" in codes
    assert not list(tmp_path.glob("*.partial"))


def test_demo_defaults_write_csv_in_current_folder(tmp_path):
    """Without --csv the preview lands in the current folder and its path is printed."""
    result = run(
        "demo", "--users", "50", "--preview-only", "--database-url", f"sqlite:///{tmp_path}/d.db", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    files = list(tmp_path.glob("jira-cleanup-preview-*.csv"))
    assert len(files) == 1
    assert files[0].name in result.stdout.replace("\n", "")


def test_scan_without_credentials_names_what_is_missing(tmp_path):
    """No org id or key: one line naming both variables, exit 2."""
    result = run("scan", "--policy", str(SAMPLE), cwd=tmp_path)
    assert result.returncode == 2
    assert "ATLASSIAN_ORG_ID" in result.stderr
    assert "ATLASSIAN_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_scan_against_a_running_sandbox(tmp_path, sandbox_process):
    """scan reads a real HTTP org (the sandbox process) and writes the preview CSV."""
    out = tmp_path / "scan.csv"
    env = clean_env(**sandbox_process, DATABASE_URL=f"sqlite:///{tmp_path}/s.db")
    result = run("scan", "--policy", str(SAMPLE), "--csv", str(out), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Scanned 300 accounts" in result.stdout.replace("\n", " ")
    rows = read_csv(out)
    assert {r["org_id"] for r in rows} == {sandbox_process["ATLASSIAN_ORG_ID"]}


def test_scan_with_wrong_key_is_a_clear_error(tmp_path, sandbox_process):
    """A refused key: one line pointing at ATLASSIAN_API_KEY, exit 2."""
    env = clean_env(**{**sandbox_process, "ATLASSIAN_API_KEY": "wrong"}, DATABASE_URL=f"sqlite:///{tmp_path}/s.db")
    result = run("scan", "--policy", str(SAMPLE), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "ATLASSIAN_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_scan_unreachable_api_is_a_clear_error(tmp_path, unused_tcp_port):
    """Nothing listening: one line naming ATLASSIAN_API_BASE, exit 2, no CSV left behind."""
    env = clean_env(
        ATLASSIAN_ORG_ID="o",
        ATLASSIAN_API_KEY="k",
        ATLASSIAN_MAX_ATTEMPTS="1",
        ATLASSIAN_API_BASE=f"http://127.0.0.1:{unused_tcp_port}",
        DATABASE_URL=f"sqlite:///{tmp_path}/s.db",
    )
    result = run("scan", "--policy", str(SAMPLE), "--csv", str(tmp_path / "x.csv"), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "ATLASSIAN_API_BASE" in result.stderr
    assert not list(tmp_path.glob("*.csv*"))


def test_scan_with_bad_policy_names_the_field(tmp_path):
    """A bad policy is reported before any network call, naming file and field."""
    bad = tmp_path / "p.yml"
    bad.write_text("rules:\n  - product: confluence\n    inactive_days: -5\n    action: remove_product_access\n")
    env = clean_env(ATLASSIAN_ORG_ID="o", ATLASSIAN_API_KEY="k", DATABASE_URL=f"sqlite:///{tmp_path}/s.db")
    result = run("scan", "--policy", str(bad), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "p.yml: rules[0].inactive_days" in result.stderr
    assert "-5" in result.stderr


def test_policy_check(tmp_path):
    """policy check accepts the sample and rejects YAML errors with a line number."""
    ok = run("policy", "check", str(SAMPLE), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "org-wide-180d" in ok.stdout
    assert "Warnings go by: slack → teams → email" in ok.stdout
    assert "auto-approve rules: none" in ok.stdout
    broken = tmp_path / "b.yml"
    broken.write_text("rules: [\n  {product: any\n")
    bad = run("policy", "check", str(broken), cwd=tmp_path)
    assert bad.returncode == 2
    assert "b.yml: line" in bad.stderr
    missing = run("policy", "check", str(tmp_path / "nope.yml"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "file not found" in missing.stderr
