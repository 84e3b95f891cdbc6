"""Lifecycle commands: run, status, pause/resume, approve/deny, protect, restore, audit, serve.

Every command gets its parts from the composition root (:mod:`bot.compose`): a command that
may act opens the whole bot (:func:`~bot.compose.open_bot`) with every configured channel, so
``jira-cleanup run`` from cron warns people and asks the admins exactly as ``serve`` does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy import exc as sa_errors

from adapters.store import create_lifecycle_store, mask_url
from adapters.store.audit_archive import archive_audit
from adapters.store.checkpoint import CheckpointError, CheckpointFile
from bot import bootstrap
from bot.compose import Bot, audit_checkpoints, open_bot, stores
from bot.deployment import org_settings
from bot.exports import (
    export_audit,
    export_audit_before,
    export_keep_review,
    export_run,
    export_undo,
    undo_csv_path,
)
from bot.lifecycle import cli_actor, run_csv_path, run_once
from bot.render import counts_text, requests_table, run_table, runs_table, savings_table, transcript_text
from bot.settings import Settings, SettingsError, load_settings
from core.audit import Anchor, ChainReport, Checkpoint, verify_against_checkpoints, verify_org_chain
from core.chat import Actor
from core.chatops import KeepApprovals
from core.clock import SystemClock
from core.digest import digest_reply, load_digest
from core.engine import deny_run, is_undo, set_paused, tell_denied, undo_lines
from core.engine.undo import UNDO_SUFFIX, lines_text
from core.keep_review import load_keep_review, review_line
from core.policy import Policy
from core.ports import LifecycleStore
from core.protection import set_protection
from core.savings import realised_savings
from core.threads import ThreadKey, run_thread, stored_approval_ref

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")
audit_app = typer.Typer(help="Verify and export the audit trail.", no_args_is_help=True)

AsOption = Annotated[str | None, typer.Option("--as", help="Your name in the audit trail (default: your login).")]
OrgOption = Annotated[str | None, typer.Option("--org", help="Org id (default: $ATLASSIAN_ORG_ID).")]
PolicyOption = Annotated[Path | None, typer.Option(help="Policy file (default: $JIRA_CLEANUP_POLICY).")]


def register(app: typer.Typer, fail: Callable[[str], typer.Exit], run: Callable[..., T], console: object) -> None:
    """Add the lifecycle commands to ``app``."""
    cli = _Cli(fail, run, console)  # type: ignore[arg-type]
    for commands in (
        _commands_0,
        _commands_1,
        _commands_2,
        _commands_3,
        _commands_4,
        _commands_5,
        _commands_6,
        _commands_7,
        _commands_keep,
        _commands_undo,
    ):
        commands(app, cli)
    app.add_typer(audit_app, name="audit")


class _Cli:
    """What every lifecycle command shares: failing with a message, running async work, the console."""

    def __init__(self, fail: Callable[[str], typer.Exit], run: Callable[..., Any], out: Console) -> None:
        self.fail = fail
        self.run = run
        self.out = out

    def process_settings(self) -> Settings:
        """The environment's settings, before any org of a deployment file is picked."""
        try:
            return load_settings()
        except SettingsError as exc:
            raise self.fail(str(exc)) from None

    def settings(self, org: str | None = None) -> Settings:
        """The settings of ``org`` (``--org``): the environment's, or the org's own with a deployment file."""
        try:
            return org_settings(self.process_settings(), org)
        except SettingsError as exc:
            raise self.fail(str(exc)) from None

    def org_of(self, s: Settings, org: str | None) -> str:
        chosen = s.org_for(org)
        if not chosen:
            raise self.fail("missing ATLASSIAN_ORG_ID (or --org)")
        return chosen

    def policy_or_default(self, path: Path | None, s: Settings) -> Policy:
        """The policy when one is given; commands that never act work without one."""
        if path is None and s.jira_cleanup_policy is None:
            return Policy(rules=())
        return bootstrap.resolve_policy(path, s)

    def after_change(
        self,
        s: Settings,
        lifecycle: LifecycleStore,
        org_id: str,
        text: str,
        *,
        thread: ThreadKey | None = None,
        decided: Callable[[Bot], Awaitable[None]] | None = None,
    ) -> None:
        """After a change made from the terminal: checkpoint the audit chain, then tell the admins (best effort).

        ``decided`` updates the request's admin threads; ``thread`` keeps ``text`` out of them.
        """
        try:
            audit_checkpoints(s).seal(lifecycle)
        except (SettingsError, CheckpointError, OSError) as exc:
            self.out.print(f"[bold red]The audit checkpoint could not be written: {exc}[/]")
        pol = self.policy_or_default(None, s)

        async def go() -> None:
            async with open_bot(s, pol, org_id=org_id, atlassian=False) as bot:
                if decided is not None:
                    await decided(bot)
                await bot.tell_admins(text, thread=thread)

        try:
            self.run(go, api_base=s.atlassian_api_base)
        except (typer.Exit, Exception) as exc:
            self.out.print(f"[yellow]The admins could not be told in chat ({type(exc).__name__}).[/]")

    def verified_audit(
        self, s: Settings, lifecycle: LifecycleStore
    ) -> tuple[ChainReport, CheckpointFile, list[Checkpoint], Anchor | None]:
        """The chain checked against its checkpoints from its anchor; unusable or missing checkpoints fail loudly."""
        try:
            checkpoints = audit_checkpoints(s)
            marks = checkpoints.read()
        except (SettingsError, CheckpointError) as exc:
            raise self.fail(f"audit checkpoints unusable: {exc}") from None
        head = lifecycle.audit_head()
        if head is not None and not marks:
            raise self.fail(
                f"no audit checkpoint at {checkpoints.path} although the chain has {head.seq:,} rows: the file was "
                "removed, or AUDIT_CHECKPOINT_FILE points elsewhere"
            )
        anchor = lifecycle.audit_anchor()
        report = verify_against_checkpoints(lifecycle.iter_audit(), marks, checkpoints.key, start=anchor)
        return report, checkpoints, marks, anchor

    def undo_report(self, bot: Bot, policy: Policy, undo_id: str) -> None:
        """After an undo was approved: every account it could not restore and why, and its CSV."""
        run_id = undo_id.removesuffix(UNDO_SUFFIX)
        lines = undo_lines(bot.db.lifecycle, run_id, bot.clock.now())
        path = undo_csv_path(Path(policy.lifecycle.report_folder or "reports"), bot.org_id, run_id)
        export_undo(lines, path)
        for line in lines_text(lines):
            self.out.print(line, markup=False, highlight=False)
        self.out.print(f"Undo CSV: {path}")

    def verify_org_audit(self, s: Settings, lifecycle: LifecycleStore) -> None:
        """Check one org's own chain (its rows only: what an auditor of that org can be given)."""
        org_id = self.org_of(s, None)
        report = verify_org_chain(lifecycle.iter_audit(org_id=org_id), org_id)
        if not report.ok:
            raise self.fail(f"audit chain of org {org_id} broken: {report.problem} ({report.checked} rows before it)")
        self.out.print(f"[green]OK[/] audit chain of org {org_id} intact: {report.checked:,} events verified.")


