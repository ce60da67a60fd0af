"""What makes two training runs the same run: the trainer's resolved configuration
(train_gpt_mlx.load_config), the seed and the trainer's code.

Envs that spell a value the preset already has (a control arm's EMA_DECAY=0.0) resolve to
the same key as the bare baseline. The MLX trainer on CPU is deterministic for a fixed
configuration and seed, so a run with the same key need not be trained twice.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "train_gpt_mlx.py"
RUN_SPECIFIC = ("RUN_ID", "OUT_DIR", "SEED")

_LOCK = threading.Lock()
_MOD = None


def load_trainer():
    """train_gpt_mlx loaded by path, once, thread-safely (importing it runs no training)."""
    global _MOD
    with _LOCK:
        if _MOD is not None:
            return _MOD
        mod = sys.modules.get("train_gpt_mlx")
        if mod is None or Path(getattr(mod, "__file__", "")).resolve() != TRAINER or not hasattr(mod, "load_config"):
            spec = importlib.util.spec_from_file_location("train_gpt_mlx", TRAINER)
            mod = importlib.util.module_from_spec(spec)
            sys.modules["train_gpt_mlx"] = mod
            spec.loader.exec_module(mod)
        _MOD = mod
        return mod


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
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def run_key(env: dict[str, str], seed: int, trainer: str | Path = TRAINER) -> str:
    return f"{config_key(env)}:{seed}:{trainer_digest(trainer)}"
