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
from typing import TYPE_CHECKING

from adapters.atlassian import open_directory
from adapters.policy_file import load_policy_file, load_policy_text
from bot.compose import atlassian_config, stores
from bot.scanning import NoProgress, ProgressSink, scan_to_csv
from bot.settings import Settings, SettingsError
from core.policy import Policy
from core.usecases import ScanResult

if TYPE_CHECKING:
    from adapters.sandbox import SandboxServer

ProgressFactory = AbstractContextManager[ProgressSink]


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """A finished scan with the policy used and where the CSV went."""

    scan: ScanResult
    policy: Policy
    csv_path: Path


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
            "(write the commented sample with: jira-cleanup policy init policy.yml)"
        )
    return load_policy_file(chosen)


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
    config = atlassian_config(settings, org_override)
    policy = resolve_policy(policy_path, settings)
    db = stores(settings.database_url)
    async with open_directory(config) as directory:
        with progress or _no_progress() as sink:
            result, path = await scan_to_csv(
                directory, db.scans, policy, csv_path=csv_path, progress=sink, protections=db.protections
            )
    return ScanOutcome(result, policy, path)


async def start_sandbox(
    *, users: int, seed: int, host: str = "127.0.0.1", port: int = 0, api_key: str = "sandbox-key"
) -> SandboxServer:
    """Generate a simulated org and serve it; the caller stops the returned server."""
    from adapters.sandbox import SandboxConfig, SandboxServer, generate_org  # only the demo and `sandbox` need it

    server = SandboxServer(generate_org(users=users, seed=seed), SandboxConfig(api_key=api_key))
    await server.start(host=host, port=port)
    return server