def _commands_0(app: typer.Typer, cli: _Cli) -> None:
    """Register run, status and the kill switch."""

    @app.command("run")
    def run_command(
        policy: PolicyOption = None,
        csv: Annotated[Path | None, typer.Option("--csv", help="Where to write this run's CSV.")] = None,
        org: OrgOption = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Preview only, whatever the policy's mode.")] = False,
        as_: AsOption = None,
    ) -> None:
        """Scan, then warn, act, delete and restore as the policy says (dry run unless mode: enforce)."""
        s = cli.settings(org)

        async def go() -> None:
            pol = bootstrap.resolve_policy(policy, s)
            async with open_bot(s, pol, org_id=org, acts=not dry_run) as bot:
                path = csv or run_csv_path(pol, None, bot.org_id, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
                report, written = await run_once(
                    bot.require_engine(), pol, requested_by=cli_actor(as_), csv_path=path, dry_run=dry_run
                )
                if not dry_run:  # as serve's scheduler does: settle queued restores, retell requesters
                    await bot.surfaces.housekeeping()
            cli.out.print(run_table(report))
            if bot.preview.counts:
                cli.out.print(transcript_text(bot.preview), markup=False, highlight=False)
            cli.out.print(f"Run CSV: {written}")

        cli.run(go, api_base=s.atlassian_api_base)

    @app.command()
    def status(org: OrgOption = None) -> None:
        """Recent runs, open warnings, held approvals and whether the kill switch is on."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        db = stores(s.database_url)
        paused = db.lifecycle.is_paused(org_id)
        cases = db.lifecycle.open_cases(org_id)
        by_state: dict[str, int] = {}
        for case in cases.values():
            by_state[case.state.value] = by_state.get(case.state.value, 0) + 1
        cli.out.print(runs_table(db.lifecycle.recent_runs(org_id, 10)))
        cli.out.print("Open cases: " + (", ".join(f"{k} {v}" for k, v in sorted(by_state.items())) or "none"))
        cli.out.print("Kill switch: " + ("[bold red]ON — nothing will be changed[/]" if paused else "off"))

    @app.command()
    def pause(
        org: OrgOption = None,
        reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
        as_: AsOption = None,
    ) -> None:
        """Kill switch: stop every write at once, including a run in progress."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        # The switch itself needs nothing but the database: chat being down never delays it.
        lifecycle = stores(s.database_url).lifecycle
        set_paused(lifecycle, SystemClock(), org_id, True, cli_actor(as_), reason)
        cli.out.print(f"Paused: no changes will be made in org {org_id} until 'jira-cleanup resume'.")
        why = f": {reason}" if reason else ""
        cli.after_change(s, lifecycle, org_id, f"Kill switch ON, set by {cli_actor(as_)}{why}.")


def _commands_1(app: typer.Typer, cli: _Cli) -> None:
    """Register resume and restore requests."""

    @app.command()
    def resume(org: OrgOption = None, as_: AsOption = None) -> None:
        """Turn the kill switch off; pending actions continue on the next run."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        lifecycle = stores(s.database_url).lifecycle
        set_paused(lifecycle, SystemClock(), org_id, False, cli_actor(as_))
        cli.out.print(f"Resumed org {org_id}.")
        cli.after_change(s, lifecycle, org_id, f"Kill switch off, resumed by {cli_actor(as_)}.")

    @app.command()
    def requests(org: OrgOption = None) -> None:
        """Self-service restore requests waiting for an admin (from Slack, Teams, email or JSM)."""
        s = cli.settings(org)
        cli.out.print(requests_table(stores(s.database_url).restores.pending_requests(cli.org_of(s, org))))

    @app.command("decide-restore")
    def decide_restore(
        request_id: str,
        approve_it: Annotated[bool, typer.Option("--approve/--deny", help="Restore the access, or decline.")],
        reason: Annotated[str, typer.Option(help="Why (told to the requester on a denial).")] = "",
        policy: PolicyOption = None,
        org: OrgOption = None,
        as_: AsOption = None,
    ) -> None:
        """Approve or deny a restore request; the requester hears back where they asked (email, JSM)."""

        async def take(bot: Bot, actor: Actor) -> tuple[Any, str]:
            decided = await bot.chatops.desk.decide(request_id, approve_it, actor, reason)
            return decided, "" if decided.told else " (the requester could not be told automatically)"

        _decide(cli, request_id, take, policy=policy, org=org, as_=as_)


def _commands_2(app: typer.Typer, cli: _Cli) -> None:
    """Register deny and restore."""

    @app.command()
    def deny(
        run_id: str,
        reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
        as_: AsOption = None,
    ) -> None:
        """Drop the actions a run held for approval; nothing changes in Atlassian."""
        s = cli.process_settings()
        db = stores(s.database_url)
        lifecycle = db.lifecycle
        try:
            ref = stored_approval_ref(db.threads, lifecycle.get_run(run_id).org_id, run_id, cli_actor(as_))
            deny_run(lifecycle, SystemClock(), run_id, cli_actor(as_), reason, approval_ref=ref)
        except (ValueError, LookupError) as exc:
            raise cli.fail(f"cannot deny run {run_id}: {exc}") from None
        cli.out.print(f"Denied run {run_id}: its held actions were dropped.")
        why = f": {reason}" if reason else ""
        org_id = lifecycle.get_run(run_id).org_id
        text = f"Run {run_id} denied by {cli_actor(as_)}{why}."

        async def decided(bot: Bot) -> None:
            await tell_denied(bot.chatops.threads, org_id, run_id, cli_actor(as_), reason)

        cli.after_change(cli.settings(org_id), lifecycle, org_id, text, thread=run_thread(run_id), decided=decided)

    @app.command()
    def restore(
        account_id: Annotated[str, typer.Argument(help="The Atlassian account id to restore.")],
        reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
        policy: PolicyOption = None,
        org: OrgOption = None,
        as_: AsOption = None,
    ) -> None:
        """Undo what jira-cleanup did to an account (re-add groups, unsuspend, re-activate, cancel deletion)."""
        s = cli.settings(org)

        async def go() -> None:
            pol = bootstrap.resolve_policy(policy, s)
            async with open_bot(s, pol, org_id=org) as bot:
                result = await bot.require_engine().restore(bot.org_id, account_id, cli_actor(as_), pol, reason=reason)
            if not result.accepted:
                raise cli.fail(f"cannot restore {account_id}: {result.reason}")
            cli.out.print(f"{account_id}: {result.reason}.")

        cli.run(go, api_base=s.atlassian_api_base)


def _commands_3(app: typer.Typer, cli: _Cli) -> None:
    """Register protections and the server."""

    @app.command()
    def protect(
        target: Annotated[str, typer.Argument(help="Account id or email; with --group, a group name or id.")],
        group: Annotated[bool, typer.Option("--group", help="Protect a whole group.")] = False,
        remove: Annotated[bool, typer.Option("--remove", help="Take the protection away again.")] = False,
        org: OrgOption = None,
        as_: AsOption = None,
    ) -> None:
        """Never warn or change an account (or a group's members); open warnings are withdrawn at once."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        db = stores(s.database_url)
        try:
            result = set_protection(
                db.protections,
                db.lifecycle,
                db.scans,
                SystemClock(),
                org_id,
                "group" if group else "account",
                target,
                not remove,
                cli_actor(as_),
            )
        except ValueError as exc:
            raise cli.fail(str(exc)) from None
        cli.out.print(result.text)
        cli.after_change(s, db.lifecycle, org_id, f"{result.text} (by {cli_actor(as_)})")

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface for the HTTP server.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 8080,
        policy: PolicyOption = None,
        org: OrgOption = None,
    ) -> None:
        """Run the scheduler (the policy's lifecycle.schedule, UTC) and the HTTP server until stopped.

        With a deployment file (JIRA_CLEANUP_ORGS): every org of it (or the one --org names), each
        on its own schedule with its endpoints under /o/<name>/.
        """
        s = cli.process_settings()

        async def go() -> None:
            from bot.serving import serve_orgs, served_orgs  # serve's parts load only for serve

            try:
                orgs = served_orgs(s, org, policy)
                await serve_orgs(s, orgs, host, port, cli.out.print)
            except NotImplementedError as exc:
                raise cli.fail(str(exc)) from None

        cli.run(go, api_base=s.atlassian_api_base)


def _commands_4(app: typer.Typer, cli: _Cli) -> None:
    """Register the audit trail."""

    @audit_app.command("verify")
    def audit_verify(
        org: Annotated[str | None, typer.Option("--org", help="Only this org's own chain (name or id).")] = None,
    ) -> None:
        """Check the audit hash chain and its signed checkpoints; names the first changed, deleted or missing row."""
        s = cli.process_settings()
        if org is not None:
            cli.verify_org_audit(cli.settings(org), stores(s.database_url).lifecycle)
            return
        report, _checkpoints, marks, anchor = cli.verified_audit(s, stores(s.database_url).lifecycle)
        if not report.ok:
            raise cli.fail(f"audit chain broken: {report.problem} ({report.checked} rows verified before it)")
        last = f", the last of {len(marks):,} checkpoints at row {marks[-1].seq:,}" if marks else ""
        since = f" (rows up to {anchor.seq:,} are archived)" if anchor is not None else ""
        cli.out.print(f"[green]OK[/] audit chain intact: {report.checked:,} events verified{last}{since}.")

    @audit_app.command("archive")
    def audit_archive(
        out_dir: Annotated[Path, typer.Option("--out", help="Folder for the archive CSV.")] = Path("."),
        policy: PolicyOption = None,
    ) -> None:
        """Move audit events older than the policy's audit.retention_days (>= 365) to a CSV (run as the owner)."""
        s = cli.process_settings()
        pol = cli.policy_or_default(policy, s)
        sql = create_lifecycle_store(s.database_url)
        report, checkpoints, _marks, _anchor = cli.verified_audit(s, sql)
        if not report.ok:
            raise cli.fail(f"refusing to archive a broken audit chain: {report.problem}")
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=pol.audit_retention_days)
        path = out_dir / f"jira-cleanup-audit-archive-{now:%Y%m%dT%H%M%SZ}.csv"
        last = export_audit_before(sql, path, cutoff)
        if last is None:
            cli.out.print(f"Nothing to archive: no audit event is older than {pol.audit_retention_days} days.")
            return
        try:
            removed = archive_audit(sql.engine, last, str(path), now)
        except sa_errors.DBAPIError as exc:
            path.unlink(missing_ok=True)
            raise cli.fail(f"cannot remove archived rows (run this as the tables' owner): {exc.orig}") from None
        checkpoints.seal(sql)
        cli.out.print(
            f"Archived {removed:,} audit events (up to row {last.seq:,}, older than {pol.audit_retention_days} days) "
            f"to {path}; the chain now continues from row {last.seq:,} (hash {last.hash[:16]}…)."
        )


