"""Running the lifecycle once (the CLI, the scheduler and chat share it), and who acts in the audit trail."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import replace
from pathlib import Path

from bot.scanning import ProgressSink, scan_to_csv
from core.engine import Engine, RunReport
from core.policy import Mode, Policy


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
    """Scan (writing the run CSV), then carry the lifecycle one step forward.

    The scan, the CSV and the run all use the effective policy (the file plus runtime protections).
    """
    effective = replace(policy, mode=Mode.DRY_RUN) if dry_run else policy
    scan, path = await scan_to_csv(
        engine.directory,
        engine.scans,
        effective,
        csv_path=csv_path,
        clock=engine.clock,
        progress=progress,
        protections=engine.protections,
        cases=engine.store,
    )
    report = await engine.run(effective, requested_by=requested_by, scan=scan)
    return report, path
