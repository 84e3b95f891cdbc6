"""``jira-cleanup serve``: one process, one HTTP server, one or many orgs.

Without a deployment file the process serves the org of its environment at the root paths
(``/slack/events``, ``/api/messages``, ``/email/...``), as it always did. With one
(``JIRA_CLEANUP_ORGS``, see :mod:`bot.deployment`) every org of the file (or the one ``--org``
names) is opened with its own settings and policy through the composition root, and its chat,
email-link, file and JSM endpoints live under ``/o/<name>/``: each org's Slack app, Teams bot and
JSM webhook point there, each checks only its own org's secrets and knows only its own org's
admins, engine and data. The database, the audit checkpoints and the lock session are shared.

Leadership is per org (:mod:`adapters.store.leader`): every org has its own advisory lock and
fencing epoch on the replica's one lock session, so N replicas share M orgs. Each replica tries
to lead every org it does not lead every LEADER_RETRY_SECONDS, so the orgs of a replica that
died (its session ended, Postgres freed its locks) are taken over within seconds
(LEADER_RETRY_SECONDS), and a replica leads at most its fair share of the orgs; a standby org's
scheduled run is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bot import bootstrap
from bot.compose import NO_CHANNEL, Bot, audit_checkpoints, open_bot, reaches_people, seal_audit, stores
from bot.deployment import load_deployment, settings_of
from bot.service import Service
from bot.settings import Settings, SettingsError
from core.chatops.replies import Reply
from core.engine import RunReport
from core.policy import Mode, Policy

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("jira_cleanup.serving")

#: The scheduler job of the weekly digest (its own scheduler, beside the run's).
DIGEST_JOB_ID = "jira-cleanup-digest"


@dataclass(frozen=True, slots=True)
class Served:
    """One org as ``serve`` runs it: its settings, policy, schedule and path prefix ("" at the root)."""

    name: str
    settings: Settings
    policy: Policy
    cron: str
    prefix: str
    org_override: str | None = None


def served_orgs(base: Settings, org: str | None, policy_path: Path | None) -> list[Served]:
    """What to serve: the environment's org, or the deployment's orgs (``org``: only that one).

    Raises :class:`SettingsError` naming a bad setting or schedule.
    """
    from bot.scheduler import validate_cron
    from bot.service import DEFAULT_SCHEDULE

    if base.jira_cleanup_orgs is None:
        pol = bootstrap.resolve_policy(policy_path, base)
        chosen = [Served("", base, pol, pol.lifecycle.schedule_cron or DEFAULT_SCHEDULE, "", org)]
        where = ["lifecycle.schedule"]
    else:
        deployment = load_deployment(base.jira_cleanup_orgs)
        entries = [deployment.pick(org)] if org is not None else list(deployment.orgs)
        if policy_path is not None and len(entries) > 1:
            raise SettingsError("--policy: each org of the deployment file has its own policy (or pick one with --org)")
        chosen, where = [], []
        for entry in entries:
            settings = settings_of(base, entry)
            pol = bootstrap.resolve_policy(policy_path, settings)
            cron = entry.schedule or pol.lifecycle.schedule_cron or DEFAULT_SCHEDULE
            chosen.append(Served(entry.name, settings, pol, cron, entry.prefix))
            where.append(f"orgs.{entry.name}.schedule" if entry.schedule else f"{entry.name}: lifecycle.schedule")
    for served, setting in zip(chosen, where, strict=True):
        try:
            validate_cron(served.cron)
        except ValueError as exc:
            raise SettingsError(f"{setting}: {exc}") from None
        digest = served.policy.lifecycle.digest_cron
        try:
            if digest is not None:
                validate_cron(digest)
        except ValueError as exc:
            raise SettingsError(f"{served.name + ': ' if served.name else ''}lifecycle.digest: {exc}") from None
        if served.policy.mode is Mode.ENFORCE and not reaches_people(served.settings):
            raise SettingsError(f"orgs.{served.name}: {NO_CHANNEL}" if served.name else NO_CHANNEL)
    return chosen


async def serve_orgs(
    base: Settings, orgs: Sequence[Served], host: str, port: int, say: Callable[[str], object]
) -> None:
    """Open every org over one database and serve them until SIGINT or SIGTERM."""
    db = stores(base.database_url)
    checkpoints = audit_checkpoints(base)
    async with AsyncExitStack() as stack:
        stack.callback(db.close)
        bots: list[tuple[Served, Bot]] = []
        for served in orgs:
            opened = open_bot(
                served.settings, served.policy, org_id=served.org_override, acts=True, db=db, checkpoints=checkpoints
            )
            bots.append((served, await stack.enter_async_context(opened)))
        await _serve(base, bots, host, port, say)


async def _serve(
    base: Settings, bots: Sequence[tuple[Served, Bot]], host: str, port: int, say: Callable[[str], object]
) -> None:
    from adapters.store.leader import leader_for
    from bot.scheduler import build_scheduler, next_runs, run_now, stop_scheduler
    from bot.server import build_app
    from bot.server import serve as serve_http
    from bot.service import wait_for_signal

    first = leader_for(base.database_url, leader_url=base.leader_database_url)
    fleet = Fleet([], every=base.leader_retry_seconds)
    schedulers, digests = [], []
    for index, (served, bot) in enumerate(bots):
        leader = first if index == 0 else first.sibling()
        service = Service(bot.require_engine(), served.policy, bot.org_id, bot.db, leader=leader)
        fleet.services.append((served.name, service))
        scheduler = build_scheduler(served.cron, _job(service, bot))  # a scheduler per org
        schedulers.append(scheduler)
        bot.chatops.next_run = _next_fire(scheduler)
        if served.policy.lifecycle.digest_cron is not None:
            digest = _digest_job(service, bot)
            digests.append(build_scheduler(served.policy.lifecycle.digest_cron, digest, job_id=DIGEST_JOB_ID))
    await fleet.lead()
    token = base.status_token.get_secret_value() if base.status_token is not None else ""
    app = build_app(
        health=fleet.health, metrics=fleet.metrics, limiter=bots[0][1].surfaces.chat_limiter, status_token=token
    )
    for served, bot in bots:
        _mount(app, served.prefix, bot)
    runner, url = await serve_http(app, host, port)
    for scheduler in schedulers + digests:
        scheduler.start()

    # `kill -USR1 <pid>`: run every org's scheduled job now, through its scheduler (an operator's "run now").
    def run_all_now() -> None:
        for scheduler in schedulers:
            run_now(scheduler)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, run_all_now)
    leading = asyncio.create_task(fleet.keep_leading())
    for _served, bot in bots:
        await bot.surfaces.start()
    say(_banner(url, bots, next_runs))
    try:
        await wait_for_signal()
    finally:
        leading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leading
        for scheduler in schedulers + digests:
            await stop_scheduler(scheduler)
        await runner.cleanup()
        fleet.release()


def _job(service: Service, bot: Bot) -> Callable[[], Awaitable[None]]:
    async def scheduled() -> None:
        report = await service.scheduled_run()
        if service.role == "leader":
            await bot.surfaces.housekeeping()
            if report is not None:
                await _post_chart(bot, report)
        await seal_audit(bot.checkpoints, bot.db)

    return scheduled


def _next_fire(scheduler: AsyncIOScheduler) -> Callable[[], datetime | None]:
    """When the scheduled run fires next (for the admin home)."""
    from bot.scheduler import DEFAULT_JOB_ID

    def when() -> datetime | None:
        job = scheduler.get_job(DEFAULT_JOB_ID)
        fire = getattr(job, "next_run_time", None) if job is not None else None
        return fire if isinstance(fire, datetime) else None

    return when


async def _post_chart(bot: Bot, report: RunReport) -> None:
    """After a scheduled run: the report chart, beside the run CSV, posted to every admin channel."""
    try:
        path = await bot.draw_chart()
    except Exception:
        log.exception("could not draw the chart after run %s", report.run_id)
        return
    text = f"Run {report.run_id[:12]} ({report.status.value}): accounts by inactivity, seats freed, the last 30 days."
    await bot.chatops.post_to_admins(Reply(text, title="After the scheduled run", file=path, public=True))


def _digest_job(service: Service, bot: Bot) -> Callable[[], Awaitable[None]]:
    async def digest() -> None:
        await service.digest(bot.chatops.post_to_admins)

    return digest


def _mount(app: web.Application, prefix: str, bot: Bot) -> None:
    """The org's endpoints: at the root, or in a sub-application under its prefix."""
    if not prefix:
        bot.surfaces.mount(app)
        return
    from bot.server import ROUTES

    sub = web.Application(client_max_size=app._client_max_size)
    sub[ROUTES] = []
    bot.surfaces.mount(sub)
    app.add_subapp(prefix, sub)
    app[ROUTES].extend((method, f"{prefix}{path}") for method, path in sub[ROUTES])


