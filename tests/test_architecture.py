"""The design card, enforced: dependencies point inward and the core stays SDK-free."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDKS = {
    "slack_bolt",
    "slack_sdk",
    "botbuilder",
    "aiohttp",
    "httpx",
    "sqlmodel",
    "sqlalchemy",
    "apscheduler",
    "alembic",
    "yaml",
    "pydantic",
    "pydantic_settings",
    "typer",
    "rich",
    "structlog",
}


def top(module: str) -> str:
    return module.split(".")[0]


def imports_of(folder: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


#: The one library core/ may use, and where: pydantic models the policy file (its fields, defaults,
#: constraints and JSON Schema). It is a modelling library, not an SDK: it talks to nothing outside.
CORE_MODELLING = {"pydantic": ROOT / "core" / "policy", "pydantic_core": ROOT / "core" / "policy"}


def allowed_in_core(path: Path, module: str) -> bool:
    home = CORE_MODELLING.get(top(module))
    return home is not None and path.is_relative_to(home)


def test_core_imports_no_sdk_and_nothing_outward():
    """core/ imports only the standard library and itself, except pydantic in core/policy/ (see CORE_MODELLING)."""
    bad = [
        (p.relative_to(ROOT), m)
        for p, m in imports_of("core")
        if top(m) in SDKS | {"pydantic_core", "adapters", "bot", "tests"} and not allowed_in_core(p, m)
    ]
    assert bad == []


def test_adapters_never_import_the_bot():
    """adapters/ may use core/ but never bot/."""
    bad = [(p.relative_to(ROOT), m) for p, m in imports_of("adapters") if top(m) in {"bot", "tests"}]
    assert bad == []


def test_sandbox_shares_nothing_with_our_client():
    """The sandbox speaks Atlassian's JSON on its own, so it can catch the client's mistakes."""
    bad = [(p.relative_to(ROOT), m) for p, m in imports_of("adapters/sandbox") if top(m) in {"core", "bot"}]
    relative = []
    for path in (ROOT / "adapters/sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                relative.append(path.relative_to(ROOT))
    assert bad == []
    assert relative == []


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "--quiet", "."],
        [sys.executable, "-m", "mypy", "--no-error-summary"],
    ],
    ids=["ruff", "mypy"],
)
def test_linters_are_clean(command):
    """ruff and mypy (strict on core/ and adapters/) report nothing."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_slack_and_teams_do_not_know_each_other():
    """The two chat platforms share core and bot.chatops, never each other's modules."""
    pairs = [("adapters/slack", "teams"), ("adapters/teams", "slack")]
    bad = []
    for folder, other in pairs:
        for path, module in imports_of(folder):
            if other in module:
                bad.append((path.relative_to(ROOT), module))
    for name, other in (
        ("bot/slack_app.py", "teams"),
        ("bot/teams_app.py", "slack"),
        ("bot/slack_render.py", "teams"),
        ("bot/teams_render.py", "slack"),
    ):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and other in node.module:
                bad.append((name, node.module))
    assert bad == []


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """`.ci/run` must run the README's second set-up command verbatim, so neither drifts."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n\s*(.+?)\n\s*```", readme)
    test_command = next(b for b in blocks if b.rstrip().endswith(".venv/bin/pytest"))
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command.strip() in [line.strip() for line in ci]


#: Domain rules and decisions that belong to core: bot/ neither defines, calls nor constructs them.
DOMAIN_RULES = frozenset(
    {
        # policy merging and protection
        "effective_policy",
        "is_protected",
        "withdraw_warnings",
        # planning, caps and lifecycle steps
        "plan",
        "decide",
        "advance",
        "transition",
        "warning_deadline",
        "op_for_action",
        "op_for_deletion",
        "judge_keep",
        # restore rules
        "restorable",
        "judge_restore",
        "domain_matches",
        # who may click what (four-eyes, single use)
        "judge_use",
        "new_token",
        "hash_token",
        "same_person",
        "actor_of_audit_id",
        # money
        "seat_products",
        "monthly_cost",
    }
)
DOMAIN_DECISIONS = frozenset({"Decision", "KeepResult", "RestoreResult", "ProtectResult", "ActionToken", "TokenUse"})
#: The chat surfaces and the chat composition: they translate and wire, nothing more.
CHAT_MODULES = (
    "bot/chatops.py",
    "bot/commands.py",
    "bot/compose.py",
    "bot/slack_app.py",
    "bot/slack_render.py",
    "bot/teams_app.py",
    "bot/teams_render.py",
    "bot/restore_channels.py",
    "bot/email_pages.py",
)


def test_bot_holds_no_domain_rules() -> None:
    """bot/ defines, imports and calls none of the named domain rules; the chat modules build no decisions."""
    bad = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        chat = str(path.relative_to(ROOT)) in CHAT_MODULES
        forbidden = DOMAIN_RULES | (DOMAIN_DECISIONS if chat else frozenset())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in DOMAIN_RULES:
                bad.append((path.relative_to(ROOT), node.lineno, f"defines {node.name}"))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("core", "adapters")):
                bad += [
                    (path.relative_to(ROOT), node.lineno, f"imports {a.name}")
                    for a in node.names
                    if a.name in DOMAIN_RULES
                ]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in forbidden:
                bad.append((path.relative_to(ROOT), node.lineno, f"calls {node.func.id}"))
    assert bad == []


def test_chat_commands_live_in_one_registry() -> None:
    """Every command the grammar accepts has exactly one registered handler, and bot/ registers none."""
    from core.chatops.commands import COMMANDS

    assert COMMANDS.names()
    assert all(callable(COMMANDS.spec(name).handler) for name in COMMANDS.names())
    for path in sorted((ROOT / "bot").rglob("*.py")):
        assert "_cmd_" not in path.read_text(encoding="utf-8"), path


def test_no_function_over_60_lines_and_no_class_over_20_methods() -> None:
    """The size rules of the README's architecture section (exceptions listed in tests/sizes.py)."""
    from tests.sizes import oversized

    assert list(oversized()) == []


def test_cli_help_lists_the_chat_commands_from_the_registry() -> None:
    """``jira-cleanup --help`` names every chat command, read from the one registry."""
    from typer.testing import CliRunner

    from bot.cli import app
    from core.chatops.commands import COMMANDS

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "; ".join(COMMANDS.names()) in " ".join(result.output.split())
