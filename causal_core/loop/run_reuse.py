"""Runs the loop has already trained are not trained again.

Every single-switch experiment's control arm is the same trainer configuration (the
catalog's control values equal the preset's), so from cycle 2 on the baseline seeds are
served from earlier cycles: a cycle trains 3 runs instead of 6. Keys are the trainer's
resolved configuration, the seed and the trainer's code (causal_core.run_key); only our own
trainer is keyed (a foreign trainer command always runs).
"""
from __future__ import annotations

import json
from pathlib import Path

from causal_core.atomic import atomic_write_json, file_lock
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.progress import ProgressCallback
from causal_core.experiments.results import REUSED_PREFIX, RunResult, result_path
from causal_core.experiments.runner import run_one
from causal_core.run_key import run_key
from causal_core.trainer import TRAINER


def _key(cfg: ExperimentConfig, condition: str, seed: int) -> str | None:
    trainer = cfg.trainer_path()
    if trainer is None or trainer.resolve() != TRAINER or "{trainer}" not in "".join(cfg.trainer_command):
        return None
    try:
        return run_key(cfg.condition_env(condition), seed, trainer)
    except Exception:      # an env the trainer refuses: let the run say so
        return None


def _load(path: Path) -> RunResult | None:
    try:
        r = RunResult.model_validate_json(path.read_text())
        return r if r.complete else None
    except (OSError, ValueError):
        return None


def run_or_reuse(cfg: ExperimentConfig, condition: str, seed: int, out_dir: Path, index: Path,
                 on_progress: ProgressCallback | None = None) -> RunResult:
    out_dir = Path(out_dir).resolve()
    result_p = result_path(out_dir, cfg.run_id(condition, seed))
    if (done := _load(result_p)) is not None:         # this very run finished before (resume)
        return done
    key = _key(cfg, condition, seed)
    if key is not None and index.is_file():
        earlier = json.loads(index.read_text()).get(key)
        if earlier and (orig := _load(Path(earlier))) is not None:
            reused = orig.model_copy(update={"run_id": cfg.run_id(condition, seed), "condition": condition,
                                             "score_source": f"{REUSED_PREFIX}{orig.run_id}:{orig.score_source}"})
            atomic_write_json(result_p, reused.model_dump())
            return reused
    result = run_one(cfg, condition, seed, out_dir, on_progress=on_progress)
    if key is not None and result.complete:
        with file_lock(index):
            entries = json.loads(index.read_text()) if index.is_file() else {}
            entries.setdefault(key, str(result_p))
            atomic_write_json(index, entries)
    return result


def runs_to_train(cfg: ExperimentConfig, jobs: list[tuple[str, int]], out_dir: Path, index: Path | None) -> int:
    """How many of `jobs` (condition, seed) would train: neither finished already in out_dir
    nor served from the index."""
    out_dir = Path(out_dir).resolve()
    entries = json.loads(index.read_text()) if index is not None and index.is_file() else {}
    n = 0
    for condition, seed in jobs:
        if _load(result_path(out_dir, cfg.run_id(condition, seed))) is not None:
            continue
        earlier = entries.get(_key(cfg, condition, seed) or "")
        if earlier and _load(Path(earlier)) is not None:
            continue
        n += 1
    return n
