"""Shared helpers for command-line tests: real processes, a real sandbox process."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = [sys.executable, "-m", "bot.cli"]
SAMPLE = ROOT / "bot" / "sample_policy.yml"


def clean_env(**extra):
    """The environment of a CLI process: this checkout's code first (whatever the process's folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLASSIAN_", "DATABASE_URL", "JIRA_CLEANUP"))}
    # The processes import this checkout's code whatever their working directory (a relative
    # PYTHONPATH would point into the test's temporary folder and fall back to the installed copy).
    path = [str(ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.isabs(p))]
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(path), **extra})
    return env


def run(*args, cwd, env=None, timeout=120):
    return subprocess.run(
        [*EXE, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, strict=True))


@pytest.fixture
def sandbox_process(tmp_path):
    """`jira-cleanup sandbox --port 0` as a real process; yields the variables it tells us to export."""
    with subprocess.Popen(
        [*EXE, "sandbox", "--users", "300", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            found = {}
            assert proc.stdout is not None
            for line in proc.stdout:
                m = re.search(r"export (ATLASSIAN_\w+)=(\S+)", line)
                if m:
                    found[m.group(1)] = m.group(2)
                if len(found) == 3:
                    break
            assert len(found) == 3, "the sandbox did not print its address"
            yield found
        finally:
            proc.terminate()
            proc.wait(timeout=20)
