"""`causal-golf train`: run train_gpt_mlx.py with a preset and pass-through environment.

    causal-golf train --preset cpu_small --data data/embedded_sp1024 -- EMA_DECAY=0.99 SEED=7

Output streams straight through (the trainer flushes per line). The trainer re-execs
itself with the fast OpenBLAS preloaded, so nothing BLAS-related happens here.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from causal_core import trainer
from causal_core.cli import CliError

_ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.S)


def trainer_script() -> Path:
    """The repository's train_gpt_mlx.py; a wheel install has it at site-packages root instead."""
    script = trainer.trainer_script()
    if script is None:
        raise CliError("train_gpt_mlx.py not found (neither beside causal_core nor installed)")
    return script


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=trainer.DEFAULT_PRESET, help="trainer preset (PRESET=...); 'none' for the challenge defaults")
    p.add_argument("--data", help="DATA_PATH: directory with fineweb_{train,val}_*.bin and tokenizer.model")
    p.add_argument("--out-dir", help="OUT_DIR (default: the trainer's, logs/)")
    p.add_argument("--run-id", help="RUN_ID (default: timestamp + random)")
    p.add_argument("--seed", type=int, help="SEED")
    p.add_argument("--script", type=Path, help="trainer script to run (default: this project's train_gpt_mlx.py)")
    p.add_argument("overrides", nargs="*", metavar="NAME=VALUE",
                   help="extra trainer environment after '--', e.g. -- NUM_LAYERS=5 EVAL_STRIDE=32")


def build_env(args: argparse.Namespace, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    if args.preset and args.preset != "none":
        env["PRESET"] = args.preset
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise CliError(f"--data {args.data}: no such directory")
        env["DATA_PATH"] = str(args.data)
    for flag, name in (("out_dir", "OUT_DIR"), ("run_id", "RUN_ID"), ("seed", "SEED")):
        if getattr(args, flag) is not None:
            env[name] = str(getattr(args, flag))
    for item in args.overrides:
        m = _ASSIGN.match(item)
        if not m:
            raise CliError(f"override {item!r} is not NAME=VALUE (upper-case NAME)")
        env[m.group(1)] = m.group(2)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run(args: argparse.Namespace) -> int:
    script = args.script or trainer_script()
    if not Path(script).is_file():
        raise CliError(f"--script {script}: no such file")
    env = build_env(args)
    # Inherit stdout/stderr: lines stream live and the trainer's one-line errors reach the user as-is.
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
