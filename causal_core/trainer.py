"""Our MLX trainer (train_gpt_mlx.py at the repository root), in one place: where it is,
how causal_core loads it as a module, and the base environment of the runs the loop,
the diagnostics and `causal-golf train` start with it.
"""
from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]     # the directory holding causal_core/, flows/, ...
TRAINER = REPO_ROOT / "train_gpt_mlx.py"
# Modules the trainer imports from its own folder: Linux-CPU speed (fast BLAS, fast maths; optional)
# and the diagnostics (needed only when a diagnostic switch is set).
TRAINER_SIBLINGS = ("train_gpt_mlx_blas.py", "train_gpt_mlx_fastmath.py", "train_gpt_mlx_diag.py")
DEFAULT_PRESET = "cpu_small"                          # the loop's default (catalog controls are relative to it)
TOKENIZER_FILE = "tokenizer.model"                    # inside a prepared DATA_PATH (data/prepare.py)

_LOCK = threading.Lock()
_MOD = None


def base_env(data_path: str | Path, trainer_env: dict | None = None) -> dict[str, str | int | float]:
    """PRESET, DATA_PATH and TOKENIZER_PATH of a run on prepared data, then `trainer_env` on top."""
    data = Path(data_path).resolve()
    env: dict[str, str | int | float] = {"PRESET": DEFAULT_PRESET, "DATA_PATH": str(data),
                                         "TOKENIZER_PATH": str(data / TOKENIZER_FILE)}
    env.update(trainer_env or {})
    return env


def trainer_code_files(trainer: str | Path = TRAINER) -> list[Path]:
    """The files whose code a run of `trainer` executes: the script, and for our trainer the
    sibling modules present next to it (a change in any of them is a different trainer)."""
    trainer = Path(trainer)
    if trainer.name != TRAINER.name:
        return [trainer]
    return [trainer] + [p for p in (trainer.with_name(n) for n in TRAINER_SIBLINGS) if p.is_file()]


def trainer_script() -> Path | None:
    """The repository's train_gpt_mlx.py; a wheel install has it at site-packages root instead."""
    if TRAINER.is_file() and TRAINER.stat().st_size > 0:
        return TRAINER
    spec = importlib.util.find_spec("train_gpt_mlx")
    if spec and spec.origin and Path(spec.origin).stat().st_size > 0:
        return Path(spec.origin)
    return None


def load_trainer():
    """train_gpt_mlx loaded by path, once, thread-safely (importing it trains nothing and
    does not re-exec for fast BLAS)."""
    global _MOD
    with _LOCK:
        if _MOD is not None:
            return _MOD
        mod = sys.modules.get("train_gpt_mlx")
        if mod is None or Path(getattr(mod, "__file__", "")).resolve() != TRAINER or not hasattr(mod, "load_config"):
            if not TRAINER.is_file():
                import train_gpt_mlx as mod  # installed copy (wheel)
            else:
                spec = importlib.util.spec_from_file_location("train_gpt_mlx", TRAINER)
                mod = importlib.util.module_from_spec(spec)
                sys.modules["train_gpt_mlx"] = mod
                spec.loader.exec_module(mod)
        _MOD = mod
        return mod
