"""The ``jira-cleanup`` command line (typer + rich). Thin: parse, call, render, map errors to exit 2."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bot import bootstrap, cli_lifecycle
from bot.deployment import deployment_secrets, org_settings
from bot.render import policy_table, restore_summary, scan_report
from bot.scanning import NoProgress, ProgressSink
from bot.settings import SettingsError, load_settings
from core.chatops.commands import COMMANDS
from core.errors import AuthenticationFailed, CleanupError, DirectoryUnavailable

app = typer.Typer(
    name="jira-cleanup",
    help="Find and clean up inactive Atlassian Cloud accounts — safely, from chat.",
    epilog="Chat commands (Slack: /jira-cleanup …; Teams: message the bot): "
    + "; ".join(COMMANDS.names())
    + ". Type help in chat for their arguments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(help="Work with policy files.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

# Piped output (CI logs, files) gets a width that fits the tables instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
err_console = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _run(factory: Callable[[], Awaitable[T]], *, api_base: str | None = None) -> T:
    """Run a coroutine; turn expected failures into one clear line and exit code 2."""
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    except AuthenticationFailed as exc:
        raise _fail(f"Atlassian refused the API key ({exc}); check ATLASSIAN_API_KEY and ATLASSIAN_ORG_ID") from None
    except DirectoryUnavailable as exc:
        where = f" at {api_base}" if api_base else ""
        raise _fail(f"cannot reach the Atlassian API{where}: {exc}; check ATLASSIAN_API_BASE and the network") from None
    except CleanupError as exc:
        raise _fail(str(exc)) from None


class _Bar:
    """A rich progress bar as a ``ProgressSink``: count, users/s and ETA once the total is known."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("scan", total=None, rate=0.0)

    def set_total(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)

    def update(self, done: int) -> None:
        elapsed = self._progress.tasks[self._task].elapsed or 0.0
        self._progress.update(self._task, completed=done, rate=done / elapsed if elapsed else 0.0)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[ProgressSink]:
    if not enabled:
        yield NoProgress()
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("Scanning"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} users"),
        TextColumn("{task.fields[rate]:,.0f} users/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        yield _Bar(progress)


CsvOption = Annotated[
    Path | None, typer.Option("--csv", help="Where to write the preview CSV (default: ./jira-cleanup-preview-….csv).")
]


@app.command()
def demo(
    users: Annotated[int, typer.Option(min=1, max=200_000, help="Accounts in the simulated org.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated org.")] = 1,
    csv: CsvOption = None,
    database_url: Annotated[
        str, typer.Option(help="Where to keep scans (SQLAlchemy URL).")
    ] = "sqlite:///./jira-cleanup-demo.db",
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: the bundled sample policy).")] = None,
    preview_only: Annotated[
        bool, typer.Option("--preview-only", help="Only scan and preview; skip the simulated lifecycle.")
    ] = False,
) -> None:
    """Preview a cleanup of a simulated org, then play its whole lifecycle with a simulated clock.

    Needs no credentials: the built-in sandbox stands in for Atlassian on loopback.
    """
    from adapters.policy_file import load_policy_file
    from bot import demo as demo_module

    async def go() -> demo_module.DemoResult:
        chosen = load_policy_file(policy) if policy is not None else bootstrap.sample_policy()
        with _progress(err_console.is_terminal) as sink:
            return await demo_module.run_demo(
                users=users,
                seed=seed,
                csv_path=csv,
                database_url=database_url,
                policy=chosen,
                cycle=not preview_only,
                console=console,
                progress=sink,
            )

    result = _run(go)
    if result.audit is not None and not result.audit.ok:
        raise _fail(f"audit chain broken: {result.audit.problem}")


@app.command()
def scan(
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: $JIRA_CLEANUP_POLICY).")] = None,
    csv: CsvOption = None,
    org: Annotated[str | None, typer.Option("--org", help="Org id (default: $ATLASSIAN_ORG_ID).")] = None,
) -> None:
    """Scan a real Atlassian org read-only and preview the cleanup plan."""
    try:
        settings = org_settings(load_settings(), org)
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    result = _run(
        lambda: bootstrap.run_scan(
            settings, policy_path=policy, org_override=org, csv_path=csv, progress=_progress(err_console.is_terminal)
        ),
        api_base=settings.atlassian_api_base,
    )
    console.print(scan_report(result.scan, result.policy, str(result.csv_path)))


