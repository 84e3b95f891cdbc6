"""`jira-cleanup run` as a process against the sandbox: accounts used through the API are never warned."""

from tests.cli.conftest import read_csv, run
from tests.cli.test_lifecycle_cli import env, inbox  # noqa: F401 (fixtures)


def test_accounts_used_through_the_api_are_reviewed_not_warned(tmp_path, env, inbox):  # noqa: F811
    result = run("run", "--as", "alice", "--csv", str(tmp_path / "run.csv"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "run.csv")
    review = [r for r in rows if r["decision"] == "skip:used_through_api"]
    assert review, "the sandbox org has API-only accounts past the threshold"
    assert all("review: used through the API" in r["reason"] and "last used" in r["reason"] for r in review)
    warned = {r["email"] for r in rows if r["decision"] in ("warn", "act", "delete")}
    assert warned, "other dormant accounts are still warned"
    for email in {r["email"] for r in review}:
        assert email not in warned
        assert inbox.to(email) == []
    assert "Review: used through the API" in result.stdout
