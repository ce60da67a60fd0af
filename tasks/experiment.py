"""Thin Prefect tasks over causal_core's experiment steps."""
from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.deployments import run_deployment

from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.results import RunResult, result_path
from causal_core.experiments.runner import run_one
from causal_core.loop.run_reuse import run_or_reuse
from tasks.progress import reporter


class SeedRunFailed(RuntimeError):
    """Raised so Prefect retries the seed; the failed result is on disk for the runner's rules."""


@task(task_run_name="cycle{cycle}-{condition}-seed{seed}")
def run_seed(config_path: Path, condition: str, seed: int, out_dir: Path, cycle: int,
             dispatch: str = "local", run_index: Path | None = None, progress_key: str | None = None) -> RunResult:
    # progress_key: the cycle's progress board (tasks/progress.py); local runs report to it.
    on_progress = reporter(progress_key, get_run_logger())
    if dispatch == "work-pool":
        # A worker of the pool runs the `train-seed` deployment; it writes the result where we read it.
        run_deployment("train-seed/train-seed", timeout=None, poll_interval=2,
                       flow_run_name=f"cycle{cycle}-{condition}-seed{seed}",
                       parameters={"config_path": str(config_path), "condition": condition,
                                   "seed": seed, "out_dir": str(out_dir)})
        result = RunResult.model_validate_json(result_file(config_path, condition, seed, out_dir).read_text())
    elif run_index is not None:
        result = run_or_reuse(ExperimentConfig.load(config_path), condition, seed, out_dir, run_index, on_progress)
    else:
        result = run_one(ExperimentConfig.load(config_path), condition, seed, out_dir, on_progress=on_progress)
    if not result.complete:
        raise SeedRunFailed(f"{result.run_id}: {result.error}")
    return result


def result_file(config_path: Path, condition: str, seed: int, out_dir: Path) -> Path:
    cfg = ExperimentConfig.load(config_path)
    return result_path(out_dir, cfg.run_id(condition, seed))