def _banner(url: str, bots: Sequence[tuple[Served, Bot]], next_runs: Callable[..., list[datetime]]) -> str:
    now = datetime.now(UTC)
    parts = []
    for served, bot in bots:
        at = f"{url}{served.prefix}" if served.prefix else url
        surfaces = "; ".join(bot.surfaces.names) or "no chat, email or JSM surface configured"
        label = f"org {served.name} ({bot.org_id}) at {at}: " if served.name else ""
        parts.append(
            f"{label}schedule '{served.cron}' UTC, next run {next_runs(served.cron, now, 1)[0]:%Y-%m-%d %H:%M} UTC; "
            f"{surfaces}"
        )
    return f"jira-cleanup serving on {url} (health: {url}/healthz); " + " | ".join(parts)


@dataclass
class Fleet:
    """The services of every org this process serves: leadership, health and metrics for all of them."""

    services: list[tuple[str, Service]]
    #: Seconds between two rounds of :meth:`lead` (LEADER_RETRY_SECONDS).
    every: float = 5.0
    #: Orders the orgs this replica tries to lead (see :meth:`_standby_order`).
    seed: int = field(default_factory=lambda: random.randrange(2**32))

    async def lead(self) -> None:
        """Keep the orgs this replica leads and take free ones, up to its fair share.

        The fair share is the number of orgs divided by the live replicas serving the same orgs
        (:meth:`~core.ports.LeaderLock.replicas`), rounded up: a replica that started first gives
        its excess orgs up (between runs) as others start, and takes a dead replica's orgs when
        fewer replicas are left. Replicas serving other sets of orgs (``serve --org``) are not
        counted, so every org always has a replica trying to lead it. A failure for one org
        never stops the others.
        """
        if not self.services:
            return
        first = self.services[0][1].leader
        group = ",".join(sorted(service.org_id for _name, service in self.services))
        try:
            live = await asyncio.to_thread(first.replicas, group) if first is not None else 1
        except Exception:
            log.exception("counting the replicas failed; trying again in %.0fs", self.every)
            return
        fair = -(-len(self.services) // max(1, live))
        leading = [s for _n, s in self.services if s.engine.epoch is not None and await self._lead(s)]
        for service in leading[fair:]:
            await service.step_down()
        count = min(len(leading), fair)
        for _name, service in self._standby_order():
            if count >= fair:
                break
            if service.engine.epoch is None and await self._lead(service):
                count += 1

    async def _lead(self, service: Service) -> bool:
        try:
            return await service.lead()
        except Exception:
            log.exception("leading org %s failed; trying again in %.0fs", service.org_id, self.every)
            return False

    def _standby_order(self) -> list[tuple[str, Service]]:
        """The orgs in an order of this replica's own, so starting replicas do not all want the same org first."""
        order = list(self.services)
        random.Random(self.seed).shuffle(order)
        return order

    async def keep_leading(self) -> None:
        """Lead again every :attr:`every` seconds (take over a dead replica's orgs, share with new ones)."""
        while True:
            await asyncio.sleep(self.every)
            await self.lead()

    def release(self) -> None:
        """Give every org up (the next replica takes them over at once)."""
        for _name, service in self.services:
            if service.leader is not None:
                service.leader.release()

    async def health(self) -> Mapping[str, object]:
        """One org: its health as before. Several: each org's health by name, and this replica's role."""
        each = {}
        for name, service in self.services:
            each[name] = await service.health()
        if len(each) == 1:
            return next(iter(each.values()))
        roles = {str(h.get("role")) for h in each.values()}
        return {"role": "leader" if "leader" in roles else "standby", "orgs": each}

    async def metrics(self) -> Mapping[str, float]:
        """One org: its metrics. Several: the sums, plus each org's figures suffixed with its name."""
        totals: dict[str, float] = {}
        for name, service in self.services:
            figures = await service.metrics()
            for key, value in figures.items():
                totals[key] = totals.get(key, 0.0) + value
                if len(self.services) > 1:
                    totals[f"{key}_{name.replace('-', '_')}"] = value
            if len(self.services) > 1:
                totals[f"leading_{name.replace('-', '_')}"] = 1.0 if service.role == "leader" else 0.0
        return totals
