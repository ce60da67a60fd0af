"""What makes two training runs the same run: the trainer's resolved configuration
(train_gpt_mlx.load_config), the seed and the trainer's code.

Envs that spell a value the preset already has (a control arm's EMA_DECAY=0.0) resolve to
the same key as the bare baseline. The MLX trainer on CPU is deterministic for a fixed
configuration and seed, so a run with the same key need not be trained twice.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from causal_core.trainer import TRAINER, load_trainer, trainer_code_files

RUN_SPECIFIC = ("RUN_ID", "OUT_DIR", "SEED")


def resolved(env: dict[str, str]) -> dict:
    """The trainer's resolved hyperparameters for an env (raises the trainer's error if invalid)."""
    cfg = load_trainer().load_config({**env, "RUN_ID": "x"})
    out = {k: v for k, v in sorted(cfg.values.items()) if k not in RUN_SPECIFIC}
    # Diagnostic switches live outside cfg.values, yet a projected arm trains differently from
    # its log-only twin: keep them in the key when set (unset: keys stay what they were).
    diag = {k: v for k, v in sorted((getattr(cfg, "diag", None) or {}).items()) if v}
    if diag:
        out["diag"] = diag
    return out


def config_key(env: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(resolved(env), sort_keys=True, default=str).encode()).hexdigest()[:16]


def trainer_digest(path: str | Path = TRAINER) -> str:
    """The trainer's code: the script and its sibling modules (causal_core/trainer.py)."""
    h = hashlib.sha256()
    for p in trainer_code_files(path):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def run_key(env: dict[str, str], seed: int, trainer: str | Path = TRAINER) -> str:
    return f"{config_key(env)}:{seed}:{trainer_digest(trainer)}"
