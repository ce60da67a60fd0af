"""Thin Prefect task over the loop's probe phase."""
from __future__ import annotations

from prefect import task

from causal_core.loop import probe_phase
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams


@task(task_run_name="cycle{cyc.n}-probe-{intervention}")
def probe(cyc: CycleLayout, params: LoopParams, layout: LoopLayout, intervention: str) -> dict:
    return probe_phase.run_probe(cyc, params, layout, intervention)
