"""Causal DAG over interventions, mediators and val_bpb (see docs/dag.md)."""
from __future__ import annotations

from causal_core.dag.estimate import DagInputError, estimate_dag
from causal_core.dag.models import DagResult, IdentifiabilityReport


def render(dag: DagResult, out_dir):
    from causal_core.dag.render import render as _render   # matplotlib only when drawing
    return _render(dag, out_dir)


def identifiability(interventions, dag: DagResult | None = None) -> IdentifiabilityReport:
    from causal_core.dag.identifiability import identifiability as _ident
    return _ident(interventions, dag)


__all__ = ["DagInputError", "DagResult", "IdentifiabilityReport", "estimate_dag", "identifiability", "render"]