def _commands_6(app: typer.Typer, cli: _Cli) -> None:
    """Register the audit export."""

    @audit_app.command("export")
    def audit_export(
        since: Annotated[str | None, typer.Option(help="Only events from this date (YYYY-MM-DD, UTC).")] = None,
        csv: Annotated[Path | None, typer.Option("--csv", help="Output file.")] = None,
        org: Annotated[str | None, typer.Option("--org", help="Only this org's events (name or id).")] = None,
    ) -> None:
        """Export the audit trail as CSV (RFC 4180, with each row's hash and its org chain's)."""
        s = cli.process_settings()
        org_id = None if org is None else cli.org_of(cli.settings(org), org)
        start = None
        if since is not None:
            try:
                start = datetime.fromisoformat(since).replace(tzinfo=UTC)
            except ValueError:
                raise cli.fail(f"--since: expected a date like 2026-11-01 (got {since!r})") from None
        path = csv or Path(f"jira-cleanup-audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv")
        count = export_audit(stores(s.database_url).lifecycle, path, since=start, org_id=org_id)
        cli.out.print(f"Wrote {count:,} audit events to {path}")


def _commands_5(app: typer.Typer, cli: _Cli) -> None:
    """Register savings and exports."""

    @app.command()
    def report(org: OrgOption = None, policy: PolicyOption = None) -> None:
        """Seats freed and money saved per month, per product, net of restores."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        pol = bootstrap.resolve_policy(policy, s)
        db = stores(s.database_url)
        savings = realised_savings(db.lifecycle.entries(org_id), db.scans.get_account, pol)
        cli.out.print(savings_table(savings))

    @app.command()
    def export(
        run_id: Annotated[str, typer.Option("--run", help="The run (scan) id, as shown by 'status'.")],
        csv: Annotated[Path | None, typer.Option("--csv", help="Output file.")] = None,
    ) -> None:
        """Export one run's flagged accounts and what was done to them as CSV."""
        s = cli.process_settings()
        db = stores(s.database_url)
        path = csv or Path(f"jira-cleanup-run-{run_id}.csv")
        try:
            count = export_run(db.scans, db.lifecycle, run_id, path)
        except LookupError:
            raise cli.fail(f"--run: no run {run_id!r} in {mask_url(s.database_url)}") from None
        cli.out.print(f"Wrote {count:,} rows to {path}")


