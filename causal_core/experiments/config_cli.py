"""`causal-golf make-config --intervention NAME --out config.json`;
`causal-golf make-config --trainer FILE --list`: what FILE can actuate (experiments/actuation.py)."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from pydantic import ValidationError

from causal_core.cli import CliError
from causal_core.experiments.config import DEFAULT_SEEDS, first_error, from_catalog
from causal_core.safe_paths import check_output_file
from causal_core.trainer import DEFAULT_PRESET, TRAINER


def _kv(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {s!r}")
    k, v = s.split("=", 1)
    return k, v


def _argv(s: str) -> list[str]:
    try:
        argv = shlex.split(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--command {s!r}: {e}") from None
    if not argv:
        raise argparse.ArgumentTypeError("--command is empty")
    return argv


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--intervention", help="a canonical, actionable catalog name (required unless --list)")
    p.add_argument("--list", action="store_true",
                   help="print which catalog interventions --trainer can actuate, and with which variables")
    p.add_argument("--profile", default="auto",
                   help="trainer env mapping (causal_core/trainer_profiles.py): auto (from the variables the "
                        "trainer reads), catalog, challenge-baseline, sp8192-frontier")
    p.add_argument("--seeds", type=int, nargs="+", default=DEFAULT_SEEDS)
    p.add_argument("--budget-s", type=float, default=600.0, help="per-run wall-clock budget (s): timeout = budget + 120 s; add --env MAX_WALLCLOCK_SECONDS=... to cap the trainer")
    p.add_argument("--budget-mode", choices=["time", "steps"], default="steps",
                   help="time: each arm trains --time-budget-s of its own measured step time (docs/budget.md); steps: ITERATIONS")
    p.add_argument("--time-budget-s", type=float, default=None, help="training seconds per run under --budget-mode time")
    p.add_argument("--platform", default="mlx-cpu", choices=["mlx-cpu", "mlx-metal", "mlx-cuda", "torch-cuda"])
    p.add_argument("--mde", type=float, default=0.002, help="minimum detectable effect in val_bpb")
    p.add_argument("--trainer", default=TRAINER.name, help="trainer script ({trainer} in the command)")
    # One quoted string (split like a shell): argparse cannot take "--nproc_per_node=8" as one of
    # several values, so `--command torchrun --nproc_per_node=8 ...` unquoted was an error.
    p.add_argument("--command", type=_argv, default=None, metavar='"ARGV"',
                   help='argv template as one quoted string, e.g. "torchrun --standalone --nproc_per_node=8 {trainer}" '
                        '(default: {python} {trainer})')
    p.add_argument("--workdir", default=None, help="trainer working directory (default: the runner's cwd)")
    p.add_argument("--env", type=_kv, action="append", default=[], metavar="KEY=VALUE",
                   help="base environment entry (repeatable), e.g. DATA_PATH=data/tiny")
    p.add_argument("--threads-per-run", type=int, default=1)
    p.add_argument("--max-parallel", type=int, default=None)
    p.add_argument("--sequential", action="store_true", help="stop early for futility/efficacy (sequential.py)")
    p.add_argument("--cycle", type=int, default=None)
    p.add_argument("--no-check-trainer", action="store_true", help="do not require the trainer file to exist now")
    p.add_argument("--out", help="config JSON to write (required unless --list)")


def _scalar(v: str):
    # Env values arrive as strings; keep ints/floats typed so the saved JSON reads naturally.
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


LAUNCH_COMMAND = ("{python}", "-m", "causal_core.launch_trainer", "{trainer}")


def _script(args) -> Path:
    p = Path(args.trainer)
    return p if p.is_absolute() else Path(args.workdir or ".").resolve() / p


def run(args: argparse.Namespace) -> int:
    from causal_core.experiments import actuation
    from causal_core.experiments.trainer_vars import TrainerSourceError, trainer_vars
    if args.list:
        try:
            print(actuation.format_table(_script(args), args.profile))
        except ValueError as e:     # TrainerSourceError, unknown profile
            raise CliError(str(e)) from None
        return 0
    if not args.intervention or not args.out:
        raise CliError("--intervention and --out are required (or use --trainer FILE --list)")
    check_output_file(args.out)
    script = _script(args) if args.trainer else None
    try:
        profile = actuation.resolve_profile(script, args.profile, args.intervention)
        # Our trainer's preset only where the trainer reads PRESET (a foreign script would ignore it).
        reads_preset = script is None or not script.is_file() or trainer_vars(script).reads("PRESET")
    except ValueError as e:
        raise CliError(str(e)) from None
    base = {"PRESET": DEFAULT_PRESET} if reads_preset else {}
    base.update({k: _scalar(v) for k, v in args.env})
    kw = dict(seeds=args.seeds, budget_s=args.budget_s, platform=args.platform, mde_bpb=args.mde,
              trainer=args.trainer, workdir=args.workdir, base_env=base, threads_per_run=args.threads_per_run,
              max_parallel=args.max_parallel, sequential=args.sequential, cycle=args.cycle,
              budget_mode=args.budget_mode, time_budget_s=args.time_budget_s)
    if args.command:
        kw["trainer_command"] = args.command
    elif script is not None and script.is_file() and args.platform == "mlx-cpu" and trainer_vars(script).needs_blas_launcher:
        kw["trainer_command"] = list(LAUNCH_COMMAND)    # a foreign MLX script: give it our fast BLAS
    try:
        cfg = from_catalog(args.intervention, profile=profile, **kw)
    except (ValidationError, ValueError) as e:
        raise CliError(first_error(e)) from None
    if not args.no_check_trainer:
        try:
            ignored = cfg.check_runnable()
        except (FileNotFoundError, actuation.NotActuated, TrainerSourceError) as e:
            raise CliError(str(e)) from None
        if msg := actuation.ignored_message(cfg, ignored):
            print(msg, file=sys.stderr)
    cfg.save(args.out)
    print(f"wrote {args.out} ({cfg.experiment_id})")
    return 0
