"""The loop's budgets for starting work: `max_runs` training runs, and the wall-clock gate a
replication must fit in. Runs served from an earlier cycle (reuse_runs) trained nothing
and cost nothing."""
from __future__ import annotations

import os
from pathlib import Path

from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.results import RawRuns, RunResult
from causal_core.loop import stop_rules
from causal_core.loop.cycle import seed_jobs
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.run_reuse import runs_to_train


def runs_trained(layout: LoopLayout) -> int:
    """Training runs the loop made in its cycles (experiment, replication, arms, screen pairs)."""
    n = 0
    for p in layout.root.glob("cycle_*/**/raw_runs.json"):
        n += sum(1 for r in RawRuns.load(p).runs if not r.reused)
    return n


def runs_left(layout: LoopLayout, params: LoopParams) -> int | None:
    """Training runs left in the `max_runs` budget, or None without one."""
    return params.max_runs - runs_trained(layout) if params.max_runs else None


def over_run_budget(layout: LoopLayout, params: LoopParams, cyc: CycleLayout, cfg: ExperimentConfig,
                    index: Path | None) -> str | None:
    """The stop reason when the cycle would train past `max_runs` (runs the index serves are free)."""
    left = runs_left(layout, params)
    if left is None:
        return None
    need = runs_to_train(cfg, seed_jobs(cfg), cyc.experiment_dir, index)
    return stop_rules.cycle_over_run_budget(cyc.n, need, left, params.max_runs)


def replication_allowed(params: LoopParams, elapsed_s: float, runs: list[RunResult], n_runs: int,
                        runs_left: int | None = None) -> bool:
    """Replicate only when the wall-clock gate (and the run budget, if any) leaves room for the extra runs."""
    if not params.replicate or (runs_left is not None and n_runs > runs_left):
        return False
    longest = max((r.elapsed_s for r in runs), default=params.budget_s)
    waves = -(-n_runs // max(1, params.max_parallel or os.cpu_count() or 1))
    return elapsed_s + waves * longest < params.wall_clock_gate_s
