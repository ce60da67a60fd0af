"""Discovery steps: records -> interventions.json -> dag.json (+ pictures) -> identifiability.

Each step returns early when its output exists (outputs are written atomically, so an
existing file is a finished step): a restarted loop resumes where it stopped.
"""
from __future__ import annotations

import logging
from pathlib import Path

from causal_core.atomic import atomic_write_json
from causal_core.dag import DagResult, estimate_dag, identifiability, render
from causal_core.dag.inputs import load_dag, load_interventions
from causal_core.loop.layout import CycleLayout
from causal_core.records.pipeline import extract_records
from causal_core.schemas import InterventionsFile

log = logging.getLogger(__name__)


def existing_roots(roots: list[str | Path]) -> list[Path]:
    """Record roots that exist; a user's clone has no ../shared, the loop's own records/ may be empty."""
    out = []
    for r in roots:
        p = Path(r).resolve()
        if p.is_dir() and (any(p.rglob("submission.json")) or any(p.rglob("README.md"))):
            out.append(p)
        else:
            log.warning("record root %s is missing or holds no records; skipped", r)
    return out


def extract_step(cyc: CycleLayout, roots: list[str | Path], refresh: bool = False) -> Path:
    if cyc.interventions.is_file() and not refresh:
        return cyc.interventions
    found = existing_roots(roots)
    data = extract_records(found) if found else InterventionsFile(records_roots=[])
    atomic_write_json(cyc.interventions, data.model_dump(mode="json"))
    return cyc.interventions


def dag_step(cyc: CycleLayout, previous_dag: Path | None = None, budget_mode: str = "steps",
             local_scale: str | None = None) -> Path:
    """`local_scale`: the loop's own scale key (loop/target.py), so the local column and the
    ranking are at the scale the loop runs, not at whatever scale a record last ran."""
    if cyc.dag.is_file():
        return cyc.dag
    interventions = load_interventions(cyc.interventions, allow_empty=True)
    previous = load_dag(previous_dag) if previous_dag and previous_dag.is_file() else None
    # No published records (a clone without ../shared): start from the expert priors.
    # Only experiments measured under the loop's budget are evidence (docs/budget.md).
    dag = estimate_dag(interventions, previous, prior_only_ok=True, budget_mode=budget_mode, local_scale=local_scale)
    dag.cycle = cyc.n
    render(dag, cyc.dag_dir)                      # png/svg/dot first: dag.json marks the step done
    if dag.diff is not None:
        atomic_write_json(cyc.dag_diff, dag.diff.model_dump(mode="json"))
    atomic_write_json(cyc.dag, dag.model_dump(mode="json"))
    return cyc.dag


def identifiability_step(cyc: CycleLayout) -> Path:
    if cyc.identifiability.is_file():
        return cyc.identifiability
    report = identifiability(load_interventions(cyc.interventions, allow_empty=True), load_dag(cyc.dag))
    atomic_write_json(cyc.identifiability, report.model_dump(mode="json"))
    return cyc.identifiability


def load_dag_result(path: Path) -> DagResult:
    return load_dag(path)
