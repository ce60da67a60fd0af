"""Records -> a numeric design: binary presence matrix plus attribute columns.

Observational records (published runs) and the loop's own experiments are separated:
experiments measured a paired treatment-minus-control effect on a different platform
(MLX CPU), so their absolute val_bpb is not comparable with the 8xH100 records and they
enter the effect estimate as direct evidence on one coefficient instead (effects.py).

An experiment measured under a step budget and one measured under a time budget estimate
different quantities (docs/budget.md): only experiments of the requested `budget_mode` are
evidence; the others are kept apart in `other_budget_experiments` and reported, never pooled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from causal_core.catalog import NAMES
from causal_core.schemas import ExperimentOutcome, InterventionsFile, RecordEntry


@dataclass
class Encoding:
    record_ids: list[str]
    names: list[str]                       # column order of `presence`
    presence: np.ndarray                   # (n, len(names)) 0/1
    y: np.ndarray                          # val_bpb, finite
    artifact_bytes: np.ndarray | None      # bytes_total when every kept record has it
    attributes: dict[str, np.ndarray]      # "name.attr" -> float column (NaN where absent)
    changes: list[list[str]]               # per record: delta_interventions, else its interventions
    experiments: list[ExperimentOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    budget_mode: str = "steps"
    other_budget_experiments: list[ExperimentOutcome] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.y)

    def column(self, name: str) -> np.ndarray:
        return self.presence[:, self.names.index(name)]


def _finite(v: float | None) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def record_changes(r: RecordEntry) -> list[str]:
    """What a record changed: its delta relative to its parent where known, else its whole stack."""
    return sorted(set(r.delta_interventions or r.intervention_names()))


def encode(data: InterventionsFile, budget_mode: str = "steps") -> Encoding:
    obs: list[RecordEntry] = []
    experiments: list[ExperimentOutcome] = []
    other: list[ExperimentOutcome] = []
    warnings: list[str] = []
    seen: set[tuple] = set()
    for r in data.records:
        if r.experiment is not None:
            # An assembled submission that reuses a cycle's runs repeats that cycle's outcome:
            # the same measurement must not count twice.
            key = (r.experiment.intervention, r.experiment.cycle, r.experiment.effect_bpb, r.experiment.n_pairs,
                   r.experiment.budget_mode)
            if r.experiment.cycle is not None and key in seen:
                warnings.append(f"{r.record_id}: repeats the cycle-{r.experiment.cycle} experiment; counted once")
                continue
            seen.add(key)
            if r.experiment.intervention in NAMES:
                (experiments if r.experiment.budget_mode == budget_mode else other).append(r.experiment)
            else:
                warnings.append(f"{r.record_id}: experiment on unknown intervention {r.experiment.intervention!r} ignored")
            continue
        if not _finite(r.val_bpb):
            warnings.append(f"{r.record_id}: val_bpb missing or not finite; record left out")
            continue
        obs.append(r)

    names = list(NAMES)
    x = np.zeros((len(obs), len(names)))
    attrs: dict[str, np.ndarray] = {}
    for i, r in enumerate(obs):
        for m in r.interventions:
            j = names.index(m.name)
            x[i, j] = 1.0
            for k, v in m.attributes.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    attrs.setdefault(f"{m.name}.{k}", np.full(len(obs), np.nan))[i] = float(v)
    bytes_ = [r.bytes_total for r in obs]
    have_bytes = bool(obs) and all(_finite(b) for b in bytes_)
    if obs and not have_bytes:
        warnings.append("bytes_total missing on some records; artifact_bytes treated as latent")
    return Encoding(
        record_ids=[r.record_id for r in obs], names=names, presence=x,
        y=np.array([float(r.val_bpb) for r in obs]),
        artifact_bytes=np.array(bytes_, dtype=float) if have_bytes else None,
        attributes=attrs, changes=[record_changes(r) for r in obs],
        experiments=experiments, warnings=warnings, budget_mode=budget_mode, other_budget_experiments=other)
