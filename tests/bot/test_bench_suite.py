"""The benchmark suite's smoke test: ``python -m tests.bench all --quick`` runs every figure and writes
its JSON and plots. Nothing about time is asserted (timing lives in the benchmarks themselves)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.postgres  # the replica figure runs serve replicas on PostgreSQL

FIGURES = {"scan_vs_naive", "scan_rate", "scan_large", "planner", "chat_latency", "executor", "replicas"}


def test_quick_suite_runs_every_figure_and_writes_json_and_plots(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench", "all", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert set(results["figures"]) == FIGURES
    figures = results["figures"]
    for row in figures["scan_vs_naive"]["rows"]:
        assert row["ours_requests_per_user"] < row["naive_requests_per_user"]  # pages of 100 vs one call per user
        assert row["naive_requests_per_user"] >= 1
    assert figures["scan_large"]["requests_per_user"] > 0
    assert figures["scan_rate"]["requests"] >= 1
    assert figures["planner"]["rows"][0]["per_second"] > 0
    for kind in ("slack_click", "teams_invoke"):
        assert 0 < figures["chat_latency"][kind]["p50_ms"] <= figures["chat_latency"][kind]["max_ms"]
    executor = figures["executor"]
    assert executor["accounts_suspended_once"] == executor["actions"]  # exactly once, even at quick sizes
    assert executor["accounts_suspended_twice_or_more"] == 0
    assert figures["replicas"]["one_seconds"] > 0
    assert figures["replicas"]["three_seconds"] > 0
    for name in ("scan_vs_naive", "chat_latency", "replicas", "planner"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
