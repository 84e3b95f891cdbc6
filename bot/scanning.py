"""The scan command's shell: wire directory + store + policy, write the CSV, report progress."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Protocol

from core.clock import SystemClock
from core.model import Account, Org
from core.planner import Decision
from core.policy import Policy
from core.ports import Clock, DirectoryReader, OpenCaseReader, ProtectionStore, ScanStore
from core.report import PreviewCsv
from core.usecases import ScanResult, scan_and_plan


def default_csv_path(org_id: str, when: datetime, folder: Path | None = None) -> Path:
    """``./jira-cleanup-preview-<org>-<UTC timestamp>.csv``."""
    safe_org = "".join(c if c.isalnum() or c in "-_" else "_" for c in org_id)[:40]
    return (folder or Path.cwd()) / f"jira-cleanup-preview-{safe_org}-{when:%Y%m%dT%H%M%SZ}.csv"


async def scan_to_csv(
    directory: DirectoryReader,
    store: ScanStore,
    policy: Policy,
    *,
    csv_path: Path | None,
    clock: Clock | None = None,
    progress: ProgressSink | None = None,
    protections: ProtectionStore | None = None,
    cases: OpenCaseReader | None = None,
) -> tuple[ScanResult, Path]:
    """Scan and plan, streaming the preview CSV to disk.

    The CSV is written to ``<path>.partial`` and renamed only when the scan completes, so a
    failed scan never leaves a file that looks complete. ``cases`` (the lifecycle store) lets the
    scan reuse the API-token evidence of delivered warnings (:func:`core.usecases.scan_and_plan`).
    """
    clock = clock or SystemClock()
    org = await directory.describe_org()
    progress = progress or NoProgress()
    progress.set_total(await directory.count_accounts())
    target = csv_path if csv_path is not None else default_csv_path(org.org_id, clock.now())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            writer = PreviewCsv(stream)

            def write(org: Org, account: Account, decisions: tuple[Decision, ...]) -> None:
                writer.write(org.org_id, account, decisions)

            result = await scan_and_plan(
                directory,
                store,
                policy,
                clock,
                on_decisions=write,
                on_progress=progress.update,
                protections=protections,
                cases=cases,
            )
        partial.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return result, target


class ProgressSink(Protocol):
    """Where a scan reports progress (the CLI's progress bar)."""

    def set_total(self, total: int | None) -> None:
        """The number of accounts expected, when known."""

    def update(self, done: int) -> None:
        """Accounts scanned so far."""


class NoProgress:
    """A sink that ignores progress."""

    def set_total(self, total: int | None) -> None:
        """Ignore the total."""

    def update(self, done: int) -> None:
        """Ignore progress."""
