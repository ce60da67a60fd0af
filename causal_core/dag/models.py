"""Pydantic models of the DAG step's outputs (dag.json and identifiability.json)."""
from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

from causal_core.schemas import ExperimentOutcome

Tag = Literal["expert_imposed", "data_confirmed", "data_contradicted", "uncertain"]
TAGS: tuple[str, ...] = get_args(Tag)
# Ordinal used by diff.py: how strongly the evidence supports an edge.
TAG_STRENGTH = {"data_contradicted": 0, "uncertain": 1, "expert_imposed": 1, "data_confirmed": 2}


class EdgeStability(BaseModel):
    cycles_seen: int = 1              # DAG cycles in which this edge existed
    cycles_total: int = 1             # DAG cycles since this edge first appeared
    same_tag_streak: int = 1          # consecutive cycles with the current tag
    tag_history: list[str] = Field(default_factory=list)   # most recent last (capped)


class DagEdge(BaseModel):
    source: str
    target: str
    reason: str
    tag: Tag = "expert_imposed"
    evidence: str = ""                # why the tag (PAG mark, experiment, ...)
    stability: EdgeStability = Field(default_factory=EdgeStability)

    @property
    def key(self) -> str:
        return f"{self.source}->{self.target}"


class EffectEstimate(BaseModel):
    intervention: str
    effect_bpb: float                 # posterior mean change in val_bpb (negative = better)
    ci_low: float
    ci_high: float
    sd: float
    prior_effect_bpb: float
    prior_sd_bpb: float
    n_present: int                    # records (observational) that use it
    source: Literal["prior_only", "observational", "experiment+observational"]
    experiment_decisions: list[str] = Field(default_factory=list)
    sign_conflict: bool = False       # interval excludes zero on the side opposite the prior
    # The second column: the same intervention at the loop's local scale (DagResult.local_scale),
    # measured there ("measured": posterior of the true local effect) or predicted from the
    # H100 column through lambda_g ("predicted"). The fields above are the H100 column.
    group: str = ""
    local_effect_bpb: float | None = None
    local_ci_low: float | None = None
    local_ci_high: float | None = None
    local_sd: float | None = None
    local_source: Literal["measured", "predicted"] | None = None
    lambda_mean: float | None = None  # the group's transfer coefficient at that scale (90% interval)
    lambda_low: float | None = None
    lambda_high: float | None = None
    group_shift_bpb: float | None = None   # the group's additive local shift beta_g at that scale (mean, sd)
    group_shift_sd: float | None = None


class Candidate(BaseModel):
    intervention: str
    expected_effect_bpb: float        # H100-scale posterior mean (negative = better)
    expected_improvement_bpb: float   # E[max(0, -effect)] at the LOCAL scale: what the ranking uses
    edge_tag: str
    reason: str
    local_effect_bpb: float | None = None
    h100_improvement_bpb: float | None = None    # E[max(0, -effect)] under the H100 posterior
    lambda_mean: float | None = None
    cost_runs: float = 1.0            # relative cost of one test (runs; equal unless step times are known)
    score: float | None = None        # expected local improvement per unit of cost


class GroupLambdaOut(BaseModel):
    group: str
    mean: float
    sd: float
    low: float                        # 90% interval
    high: float
    n: int                            # interventions of this group measured at this scale
    shift_mean: float = 0.0           # beta_g: the group's additive local shift (bpb), whatever the H100 effect
    shift_sd: float = 0.0


class TransferFit(BaseModel):
    """The transfer model at one local scale (causal_core/dag/transfer_model.py)."""
    scale: str
    interventions: list[str] = Field(default_factory=list)   # measured both ways at this scale
    groups: list[GroupLambdaOut] = Field(default_factory=list)
    mu: float
    tau: float
    omega: float                      # spread of an intervention's own lambda around its group's
    sigma: float = 0.0                # scale of an intervention's own additive local deviation (t_4), bpb
    sigma_beta: float = 0.0           # spread of the groups' local shifts, bpb


class FciReport(BaseModel):
    ran: bool
    fallback: str | None = None       # why the expert skeleton was kept unvalidated
    test: str = "gsq"
    alpha: float = 0.01
    depth: int = 2
    n_records: int = 0
    variables: list[str] = Field(default_factory=list)
    dropped_constant: list[str] = Field(default_factory=list)
    pag_edges: list[str] = Field(default_factory=list)          # "a o-> b" strings
    unexplained_adjacencies: list[str] = Field(default_factory=list)   # in the PAG, not in the skeleton


class DagDiff(BaseModel):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    strengthened: list[str] = Field(default_factory=list)
    weakened: list[str] = Field(default_factory=list)


class DagResult(BaseModel):
    schema_version: int = 1
    cycle: int = 1
    nodes: list[str]
    mediators: list[str]
    outcome: str = "val_bpb"
    edges: list[DagEdge]
    effects: list[EffectEstimate]
    next_intervention: Candidate | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    fci: FciReport
    diff: DagDiff | None = None
    n_records: int = 0
    n_experiments: int = 0
    warnings: list[str] = Field(default_factory=list)
    local_scale: str | None = None    # the scale of the effects' local column (None: no experiment yet)
    transfer: list[TransferFit] = Field(default_factory=list)
    # The budget whose experiments are evidence here; the other budget's are kept apart (never pooled).
    budget_mode: Literal["time", "steps"] = "steps"
    other_budget_experiments: list[ExperimentOutcome] = Field(default_factory=list)

    def edge(self, source: str, target: str) -> DagEdge | None:
        return next((e for e in self.edges if e.source == source and e.target == target), None)

    def effect(self, name: str) -> EffectEstimate | None:
        return next((e for e in self.effects if e.intervention == name), None)


class EdgeIdentifiability(BaseModel):
    intervention: str
    single_variable_records: int
    multi_variable_records: int
    experiments: int
    testable: bool
    recommendation: Literal["proceed", "skip"]
    why: str


class Combination(BaseModel):
    interventions: list[str]
    expected_effect_bpb: float
    interaction_prior: float
    score: float                      # -expected_effect * interaction_prior (higher = more promising)


class IdentifiabilityReport(BaseModel):
    schema_version: int = 1
    n_records: int
    single_variable_records: int
    multi_variable_records: int
    baseline_records: int
    identifiability_score: float      # share of edges into val_bpb the data can test
    edges: list[EdgeIdentifiability]
    confounded_pairs: list[list[str]]
    recommendation: Literal["proceed", "skip"]
    reason: str
    unexplored_combinations: list[Combination]
