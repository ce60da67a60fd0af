"""Thin Prefect task over the loop's cycle-0 diagnostics."""
from __future__ import annotations

from pathlib import Path

from prefect import task

from causal_core.loop import diagnostics_step
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams


@task(task_run_name="cycle{cyc.n}-diag-{name}")
def diagnostic(name: str, cyc: CycleLayout, ckpt: Path, params: LoopParams, layout: LoopLayout) -> Path:
    return diagnostics_step.diagnostic_step(name, cyc, ckpt, params, layout)
