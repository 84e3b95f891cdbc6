"""SqlStore honours the ScanStore contract on SQLite and PostgreSQL, with exact round trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adapters.store import SqlStore
from core.model import (
    Account,
    AccountId,
    AccountStatus,
    AccountType,
    Claim,
    DirectoryId,
    Group,
    GroupId,
    ManagementSource,
    MembershipStatus,
    Org,
    OrgId,
    ProductAccess,
    ProductKey,
)
from core.planner import Decision, PlanSummary, Verdict, decide, plan
from core.policy import Action, Policy, parse_policy
from core.ports import ScanRun, ScanStore
from core.report import summary_from_mapping

NOW = datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))

POLICY: Policy = parse_policy(
    {
        "rules": [
            {"name": "jira-90d", "product": "jira-software", "inactive_days": 90, "action": "remove_product_access"},
            {"name": "Confluence-60d", "product": "confluence", "inactive_days": 60, "action": "remove_product_access"},
            {
                "name": "statuspage-30d",
                "product": "statuspage-v9",
                "inactive_days": 30,
                "action": "remove_product_access",
                "warn_days_before": 7,
            },
            {
                "name": "org-wide-180d",
                "product": "any",
                "inactive_days": 180,
                "action": "suspend",
                "delete_after_days": 30,
            },
        ],
        "protected": {"accounts": ["vip@acme.example"], "groups": ["break-glass"]},
        "prices": {"jira-software": "8.60", "confluence": "6.05"},
    },
    source="test",
)


def days_ago(days: int | None, tz: timezone = UTC) -> datetime | None:
    return None if days is None else (NOW - timedelta(days=days, seconds=17, microseconds=3)).astimezone(tz)


def account(
    account_id: str,
    *,
    email: str | None = "user@acme.example",
    name: str = "Ada Lovelace",
    products: dict[str, int | None] | None = None,
    added_days_ago: int | None = 400,
    tz: timezone = UTC,
    **changes: object,
) -> Account:
    products = {"jira-software": 10} if products is None else products
    base = Account(
        account_id=AccountId(account_id),
        email=email,
        name=name,
        account_type=AccountType.ATLASSIAN,
        account_status=AccountStatus.ACTIVE,
        membership_status=MembershipStatus.ACTIVE,
        claim=Claim.MANAGED,
        management_source=ManagementSource.INVITED,
        added_to_org=days_ago(added_days_ago, tz),
        products=tuple(ProductAccess(ProductKey(key), f"res-{key}", days_ago(d, tz)) for key, d in products.items()),
    )
    return replace(base, **changes)


def sample_accounts() -> list[Account]:
    """A spread of accounts covering every decision kind and awkward value."""
    return [
        account("557058:active", products={"jira-software": 3, "confluence": 1}),
        account("557058:inactive", products={"jira-software": 120, "confluence": 75}),
        account("5570581-deletable", products={"jira-software": 400}, added_days_ago=900),
        account(
            "Zeta-admin",
            platform_roles=frozenset({"atlassian/org-admin", "custom/role"}),
            products={"jira-software": 300},
        ),
        account(
            "alpha-unicode",
            name='Zoë Ünïcødé 李小龍 🚀 "quoted" , comma',
            email='=HYPERLINK("http://evil.example")@acme.example',
            products={"statuspage-v9": None, "brand-new-product-key": None},
            groups=(Group(GroupId("g-2"), "Ärzte"), Group(GroupId("g-1"), "break-glass-not")),
        ),
        account("_unknown-activity", activity_known=False, products={"jira-software": None}),
        account("no-email-no-dates", email=None, added_days_ago=None, products={"confluence": None}),
        account("no-products", products={}),
        account("scim", management_source=ManagementSource.SYNCED, products={"jira-software": 500}),
        account("customer", account_type=AccountType.CUSTOMER, claim=Claim.UNMANAGED, products={}),
        account("app-bot", account_type=AccountType.APP, products={"jira-software": None}),
        account(
            "other-type",
            account_type=AccountType.OTHER,
            account_status=AccountStatus.OTHER,
            membership_status=MembershipStatus.OTHER,
            management_source=ManagementSource.UNKNOWN,
        ),
        account("suspended", membership_status=MembershipStatus.SUSPENDED, products={"jira-software": 200}),
        account("protected-group", groups=(Group(GroupId("g-9"), "break-glass"),), products={"confluence": 90}),
        account("vip", email="VIP@acme.example", products={"jira-software": 1000}),
        account("non-utc-offsets", tz=IST, products={"jira-software": 95, "confluence": 59}),
        account("warn-soon", products={"jira-software": 85}),
        account("new-hire", added_days_ago=5, products={"jira-software": None}),
    ]


def decisions_of(accounts: list[Account]) -> list[Decision]:
    return [d for a in accounts for d in decide(a, POLICY, NOW)]


def test_sql_store_satisfies_the_scan_store_protocol(store: SqlStore) -> None:
    port: ScanStore = store  # mypy checks the signatures; this asserts the names at runtime
    for name in ScanStore.__dict__:
        if not name.startswith("_"):
            assert callable(getattr(port, name)), name


def test_scan_lifecycle(store: SqlStore) -> None:
    org = Org(OrgId("org-1"), DirectoryId("dir-1"), "Acme")
    store.upsert_org(org)
    accounts = sample_accounts()
    result = plan(accounts, POLICY, NOW)

    run_id = store.start_scan(org.org_id, NOW, POLICY.policy_hash)
    assert len(run_id) == 32
    running = store.get_scan(run_id)
    assert running == ScanRun(run_id, "org-1", NOW, None, "running", POLICY.policy_hash, None, 0, None, None)

    for start in range(0, len(accounts), 5):  # pages of 5
        page = accounts[start : start + 5]
        store.save_accounts(run_id, org.org_id, page)
        store.save_decisions(run_id, org.org_id, decisions_of(page))
    finished_at = NOW + timedelta(minutes=3, microseconds=7)
    store.finish_scan(
        run_id,
        finished_at,
        status="completed",
        plan_hash=result.plan_hash,
        accounts=len(accounts),
        summary=result.summary,
    )

    done = store.get_scan(run_id)
    assert done.status == "completed"
    assert done.started_at == NOW
    assert done.started_at.tzinfo is not None
    assert done.finished_at == finished_at
    assert done.plan_hash == result.plan_hash
    assert done.accounts == len(accounts)
    assert done.error is None
    assert done.summary is not None
    assert summary_from_mapping(done.summary) == result.summary
    assert summary_from_mapping(done.summary).monthly_savings > Decimal(0)
    assert store.latest_scan("org-1") == done
    assert store.list_scans() == [done]
    assert store.list_scans("org-1", limit=5) == [done]
    assert store.list_scans("org-2") == []
    assert store.list_scans(limit=0) == []
    assert list(store.iter_decisions(run_id)) == list(result.decisions)
    assert store.count_decisions(run_id) == result.summary.decisions


def test_decisions_round_trip_exactly_in_code_point_order(store: SqlStore) -> None:
    accounts = sample_accounts()
    decisions = decisions_of(accounts)
    verdicts = {d.verdict for d in decisions}
    assert verdicts == set(Verdict)  # the sample covers skip, warn, act and delete
    assert any(d.last_active is None for d in decisions)
    assert any(d.deadline is not None for d in decisions)
    assert any(d.days_inactive is None for d in decisions)

    run_id = store.start_scan("org-1", NOW, "p")
    store.save_decisions(run_id, "org-1", list(reversed(decisions)))

    stored = list(store.iter_decisions(run_id))
    assert stored == sorted(decisions, key=lambda d: (d.account_id, d.rule))
    for got in stored:
        assert isinstance(got.action, Action)
        assert isinstance(got.verdict, Verdict)
        assert got.last_active is None or got.last_active.tzinfo is not None
        assert got.deadline is None or got.deadline.tzinfo is not None


def test_accounts_round_trip_exactly(store: SqlStore) -> None:
    accounts = sample_accounts()
    run_id = store.start_scan("org-1", NOW, "p")
    store.save_accounts(run_id, "org-1", accounts)

    for original in accounts:
        got = store.get_account(run_id, original.account_id)
        assert got == original
        assert got is not None
        assert isinstance(got.platform_roles, frozenset)
        assert isinstance(got.groups, tuple)
        assert isinstance(got.products, tuple)
        assert got.account_type is original.account_type
        assert got.is_admin == original.is_admin
    assert store.get_account(run_id, "nobody") is None
    assert store.get_account("no-such-run", accounts[0].account_id) is None
    assert list(store.iter_accounts(run_id)) == sorted(accounts, key=lambda a: a.account_id)


def test_resaving_replaces_instead_of_duplicating(store: SqlStore) -> None:
    accounts = sample_accounts()
    decisions = decisions_of(accounts)
    run_id = store.start_scan("org-1", NOW, "p")
    store.save_accounts(run_id, "org-1", accounts)
    store.save_decisions(run_id, "org-1", decisions)

    renamed = replace(accounts[0], name="Renamed", products=())
    changed = decisions[0]._replace(detail="changed", verdict=Verdict.WARN, deadline=NOW)
    store.save_accounts(run_id, "org-1", [renamed])
    store.save_accounts(run_id, "org-1", [accounts[1], accounts[1]])  # duplicate in one page: last wins
    store.save_decisions(run_id, "org-1", [changed, *decisions[1:3]])
    store.save_decisions(run_id, "org-1", decisions[1:])

    assert store.get_account(run_id, renamed.account_id) == renamed
    assert list(store.iter_accounts(run_id)) == sorted([renamed, *accounts[1:]], key=lambda a: a.account_id)
    expected = sorted([changed, *decisions[1:]], key=lambda d: (d.account_id, d.rule))
    assert list(store.iter_decisions(run_id)) == expected


def test_orgs_are_isolated(store: SqlStore) -> None:
    store.upsert_org(Org(OrgId("org-a"), DirectoryId("dir-a"), "A"))
    store.upsert_org(Org(OrgId("org-b"), DirectoryId("dir-b"), "B"))
    store.upsert_org(Org(OrgId("org-a"), DirectoryId("dir-a2"), "A renamed"))  # update, not duplicate
    accounts = sample_accounts()

    a_old = store.start_scan("org-a", NOW - timedelta(days=2), "p")
    b_only = store.start_scan("org-b", NOW - timedelta(days=1), "p")
    a_new = store.start_scan("org-a", NOW, "p")
    store.save_accounts(a_new, "org-a", accounts[:3])
    store.save_decisions(a_new, "org-a", decisions_of(accounts[:3]))
    store.save_accounts(b_only, "org-b", accounts[3:6])
    store.save_decisions(b_only, "org-b", decisions_of(accounts[3:6]))

    latest_a, latest_b = store.latest_scan("org-a"), store.latest_scan("org-b")
    assert latest_a is not None
    assert latest_a.run_id == a_new
    assert latest_b is not None
    assert latest_b.run_id == b_only
    assert store.latest_scan("org-c") is None
    assert [s.run_id for s in store.list_scans("org-a")] == [a_new, a_old]
    assert [s.run_id for s in store.list_scans()] == [a_new, b_only, a_old]
    assert [s.run_id for s in store.list_scans(limit=2)] == [a_new, b_only]
    assert {d.account_id for d in store.iter_decisions(b_only)} <= {a.account_id for a in accounts[3:6]}
    assert list(store.iter_decisions(a_old)) == []
    assert store.get_account(b_only, accounts[0].account_id) is None


def test_a_scan_may_start_before_its_org_is_recorded(store: SqlStore) -> None:
    run_id = store.start_scan("org-late", NOW, "p")
    store.upsert_org(Org(OrgId("org-late"), DirectoryId("dir"), "Late"))
    assert store.get_scan(run_id).org_id == "org-late"


def test_failed_scan_keeps_its_error(store: SqlStore) -> None:
    run_id = store.start_scan("org-1", NOW, "p")
    store.save_accounts(run_id, "org-1", sample_accounts()[:2])
    error = "DirectoryUnavailable: 503 after 5 attempts — Ünïcødé détails\nsecond line"
    store.finish_scan(
        run_id, NOW + timedelta(seconds=5), status="failed", plan_hash=None, accounts=2, summary=None, error=error
    )
    run = store.get_scan(run_id)
    assert (run.status, run.error, run.summary, run.plan_hash, run.accounts) == ("failed", error, None, None, 2)
    assert store.latest_scan("org-1") == run


def test_empty_summary_round_trips(store: SqlStore) -> None:
    run_id = store.start_scan("org-1", NOW, "p")
    store.finish_scan(run_id, NOW, status="completed", plan_hash="h", accounts=0, summary=PlanSummary())
    summary = store.get_scan(run_id).summary
    assert summary is not None
    assert summary_from_mapping(summary) == PlanSummary()


def test_unknown_scans_and_bad_arguments(store: SqlStore) -> None:
    with pytest.raises(LookupError, match="no-such-run"):
        store.get_scan("no-such-run")
    with pytest.raises(LookupError, match="no-such-run"):
        store.finish_scan("no-such-run", NOW, status="completed", plan_hash=None, accounts=0, summary=None)
    run_id = store.start_scan("org-1", NOW, "p")
    with pytest.raises(ValueError, match="completed"):
        store.finish_scan(run_id, NOW, status="running", plan_hash=None, accounts=0, summary=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.start_scan("org-1", NOW.replace(tzinfo=None), "p")
    naive = account("naive", added_days_ago=None, products={"jira-software": None})
    naive = replace(naive, added_to_org=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.save_accounts(run_id, "org-1", [naive])
    assert store.get_account(run_id, "naive") is None


def test_saving_into_an_unknown_scan_is_a_store_error(store: SqlStore) -> None:
    from core.errors import StoreError

    with pytest.raises(StoreError, match="no-such-run"):
        store.save_decisions("no-such-run", "org-1", decisions_of(sample_accounts()[:1]))


def test_ten_thousand_decisions_in_one_page(store: SqlStore) -> None:
    template = decisions_of([account("x", products={"jira-software": 120})])[0]
    decisions = [template._replace(account_id=f"acc-{i:05d}") for i in range(10_000)]
    run_id = store.start_scan("org-1", NOW, "p")
    store.save_decisions(run_id, "org-1", decisions)
    store.save_decisions(run_id, "org-1", decisions)  # idempotent at size too
    streamed = store.iter_decisions(run_id)
    count = 0
    for got, want in zip(streamed, decisions, strict=True):
        assert got == want
        count += 1
    assert count == 10_000
    assert store.count_decisions(run_id) == {template.code: 10_000}


def test_closing_a_partly_read_stream_releases_the_connection(store: SqlStore) -> None:
    run_id = store.start_scan("org-1", NOW, "p")
    store.save_decisions(run_id, "org-1", decisions_of(sample_accounts()))
    stream = iter(store.iter_decisions(run_id))
    first = next(stream)
    close = getattr(stream, "close", None)
    assert close is not None
    close()
    assert next(iter(store.iter_decisions(run_id))) == first
    assert store.engine.pool.checkedout() == 0
