"""PNG plots of the benchmark suite's results (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_all(results: dict[str, Any], out: Path) -> list[Path]:
    """Write a plot for each figure present in ``results``; return the files written."""
    import matplotlib

    matplotlib.use("Agg")
    figures = results["figures"]
    written = []
    for name, draw in (
        ("scan_vs_naive", _scan),
        ("chat_latency", _latency),
        ("replicas", _replicas),
        ("planner", _planner),
    ):
        if name in figures:
            path = out / f"{name}.png"
            draw(figures[name], path, results)
            written.append(path)
    return written


def _title(text: str, results: dict[str, Any]) -> str:
    cores = results["machine"]["cores"]
    return f"{text} ({cores} cores{', quick sizes' if results['quick'] else ''})"


def _scan(figure: dict[str, Any], path: Path, results: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    rows = figure["rows"]
    fig, (time_ax, req_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    users = [r["users"] for r in rows]
    naive = [r for r in rows if "naive_seconds" in r]
    time_ax.plot(users, [r["ours_seconds"] for r in rows], "o-", label="jira-cleanup (v2 search, 100 per page)")
    time_ax.plot(
        [r["users"] for r in naive], [r["naive_seconds"] for r in naive], "s--", label="naive per-user scanner"
    )
    time_ax.set(xlabel="users in the org", ylabel="scan time (s)", yscale="log")
    time_ax.set_title(f"scan time, {figure['latency_ms']:g} ms per request")
    time_ax.legend()
    req_ax.plot(users, [r["ours_requests_per_user"] for r in rows], "o-", label="jira-cleanup")
    req_ax.plot([r["users"] for r in naive], [r["naive_requests_per_user"] for r in naive], "s--", label="naive")
    req_ax.set(xlabel="users in the org", ylabel="HTTP requests per user", yscale="log")
    req_ax.set_title("requests per user")
    req_ax.legend()
    fig.suptitle(_title("Scanning an org", results))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency(figure: dict[str, Any], path: Path, results: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    kinds = ("p50_ms", "p99_ms", "max_ms")
    series = [
        (label + how, key + suffix)
        for suffix, how in (("", ""), ("_cold", ", new connections"))
        for label, key in (("Slack click ack", "slack_click"), ("Teams invoke", "teams_invoke"))
        if key + suffix in figure
    ]
    width = len(series) + 1
    for offset, (label, key) in enumerate(series):
        values = [figure[key][k] for k in kinds]
        ax.bar([i * width + offset for i in range(3)], values, width=0.9, label=label)
    ax.set_xticks([i * width + (len(series) - 1) / 2 for i in range(3)], ["p50", "p99", "max"])
    ax.set(ylabel="ms")
    ax.set_title(_title(f"{figure['concurrent']} concurrent clicks", results))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _replicas(figure: dict[str, Any], path: Path, results: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(["1 replica", "3 replicas"], [figure["one_seconds"], figure["three_seconds"]], color=["#888", "#36c"])
    ax.set(ylabel="seconds until every org's run finished")
    ax.set_title(_title(f"{figure['orgs']} orgs, speed-up {figure['speedup']:.2f}x", results))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _planner(figure: dict[str, Any], path: Path, results: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    rows = figure["rows"]
    ax.bar([f"{r['accounts']:,}" for r in rows], [r["per_second"] for r in rows], color="#3a3")
    ax.axhline(200_000, color="red", linestyle="--", label="target 200,000/s")
    ax.set(xlabel="accounts planned", ylabel="accounts per second (one core)")
    ax.set_title(_title("Planner", results))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
