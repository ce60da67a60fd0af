"""`causal-golf run-experiment CONFIG --out DIR`."""
from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from causal_core.cli import CliError
from causal_core.experiments.config import ExperimentConfig, first_error


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="experiment config JSON (causal-golf make-config)")
    p.add_argument("--out", required=True, help="experiment out dir (resumable: complete runs are kept)")
    p.add_argument("--experiment-log", default=None, help="default: DIR/../experiment_log.json")
    p.add_argument("--max-parallel", type=int, default=None, help="override the config's parallel limit")
    p.add_argument("--no-resume", action="store_true", help="re-run seeds even if a complete result exists")
    p.add_argument("--analyze", action="store_true", help="also write DIR/stats.json (single-test family)")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = ExperimentConfig.load(args.config)
    except FileNotFoundError:
        raise CliError(f"config {args.config} not found") from None
    except (ValidationError, ValueError) as e:
        raise CliError(f"{args.config}: {first_error(e)}") from None
    if args.max_parallel is not None:
        if args.max_parallel < 1:
            raise CliError(f"--max-parallel must be at least 1 (got {args.max_parallel})")
        cfg = cfg.model_copy(update={"max_parallel": args.max_parallel})
    from causal_core.atomic import CorruptStateError
    from causal_core.experiments.budget import BudgetError
    from causal_core.experiments.runner import run_experiment
    from causal_core.experiments.actuation import NotActuated
    from causal_core.experiments.trainer_vars import TrainerSourceError
    try:
        raw = run_experiment(cfg, args.out, experiment_log=args.experiment_log, resume=not args.no_resume,
                             on_progress=lambda p: print(p.line(), flush=True))
    except (FileNotFoundError, CorruptStateError, NotActuated, TrainerSourceError, BudgetError) as e:
        raise CliError(str(e)) from None
    for r in raw.runs:
        score = f"{r.val_bpb:.6f}" if r.val_bpb is not None else r.error
        print(f"{r.condition:9s} seed={r.seed:<6d} {r.status:9s} {score}")
    for c, s in raw.conditions.items():
        print(f"{c}: {s.status} ({s.n_ok}/{s.n_runs} ok)")
    if args.analyze:
        from causal_core.experiments.stats import analyze, write_stats
        a = analyze(raw)
        write_stats(a, Path(args.out) / "stats.json")
        print(f"decision: {a.decision} effect={a.effect_bpb} p={a.p_value}")
    return 0 if all(s.status != "failed" for s in raw.conditions.values()) else 1
