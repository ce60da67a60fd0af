"""Thin Prefect tasks over a cycle's own steps: the config from the chosen intervention and the
decision gate (with the refuters), so each shows in the UI with a state, a duration and a retry policy.

Retries are for a transient filesystem error only (a shared results_dir on NFS, a full disk
freed meanwhile); a bad intervention or a broken result fails at once, with its own message.
"""
from __future__ import annotations

from prefect import task

from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.refutation import RefutationReport
from causal_core.experiments.results import RawRuns, RunResult
from causal_core.experiments.stats import Analysis
from causal_core.loop import cycle as cyclelib
from causal_core.loop.layout import CycleLayout
from causal_core.loop.params import LoopParams


def _transient(task, task_run, state) -> bool:
    try:
        state.result()
    except OSError:
        return True
    except Exception:   # noqa: BLE001  (anything else is not worth a retry)
        return False
    return False


RETRY = dict(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient)


@task(task_run_name="cycle{cyc.n}-config", **RETRY)
def plan_config(cyc: CycleLayout, params: LoopParams, intervention: str, seeds: list[int] | None,
                budget_s: float | None, stack: dict[str, dict], alpha: float | None = None) -> ExperimentConfig:
    return cyclelib.plan_config(cyc, params, intervention, seeds, budget_s, stack, alpha)


@task(task_run_name="cycle{cyc.n}-decide", **RETRY)
def decide(cyc: CycleLayout, cfg: ExperimentConfig, runs: list[RunResult]) -> tuple[RawRuns, Analysis]:
    """raw_runs.json and the gate's decision (causal_core.experiments.stats.decide)."""
    return cyclelib.analyze_experiment(cyc, cfg, runs)


@task(task_run_name="cycle{cyc.n}-refute", **RETRY)
def refute(cyc: CycleLayout, analysis: Analysis, rep_cfg: ExperimentConfig | None,
           rep_runs: list[RunResult] | None) -> tuple[Analysis, RefutationReport]:
    """Placebo, leave-one-seed-out and (when run) the replication, before the loop acts on a confirmation."""
    return cyclelib.refute_step(cyc, analysis, rep_cfg, rep_runs)
