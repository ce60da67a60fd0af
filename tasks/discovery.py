"""Thin Prefect tasks over causal_core's discovery steps."""
from __future__ import annotations

from pathlib import Path

from prefect import task

from causal_core.loop import discovery
from causal_core.loop.layout import CycleLayout


@task(task_run_name="cycle{cyc.n}-extract")
def extract(cyc: CycleLayout, roots: list[str], refresh: bool = False) -> Path:
    return discovery.extract_step(cyc, roots, refresh)


@task(task_run_name="cycle{cyc.n}-dag")
def dag(cyc: CycleLayout, previous_dag: Path | None, budget_mode: str = "steps", local_scale: str | None = None) -> Path:
    return discovery.dag_step(cyc, previous_dag, budget_mode, local_scale)


@task(task_run_name="cycle{cyc.n}-identifiability")
def identifiability(cyc: CycleLayout) -> Path:
    return discovery.identifiability_step(cyc)