def _commands_7(app: typer.Typer, cli: _Cli) -> None:
    """Register the keep review."""

    @app.command()
    def keeps(
        org: OrgOption = None,
        policy: PolicyOption = None,
        csv: Annotated[Path | None, typer.Option("--csv", help="Also write every account and its keeps here.")] = None,
    ) -> None:
        """Accounts that keep pressing Keep without using the product since their first keep."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        rules = cli.policy_or_default(policy, s).lifecycle.keep
        db = stores(s.database_url)
        reviews = load_keep_review(db.lifecycle, db.scans, org_id, rules, datetime.now(UTC))
        cli.out.print(
            f"{len(reviews)} accounts kept their access {rules.review_after} or more times in the last "
            f"{rules.period_days} days and have not used it since their first keep."
        )
        for who, what in map(review_line, reviews):
            cli.out.print(f"  {who}: {what}", markup=False, highlight=False)
        if csv is not None:
            cli.out.print(f"Wrote {export_keep_review(reviews, csv):,} rows to {csv}")

    @app.command()
    def digest(
        org: OrgOption = None,
        policy: PolicyOption = None,
        post: Annotated[bool, typer.Option("--post", help="Also post it to the admin channels.")] = False,
    ) -> None:
        """The past week, the coming week and anything unusual (what the weekly digest posts)."""
        s = cli.settings(org)
        org_id = cli.org_of(s, org)
        db = stores(s.database_url)
        reply = digest_reply(load_digest(db.lifecycle, db.scans, org_id, datetime.now(UTC)))
        cli.out.print(f"{reply.title}: {reply.text}", markup=False, highlight=False)
        for name, value in reply.lines:
            cli.out.print(f"  {name}: {value}", markup=False, highlight=False)
        if not post:
            return

        async def go() -> None:
            pol = cli.policy_or_default(policy, s)
            async with open_bot(s, pol, org_id=org) as bot:
                if not await bot.chatops.post_to_admins(reply):
                    raise cli.fail("the digest reached no admin channel (none configured, or none answered)")
            cli.out.print("Posted to the admin channels.")


def _commands_keep(app: typer.Typer, cli: _Cli) -> None:
    """Register decide-keep (a keep waiting for an admin past keep.approval_after)."""

    @app.command("decide-keep")
    def decide_keep(
        case_id: str,
        approve_it: Annotated[
            bool,
            typer.Option("--approve/--deny", help="Keep the access (given back if already removed), or not."),
        ],
        reason: Annotated[str, typer.Option(help="Why (told to the person on a denial).")] = "",
        policy: PolicyOption = None,
        org: OrgOption = None,
        as_: AsOption = None,
    ) -> None:
        """Decide a keep waiting for an admin (the case id is in the request); the person and the threads hear."""

        async def take(bot: Bot, actor: Actor) -> tuple[Any, str]:
            keeps = KeepApprovals(bot.chatops)
            return await keeps.decide(case_id, approve_it, actor, bot.chatops.policy(), reason), ""

        _decide(cli, case_id, take, policy=policy, org=org, as_=as_)


def _decide(
    cli: _Cli,
    subject: str,
    take: Callable[[Bot, Actor], Awaitable[tuple[Any, str]]],
    *,
    policy: Path | None,
    org: str | None,
    as_: str | None,
) -> None:
    """Open the bot, take one admin decision on ``subject`` as the CLI's actor and print what came of it.

    ``take`` returns the decision (``ok``, ``text``) and a note to add to it; a refused one exits 1.
    """
    s = cli.settings(org)

    async def go() -> None:
        pol = bootstrap.resolve_policy(policy, s)
        actor = Actor("cli", "", cli_actor(as_).removeprefix("cli:"))
        async with open_bot(s, pol, org_id=org) as bot:
            done, note = await take(bot, actor)
        if not done.ok:
            raise cli.fail(f"{subject}: {done.text}")
        cli.out.print(f"{subject}: {done.text}{note}", markup=False, highlight=False)

    cli.run(go, api_base=s.atlassian_api_base)


def _commands_undo(app: typer.Typer, cli: _Cli) -> None:
    """Register approve and undo (an undo is approved like a held run)."""

    @app.command()
    def approve(run_id: str, policy: PolicyOption = None, org: OrgOption = None, as_: AsOption = None) -> None:
        """Apply exactly the actions a run held for approval (not by the person who requested the run)."""
        s = cli.settings(org)

        async def go() -> None:
            pol = bootstrap.resolve_policy(policy, s)
            async with open_bot(s, pol, org_id=org, acts=True) as bot:
                try:
                    report = await bot.require_engine().approve(run_id, cli_actor(as_), pol)
                except (ValueError, PermissionError, LookupError) as exc:
                    raise cli.fail(f"cannot approve run {run_id}: {exc}") from None
                text = f"Run {run_id} approved by {cli_actor(as_)}: {counts_text(report.counts)}."
                await bot.tell_admins(text, thread=run_thread(run_id))
                cli.out.print(run_table(report))
                if is_undo(run_id):
                    cli.undo_report(bot, pol, run_id)

        cli.run(go, api_base=s.atlassian_api_base)

    @app.command()
    def undo(
        run_id: Annotated[str, typer.Argument(help="The run whose removals to restore.")],
        policy: PolicyOption = None,
        org: OrgOption = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Show what would be restored; change nothing.")
        ] = False,
        as_: AsOption = None,
    ) -> None:
        """Restore everything a run removed, once a second admin approves (jira-cleanup approve RUN_ID-undo)."""
        s = cli.settings(org)

        async def go() -> None:
            pol = bootstrap.resolve_policy(policy, s)
            async with open_bot(s, pol, org_id=org) as bot:
                try:
                    report = await bot.require_engine().undo(run_id, cli_actor(as_), pol, dry_run=dry_run)
                except (ValueError, LookupError) as exc:
                    raise cli.fail(f"cannot undo run {run_id}: {exc}") from None
            path = undo_csv_path(Path(pol.lifecycle.report_folder or "reports"), bot.org_id, report.run_id)
            export_undo(report.lines, path)
            cli.out.print(report.text(), markup=False, highlight=False)
            cli.out.print(f"Undo CSV: {path}")

        cli.run(go, api_base=s.atlassian_api_base)
