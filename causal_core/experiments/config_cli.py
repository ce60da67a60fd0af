"""`causal-golf make-config --intervention NAME --out config.json`."""
from __future__ import annotations

import argparse

from pydantic import ValidationError

from causal_core.cli import CliError
from causal_core.experiments.config import DEFAULT_SEEDS, first_error, from_catalog
from causal_core.trainer import DEFAULT_PRESET, TRAINER


def _kv(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {s!r}")
    k, v = s.split("=", 1)
    return k, v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--intervention", required=True, help="a canonical, actionable catalog name")
    p.add_argument("--seeds", type=int, nargs="+", default=DEFAULT_SEEDS)
    p.add_argument("--budget-s", type=float, default=600.0, help="per-run wall-clock budget (s): timeout = budget + 120 s; add --env MAX_WALLCLOCK_SECONDS=... to cap the trainer")
    p.add_argument("--platform", default="mlx-cpu", choices=["mlx-cpu", "mlx-metal", "mlx-cuda", "torch-cuda"])
    p.add_argument("--mde", type=float, default=0.002, help="minimum detectable effect in val_bpb")
    p.add_argument("--trainer", default=TRAINER.name, help="trainer script ({trainer} in the command)")
    p.add_argument("--command", nargs="+", default=None, metavar="ARG",
                   help='argv template, e.g. torchrun --nproc_per_node=8 train_gpt.py (default: {python} {trainer})')
    p.add_argument("--workdir", default=None, help="trainer working directory (default: the runner's cwd)")
    p.add_argument("--env", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="base environment entry (repeatable), e.g. DATA_PATH=data/tiny")
    p.add_argument("--threads-per-run", type=int, default=1)
    p.add_argument("--max-parallel", type=int, default=None)
    p.add_argument("--sequential", action="store_true", help="stop early for futility/efficacy (sequential.py)")
    p.add_argument("--cycle", type=int, default=None)
    p.add_argument("--no-check-trainer", action="store_true", help="do not require the trainer file to exist now")
    p.add_argument("--out", required=True)


def _scalar(v: str):
    # Env values arrive as strings; keep ints/floats typed so the saved JSON reads naturally.
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def run(args: argparse.Namespace) -> int:
    base = {"PRESET": DEFAULT_PRESET}
    base.update({k: _scalar(v) for k, v in args.env})
    kw = dict(seeds=args.seeds, budget_s=args.budget_s, platform=args.platform, mde_bpb=args.mde,
              trainer=args.trainer, workdir=args.workdir, base_env=base, threads_per_run=args.threads_per_run,
              max_parallel=args.max_parallel, sequential=args.sequential, cycle=args.cycle)
    if args.command:
        kw["trainer_command"] = args.command
    try:
        cfg = from_catalog(args.intervention, **kw)
    except (ValidationError, ValueError) as e:
        raise CliError(first_error(e)) from None
    if not args.no_check_trainer:
        try:
            cfg.check_runnable()
        except FileNotFoundError as e:
            raise CliError(str(e)) from None
    cfg.save(args.out)
    print(f"wrote {args.out} ({cfg.experiment_id})")
    return 0
