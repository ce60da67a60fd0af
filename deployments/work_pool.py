"""`causal-golf deploy-train-seed`: scale seed runs out to a Prefect work pool.

Creates the pool (type `process`) if missing and registers the `train-seed`
deployment on it. Workers on any machine (`prefect worker start --pool NAME`, with
PREFECT_API_URL pointing at the server) then pick up seed runs of loops started with
`--param dispatch=work-pool`. Source: this checkout by default (workers on the same
machine or a shared filesystem), or a git URL that workers clone.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from causal_core.cli import CliError

ROOT = Path(__file__).resolve().parents[1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pool", default="causal-golf-seeds", help="work pool name (created as type 'process')")
    p.add_argument("--source", default=str(ROOT),
                   help="where workers get the code: a local path (default: this checkout) or a git URL")


def ensure_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        except ObjectAlreadyExists:
            pass


def deploy_train_seed(pool: str, source: str = str(ROOT)):
    from prefect import flow

    ensure_pool(pool)
    return flow.from_source(source=source, entrypoint="flows/train_seed.py:train_seed").deploy(
        name="train-seed", work_pool_name=pool, build=False, push=False, print_next_steps=False)


def run(args: argparse.Namespace) -> int:
    if "://" not in args.source and not (Path(args.source) / "flows" / "train_seed.py").is_file():
        raise CliError(f"--source {args.source} has no flows/train_seed.py")
    dep_id = deploy_train_seed(args.pool, args.source)
    print(f"train-seed deployed on pool {args.pool!r} (id {dep_id}); start workers with:\n"
          f"  prefect worker start --pool {args.pool}")
    return 0