def _write_text(file: Path, text: str) -> None:
    """Write ``text`` to ``file`` (making its folder); a failure exits 2 naming the file."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{file}: {exc.strerror or exc}") from None


@policy_app.command("init")
def policy_init(
    file: Annotated[Path, typer.Argument(help="Where to write the sample policy.")] = Path("policy.yml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the commented sample policy (dry run, 90-day rules) to start from."""
    from importlib import resources

    if file.exists() and not force:
        raise _fail(f"{file} exists: pass --force to overwrite it")
    _write_text(file, resources.files("bot").joinpath("sample_policy.yml").read_text(encoding="utf-8"))
    console.print(f"Wrote {file}. Check it with: jira-cleanup policy check {file}")
    console.print(f"Then: export JIRA_CLEANUP_POLICY={file}")


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="The policy YAML file.")]) -> None:
    """Validate a policy file and show its rules."""
    from adapters.policy_file import load_policy_file

    try:
        loaded = load_policy_file(file)
    except CleanupError as exc:
        raise _fail(str(exc)) from None
    console.print(policy_table(loaded))
    console.print(restore_summary(loaded), markup=False)
    console.print(f"[green]OK[/] {file}: {len(loaded.rules)} rules, policy hash {loaded.policy_hash[:16]}…")


@policy_app.command("schema")
def policy_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")] = None,
) -> None:
    """Print the JSON Schema of policy files, for editors (see README, "Policy schema")."""
    import json

    from core.policy import policy_json_schema

    text = json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    _write_text(output, text)
    console.print(f"Wrote {output}. First line of a policy file: # yaml-language-server: $schema={output}")


@app.command()
def sandbox(
    users: Annotated[int, typer.Option(min=1, max=200_000, help="Accounts in the simulated org.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated org.")] = 1,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 8790,
    api_key: Annotated[str, typer.Option(help="Bearer key the sandbox accepts.")] = "sandbox-key",
) -> None:
    """Serve a simulated Atlassian org over HTTP until interrupted."""

    async def serve() -> None:
        server = await bootstrap.start_sandbox(users=users, seed=seed, host=host, port=port, api_key=api_key)
        console.print(f"Sandbox org with {users:,} users at [bold]{server.base_url}[/]")
        console.print(f"  export ATLASSIAN_API_BASE={server.base_url}")
        console.print(f"  export ATLASSIAN_ORG_ID={server.org_id}")
        console.print(f"  export ATLASSIAN_API_KEY={api_key}")
        console.print("Press Ctrl-C to stop.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    _run(serve)


@app.command("teams-package")
def teams_package(
    app_id: Annotated[str, typer.Option("--app-id", help="The bot's Microsoft App ID (GUID).")],
    domain: Annotated[str, typer.Option("--domain", help="Public host name serving /api/messages.")],
    out: Annotated[Path, typer.Option("--out", help="The zip to write.")] = Path("app.zip"),
    teams_app_id: Annotated[str | None, typer.Option(help="Teams app id (GUID; default: the app id).")] = None,
    source: Annotated[
        Path | None, typer.Option(help="Folder with manifest.json and the icons (default: teams_app/).")
    ] = None,
) -> None:
    """Build the Teams app package (manifest.json + icons) to upload in Teams admin."""
    from adapters.teams.package import build_package

    if source is None:
        from importlib import resources

        source = Path(str(resources.files("teams_app")))

    try:
        manifest = build_package(source, out, app_id=app_id, domain=domain, teams_app_id=teams_app_id)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    console.print(f"Wrote {out} (Teams app {manifest['id']}, version {manifest['version']}, bot {app_id})")


cli_lifecycle.register(app, _fail, _run, console)


def main() -> None:
    """Console-script entry point."""
    from bot.logs import configure_logging
    from core.logcontext import bound

    org = None
    try:
        settings = load_settings()
        configure_logging(settings.log_level, deployment_secrets(settings), fmt=settings.log_format)
        org = settings.atlassian_org_id
    except SettingsError:
        configure_logging()
    with bound(org=org):
        app()


if __name__ == "__main__":
    main()
