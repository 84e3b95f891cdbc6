"""Benchmark: the pure planner's throughput on synthetic accounts, one core.

    .venv/bin/python -m tests.bench.bench_planner --accounts 200000
    .venv/bin/python -m tests.bench.bench_planner --accounts 1000000 --profile

Accounts are made up front in chunks (not timed): a mix of products, last-active dates from
0 to 400 days, some never active, admins, apps, customers, SCIM-managed and protected groups,
judged against the bundled sample policy. Only ``PlanBuilder.add`` (decide, summary, plan hash)
is timed. Prints accounts per second and decisions per account. Target: >= 200,000 accounts/s
(README, Benchmarks, says what bounds it).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time
from collections.abc import Iterator

from bot.bootstrap import sample_policy
from core.model import AccountType, ManagementSource
from core.planner import PlanBuilder
from tests.fakes import NOW, make_account

PRODUCTS = ("jira-software", "confluence", "jira-servicedesk")
CHUNK = 50_000


def accounts(total: int, seed: int) -> Iterator[list]:
    """Synthetic accounts in chunks of :data:`CHUNK`."""
    rng = random.Random(seed)
    made = 0
    while made < total:
        chunk = []
        for i in range(made, min(total, made + CHUNK)):
            products = {
                p: (None if rng.random() < 0.05 else rng.randint(0, 400)) for p in PRODUCTS if rng.random() < 0.6
            }
            roll = rng.random()
            chunk.append(
                make_account(
                    f"acc-{i:07d}",
                    account_type=AccountType.APP if roll < 0.01 else AccountType.ATLASSIAN,
                    management_source=ManagementSource.SYNCED if 0.01 <= roll < 0.03 else ManagementSource.INVITED,
                    added_days_ago=rng.randint(1, 2000),
                    products=products or {"jira-software": rng.randint(0, 400)},
                    groups=("jira-software-users",) if rng.random() < 0.5 else (),
                    roles=("org-admin",) if roll > 0.995 else (),
                )
            )
        made += len(chunk)
        yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the 15 costliest functions")
    args = parser.parse_args()
    policy = sample_policy()
    builder = PlanBuilder(policy, NOW)
    profiler = cProfile.Profile() if args.profile else None
    elapsed, decisions = 0.0, 0
    for chunk in accounts(args.accounts, args.seed):
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        for account in chunk:
            decisions += len(builder.add(account))
        elapsed += time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
    builder.plan_hash  # noqa: B018  (part of the work: the order-independent hash)
    print(f"accounts            {args.accounts:,}")
    print(f"decisions/account   {decisions / args.accounts:.2f}")
    print(f"planner time        {elapsed:.2f} s")
    print(f"accounts per second {args.accounts / elapsed:,.0f}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
