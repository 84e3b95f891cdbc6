"""Lifecycle wiring for the CLI and the scheduler: build the engine, run it, write the run CSV."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.console_notifier import ConsoleNotifier
from adapters.store import SqlChatStore, SqlRestoreStore, open_stores
from bot.scanning import ProgressSink, scan_to_csv
from bot.settings import Settings
from core.clock import SystemClock
from core.engine import Engine, RunReport
from core.policy import Mode, Policy
from core.ports import (
    Clock,
    LifecycleStore,
    Notifier,
    ProtectionStore,
    RestoreRequestStore,
    ScanStore,
    TokenStore,
)


def cli_actor(name: str | None = None) -> str:
    """How a person at the terminal appears in the audit trail: ``cli:<name or login>``."""
    if name:
        return f"cli:{name}"
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:unknown"


def worker_id() -> str:
    """Unique per process, even when a restarted container keeps its host name."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one database: scans, the lifecycle, chat (tokens, protections) and restore requests."""

    scans: ScanStore
    lifecycle: LifecycleStore
    tokens: TokenStore
    protections: ProtectionStore
    restores: RestoreRequestStore


def stores(database_url: str) -> Stores:
    """Open (and migrate) the database at ``database_url``."""
    scans, lifecycle = open_stores(database_url)
    chat = SqlChatStore(lifecycle)
    return Stores(scans, lifecycle, chat, chat, SqlRestoreStore(lifecycle))


def atlassian_config(settings: Settings, org_override: str | None) -> AtlassianConfig:
    """The Atlassian client settings from the environment (raises naming what is missing)."""
    org_id, api_key = settings.require_atlassian(org_override)
    return AtlassianConfig(
        org_id=org_id,
        api_key=api_key,
        base_url=settings.atlassian_api_base,
        directory_id=settings.atlassian_directory_id,
        requests_per_second=settings.atlassian_requests_per_second,
        max_attempts=settings.atlassian_max_attempts,
    )


@asynccontextmanager
async def open_engine(
    config: AtlassianConfig,
    db: Stores,
    *,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Engine]:
    """An engine over the real Atlassian client; the client closes on exit."""
    async with open_directory(config) as directory:
        yield Engine(
            directory,
            db.scans,
            db.lifecycle,
            notifier or ConsoleNotifier(),
            clock or SystemClock(),
            worker_id=worker_id(),
        )


def run_csv_path(policy: Policy, run_folder: Path | None, org_id: str, stamp: str) -> Path:
    """Where a run's CSV goes: ``--csv``, else the policy's report folder, else ./reports."""
    folder = run_folder or Path(policy.lifecycle.report_folder or "reports")
    return folder / f"jira-cleanup-run-{org_id}-{stamp}.csv"


async def run_once(
    engine: Engine,
    policy: Policy,
    *,
    requested_by: str,
    csv_path: Path,
    dry_run: bool = False,
    progress: ProgressSink | None = None,
) -> tuple[RunReport, Path]:
    """Scan (writing the run CSV), then carry the lifecycle one step forward."""
    effective = replace(policy, mode=Mode.DRY_RUN) if dry_run else policy
    scan, path = await scan_to_csv(
        engine.directory, engine.scans, effective, csv_path=csv_path, clock=engine.clock, progress=progress
    )
    report = await engine.run(effective, requested_by=requested_by, scan=scan)
    return report, path


class SharedEngine:
    """ChatOps' ``open_engine`` over the one engine ``serve`` opens (bound once it exists).

    The engine needs the Slack notifier and ChatOps needs the engine, so ``serve`` builds the
    Slack surface first and binds the engine afterwards; using it before raises ``RuntimeError``.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Engine]:
        if self.engine is None:
            raise RuntimeError("the engine is not open yet")
        yield self.engine
