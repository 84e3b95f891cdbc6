"""The composition root: the one place that builds real adapters and hands them to use cases.

Nothing is built at import time. Tests pass their own directory, store or clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.policy_file import load_policy_file, load_policy_text
from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from adapters.store import create_store
from bot.scanning import NoProgress, ProgressSink, scan_to_csv
from bot.settings import Settings, SettingsError
from core.policy import Policy
from core.ports import ScanStore
from core.usecases import ScanResult

ProgressFactory = AbstractContextManager[ProgressSink]


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """A finished scan with the policy used and where the CSV went."""

    scan: ScanResult
    policy: Policy
    csv_path: Path


@dataclass(frozen=True, slots=True)
class DemoOutcome(ScanOutcome):
    """A demo scan plus what the sandbox saw."""

    requests: int = 0
    mutating_requests: int = 0


def sample_policy() -> Policy:
    """The policy bundled with the package (``bot/sample_policy.yml``)."""
    text = resources.files("bot").joinpath("sample_policy.yml").read_text(encoding="utf-8")
    return load_policy_text(text, "sample_policy.yml")


def resolve_policy(path: Path | None, settings: Settings | None = None) -> Policy:
    """The policy at ``path``, else at ``$JIRA_CLEANUP_POLICY``; raises if neither is given."""
    chosen = path or (settings.jira_cleanup_policy if settings is not None else None)
    if chosen is None:
        raise SettingsError(
            "no policy given: pass --policy FILE or set JIRA_CLEANUP_POLICY "
            "(start from the sample: jira-cleanup policy check to validate it)"
        )
    return load_policy_file(chosen)


def build_store(database_url: str) -> ScanStore:
    """The SQL store at ``database_url``, migrated to the current schema."""
    return create_store(database_url)


@contextlib.contextmanager
def _no_progress() -> Iterator[ProgressSink]:
    yield NoProgress()


async def run_scan(
    settings: Settings,
    *,
    policy_path: Path | None,
    org_override: str | None,
    csv_path: Path | None,
    progress: ProgressFactory | None = None,
) -> ScanOutcome:
    """Scan the real org named by the settings, read-only, and write the preview CSV."""
    org_id, api_key = settings.require_atlassian(org_override)
    policy = resolve_policy(policy_path, settings)
    store = build_store(settings.database_url)
    config = AtlassianConfig(
        org_id=org_id,
        api_key=api_key,
        base_url=settings.atlassian_api_base,
        directory_id=settings.atlassian_directory_id,
        requests_per_second=settings.atlassian_requests_per_second,
        max_attempts=settings.atlassian_max_attempts,
    )
    async with open_directory(config) as directory:
        with progress or _no_progress() as sink:
            result, path = await scan_to_csv(directory, store, policy, csv_path=csv_path, progress=sink)
    return ScanOutcome(result, policy, path)


async def start_sandbox(
    *, users: int, seed: int, host: str = "127.0.0.1", port: int = 0, api_key: str = "sandbox-key"
) -> SandboxServer:
    """Generate a simulated org and serve it; the caller stops the returned server."""
    server = SandboxServer(generate_org(users=users, seed=seed), SandboxConfig(api_key=api_key))
    await server.start(host=host, port=port)
    return server


async def run_demo(
    *,
    users: int,
    seed: int,
    csv_path: Path | None,
    database_url: str,
    policy_path: Path | None = None,
    progress: ProgressFactory | None = None,
) -> DemoOutcome:
    """Scan an in-process sandbox org over loopback HTTP with the sample (or given) policy."""
    policy = load_policy_file(policy_path) if policy_path is not None else sample_policy()
    store = build_store(database_url)
    server = await start_sandbox(users=users, seed=seed)
    try:
        config = AtlassianConfig(
            org_id=server.org_id, api_key="sandbox-key", base_url=server.base_url, requests_per_second=None
        )
        async with open_directory(config) as directory:
            with progress or _no_progress() as sink:
                result, path = await scan_to_csv(directory, store, policy, csv_path=csv_path, progress=sink)
        return DemoOutcome(
            result,
            policy,
            path,
            requests=len(server.request_log),
            mutating_requests=len(server.mutating_requests()),
        )
    finally:
        await server.stop()
