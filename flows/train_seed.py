"""`train-seed`: one (condition, seed) training run, for workers of a work pool."""
from __future__ import annotations

from prefect import flow

from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.runner import run_one


@flow(name="train-seed", flow_run_name="{condition}-seed{seed}")
def train_seed(config_path: str, condition: str, seed: int, out_dir: str) -> dict:
    # The result JSON lands in out_dir/runs/ (a shared path across machines): the loop reads it there.
    return run_one(ExperimentConfig.load(config_path), condition, seed, out_dir).model_dump(mode="json")
