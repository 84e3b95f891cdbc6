"""The chat use cases (:mod:`core.chatops`) wired to the bot's scan-and-run job.

Everything platform-neutral lives in core; this module only supplies the run job that scans
to the run CSV and carries the lifecycle one step (:func:`bot.lifecycle.run_once`), which
needs the bot's CSV writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.lifecycle import run_csv_path, run_once
from core.chatops import AdminPoster, Admins, ClickResult, Reply, Respond, RunJob
from core.chatops import ChatOps as CoreChatOps
from core.engine import RunReport
from core.policy import Policy

__all__ = ["AdminPoster", "Admins", "ChatOps", "ClickResult", "Reply", "Respond", "scan_and_run"]


def scan_and_run(ops: CoreChatOps) -> RunJob:
    """The run job for ``ops``: scan to a stamped CSV in its report folder, then run once."""

    async def job(policy: Policy, requested_by: str, dry_run: bool) -> tuple[RunReport, Path | None]:
        stamp = ops.clock.now().strftime("%Y%m%dT%H%M%SZ")
        path = run_csv_path(policy, ops.report_folder, ops.org_id, stamp)
        async with ops.open_engine() as engine:
            report, written = await run_once(engine, policy, requested_by=requested_by, csv_path=path, dry_run=dry_run)
        return report, written

    return job


@dataclass
class ChatOps(CoreChatOps):
    """:class:`core.chatops.ChatOps` with the bot's scan-and-run job unless one is given."""

    def __post_init__(self) -> None:
        if self.run_job is None:
            self.run_job = scan_and_run(self)
