"""Every log line the engine writes during a run carries the org, the run and the account."""

from core.logcontext import current
from tests.unit.test_engine import World, stale, suspend_only


class WatchingDirectory:
    """Wraps the fake directory and notes the log context at each write."""

    def __init__(self, inner):
        self.inner = inner
        self.seen = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def suspend(self, account_id):
        self.seen.append(dict(current()))
        await self.inner.suspend(account_id)


async def test_a_write_is_logged_with_org_run_and_account():
    w = World([stale("a1")], suspend_only(canary={"size": 0}))
    watching = WatchingDirectory(w.directory)
    w.engine.directory = watching
    await w.run()
    report = await w.run(days=14)
    assert report.counts.get("actions_confirmed") == 1
    assert watching.seen == [{"org": "org-1", "run_id": report.run_id, "account": "a1"}]
    assert dict(current()) == {}  # nothing leaks out of the run


async def test_a_keep_is_logged_with_org_and_account():
    w = World([stale("a1")], suspend_only())
    await w.run()
    seen = []
    original = w.store.find_cases

    def find_cases(org_id, account_id):
        seen.append(dict(current()))
        return original(org_id, account_id)

    w.store.find_cases = find_cases
    await w.engine.keep("org-1", "a1", "slack:U1", w.policy)
    assert seen[0] == {"org": "org-1", "account": "a1"}
