"""`causal-golf serve`: serve the `cycle-loop` deployment (and `train-seed`) from this process.

With a Prefect server running, `prefect deployment run cycle-loop/cycle-loop` then
starts the loop; `--param`/`--params` set its parameters.
"""
from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-train-seed", action="store_true",
                   help="serve only cycle-loop (train-seed runs on work-pool workers instead)")
    p.add_argument("--limit", type=int, default=None, help="max concurrent flow runs of this server process")


def run(args: argparse.Namespace) -> int:
    # Pick runs up within a second (Prefect's default poll is 10 s).
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    from prefect import serve

    from flows.cycle_loop import cycle_loop
    from flows.train_seed import train_seed

    deployments = [cycle_loop.to_deployment(name="cycle-loop", description="the causal-golf discovery-adjust loop")]
    if not args.no_train_seed:
        deployments.append(train_seed.to_deployment(name="train-seed", description="one seed run of an experiment"))
    serve(*deployments, limit=args.limit)
    return 0
