"""One contract, every ScanStore: the in-memory fake and SqlStore on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest

from adapters.store import create_store
from core.model import DirectoryId, Org, OrgId
from core.planner import plan
from core.policy import parse_policy
from tests.fakes import NOW, FakeStore, make_account
from tests.store.pg import postgres_schema_url

POLICY = parse_policy(
    {
        "rules": [
            {"name": "jira", "product": "jira-software", "inactive_days": 60, "action": "remove_product_access"},
            {"name": "org", "product": "any", "inactive_days": 120, "action": "suspend"},
        ]
    }
)


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "fake":
        yield FakeStore()
    elif request.param == "sqlite":
        s = create_store(f"sqlite:///{tmp_path}/contract.db")
        yield s
        s.close()
    else:
        with postgres_schema_url() as url:
            s = create_store(url)
            yield s
            s.close()


def accounts():
    return [
        make_account("b-2", products={"jira-software": 90, "confluence": None}, groups=["engineering"]),
        make_account("a-1", products={"jira-software": 10}, roles=["atlassian/site-admin"], email="=x@acme.example"),
        make_account("c-3", products={}, activity_known=False, added_days_ago=None),
    ]


def test_a_scan_round_trips_snapshot_decisions_and_summary(store):
    """What goes in comes back equal: accounts, decisions in (account, rule) order, summary."""
    org = Org(OrgId("org-1"), DirectoryId("dir-1"), "Acme")
    store.upsert_org(org)
    run_id = store.start_scan("org-1", NOW, POLICY.policy_hash)
    assert store.get_scan(run_id).status == "running"
    result = plan(accounts(), POLICY, NOW)
    store.save_accounts(run_id, "org-1", accounts())
    store.save_decisions(run_id, "org-1", list(reversed(result.decisions)))
    store.finish_scan(
        run_id,
        NOW + timedelta(seconds=3),
        status="completed",
        plan_hash=result.plan_hash,
        accounts=3,
        summary=result.summary,
    )
    run = store.get_scan(run_id)
    assert (run.status, run.plan_hash, run.accounts, run.policy_hash) == (
        "completed",
        result.plan_hash,
        3,
        POLICY.policy_hash,
    )
    assert run.finished_at == NOW + timedelta(seconds=3)
    assert list(store.iter_decisions(run_id)) == list(result.decisions)
    for account in accounts():
        assert store.get_account(run_id, account.account_id) == account
    assert store.get_account(run_id, "nobody") is None


def test_saving_twice_replaces(store):
    """Re-saving the same (run, account, rule) keeps one row with the newest content."""
    run_id = store.start_scan("org-1", NOW, "h")
    first = plan([make_account("a", products={"jira-software": 10})], POLICY, NOW).decisions
    second = plan([make_account("a", products={"jira-software": 100})], POLICY, NOW).decisions
    store.save_decisions(run_id, "org-1", first)
    store.save_decisions(run_id, "org-1", second)
    assert list(store.iter_decisions(run_id)) == list(second)


def test_latest_scan_is_per_org(store):
    """Two orgs never see each other's scans."""
    a1 = store.start_scan("org-a", NOW, "h")
    b1 = store.start_scan("org-b", NOW + timedelta(minutes=1), "h")
    a2 = store.start_scan("org-a", NOW + timedelta(minutes=2), "h")
    assert store.latest_scan("org-a").run_id == a2
    assert store.latest_scan("org-b").run_id == b1
    assert store.latest_scan("org-c") is None
    assert a1 != a2


def test_unknown_scan_is_a_lookup_error(store):
    """Asking for a scan that does not exist raises LookupError."""
    with pytest.raises(LookupError):
        store.get_scan("does-not-exist")
