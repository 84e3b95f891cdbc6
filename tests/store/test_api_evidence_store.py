"""API-token evidence kept between scans: the same contract on the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.store import create_store
from core.model import ApiEvidence, ApiUse
from core.ports import ApiEvidenceStore
from tests.fakes import FakeStore
from tests.store.pg import postgres_schema_url

READ = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def evidence_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiEvidenceStore]:
    if request.param == "fake":
        yield FakeStore()
        return
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "postgresql":
            url = stack.enter_context(postgres_schema_url())
        store = create_store(url)
        stack.callback(store.close)
        yield store


def used(account_id: str, days_ago: int | None, *, label: str = "ci", read_at: datetime = READ) -> ApiEvidence:
    last = None if days_ago is None else read_at - timedelta(days=days_ago)
    return ApiEvidence(account_id, ApiUse(known=True, label=label if last else "", last_access=last), read_at)


def test_evidence_round_trips_per_org_and_only_for_accounts_that_have_some(evidence_store: ApiEvidenceStore) -> None:
    assert isinstance(evidence_store, ApiEvidenceStore)
    kept = [used("a", 3, label="ci-deploy"), used("b", None)]
    evidence_store.remember_api_use("org-1", kept)
    assert evidence_store.recall_api_use("org-1", ["a", "b", "c"]) == {"a": kept[0], "b": kept[1]}
    assert evidence_store.recall_api_use("org-2", ["a", "b"]) == {}
    assert evidence_store.recall_api_use("org-1", []) == {}


def test_a_newer_read_replaces_the_older_one_and_unknown_is_never_kept(evidence_store: ApiEvidenceStore) -> None:
    evidence_store.remember_api_use("org-1", [used("a", 3)])
    newer = used("a", 0, label="nightly", read_at=READ + timedelta(days=2))
    evidence_store.remember_api_use("org-1", [newer, ApiEvidence("z", ApiUse.unknown("HTTP 403"), READ)])
    assert evidence_store.recall_api_use("org-1", ["a", "z"]) == {"a": newer}


def test_many_accounts_are_recalled_at_once(evidence_store: ApiEvidenceStore) -> None:
    kept = [used(f"acc-{i:04d}", i % 40) for i in range(1200)]
    evidence_store.remember_api_use("org-1", kept)
    wanted = [e.account_id for e in kept[::2]] + ["missing"]
    assert evidence_store.recall_api_use("org-1", wanted) == {e.account_id: e for e in kept[::2]}
