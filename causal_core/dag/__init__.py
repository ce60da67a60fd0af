"""Causal DAG over interventions, mediators and val_bpb (see docs/dag.md)."""
from __future__ import annotations

from causal_core.dag.estimate import DagInputError, estimate_dag
from causal_core.dag.models import DagResult, IdentifiabilityReport

# Imported eagerly, not wrapped in lazy functions: a function named like its submodule is
# replaced by the module object the first time that submodule is imported (import-order bugs).
from causal_core.dag.identifiability import identifiability  # noqa: E402
from causal_core.dag.render import render  # noqa: E402

__all__ = ["DagInputError", "DagResult", "IdentifiabilityReport", "estimate_dag", "identifiability", "render"]
