"""``claim`` never hands out more than ``limit`` entries, on a fresh (small, unanalysed) table too.

Regression: on PostgreSQL ``UPDATE ... WHERE entry_id IN (SELECT ... LIMIT n FOR UPDATE SKIP
LOCKED)`` was planned as a nested-loop semi join whose rescans skipped the rows already
updated and picked the next ones: a claim of 1 took every PLANNED row (canary of 1 → all).
"""

from __future__ import annotations

import pytest

from adapters.store.rows import case_row
from adapters.store.tables import CASES
from core.ledger import EntryState
from core.ports import LifecycleStore

from .lifecycle_data import ORG, audit, make_case, make_entry


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_claim_takes_at_most_limit_entries(lifecycle_store: LifecycleStore, limit: int) -> None:
    cases = [f"c{n}" for n in range(7)]
    for n, case_id in enumerate(cases):
        lifecycle_store.create_case(make_case(case_id, account_id=f"acc-{n}", opened=n), audit())
    lifecycle_store.add_entries([make_entry(c, account_id=f"acc-{n}", created=n) for n, c in enumerate(cases)])
    got = lifecycle_store.claim(ORG, "w-1", limit)
    assert len(got) == limit
    assert [e.case_id for e in got] == cases[:limit]  # oldest first
    assert len(lifecycle_store.entries(ORG, states=[EntryState.CLAIMED])) == limit
    assert len(lifecycle_store.entries(ORG, states=[EntryState.PLANNED])) == len(cases) - limit


def test_eight_workers_claim_each_of_ten_thousand_entries_exactly_once(sql_lifecycle_store) -> None:
    """Safety bar 37: concurrent claims (SKIP LOCKED on PostgreSQL, the write lock on SQLite) never overlap."""
    from concurrent.futures import ThreadPoolExecutor

    store = sql_lifecycle_store
    cases = [f"c{n}" for n in range(10_000)]
    # The cases are only the entries' parents here: inserted in bulk (create_case would write
    # 10,000 transactions with their audit events, most of this test's time).
    rows = [case_row(make_case(case_id, account_id=f"acc-{n}", opened=n % 50)) for n, case_id in enumerate(cases)]
    with store.engine.begin() as conn:
        conn.execute(CASES.insert(), rows)
    store.add_entries([make_entry(c, account_id=f"acc-{n}", created=n % 50) for n, c in enumerate(cases)])

    def worker(name: str) -> list[str]:
        taken: list[str] = []
        while batch := store.claim(ORG, name, 97):
            taken += [e.entry_id for e in batch]
        return taken

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, [f"w-{n}" for n in range(8)]))
    everything = [entry_id for taken in results for entry_id in taken]
    assert len(everything) == len(set(everything)) == 10_000
    assert sum(1 for taken in results if taken) >= 2, "the claims really were concurrent"
    assert store.entries(ORG, states=[EntryState.PLANNED]) == []
