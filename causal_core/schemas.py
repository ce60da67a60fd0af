"""Data contracts between steps (pydantic). JSON files on disk are these models dumped."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from causal_core.catalog import NAMES

Scalar = str | int | float | bool


class Evidence(BaseModel):
    source: str                 # file the span came from, relative to the record folder
    text: str                   # the span itself (trimmed to at most ~200 chars)


class InterventionMention(BaseModel):
    name: str
    attributes: dict[str, Scalar] = Field(default_factory=dict)   # e.g. {"layers": 11}, {"stride": 64}, {"bits": 6}
    evidence: list[Evidence] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _canonical(cls, v: str) -> str:
        if v not in NAMES:
            raise ValueError(f"{v!r} is not a canonical intervention name")
        return v


class ExperimentOutcome(BaseModel):
    """Set on records the loop wrote itself: what its own experiment concluded."""
    intervention: str
    decision: Literal["confirmed", "suggestive", "null", "failed"]
    effect_bpb: float | None = None        # treatment minus control (negative = improvement)
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n_pairs: int = 0
    platform: str = "mlx-cpu"
    scale: str | None = None               # trainer scale it ran at (transfer_model.trainer_scale)
    cycle: int | None = None
    stacked_on: list[str] = Field(default_factory=list)    # confirmed earlier, on in both conditions
    # The quantity measured: a step-budget effect and a time-budget effect are different
    # quantities (docs/budget.md); absent = "steps" (records written before budgets existed).
    budget_mode: Literal["time", "steps"] = "steps"
    time_budget_s: float | None = None
    arm_steps: dict[str, int] = Field(default_factory=dict)     # condition -> steps trained
    step_time_ratio: float | None = None                       # treatment / control ms per step, local


class RecordEntry(BaseModel):
    record_id: str                          # path relative to its records root
    name: str | None = None
    author: str | None = None
    date: str | None = None                 # ISO YYYY-MM-DD
    val_bpb: float | None = None
    val_loss: float | None = None
    bytes_total: int | None = None
    track: str | None = None
    seeds: list[int] = Field(default_factory=list)
    seed_scores: dict[str, float] = Field(default_factory=dict)    # seed -> val_bpb
    interventions: list[InterventionMention] = Field(default_factory=list)
    delta_interventions: list[str] = Field(default_factory=list)
    parent: str | None = None               # record_id (or name) of the parent record
    base_bpb: float | None = None
    delta_bpb: float | None = None
    source_format: str = "C"                # "A", "B", "C", "json_only", "experiment"
    field_sources: dict[str, str] = Field(default_factory=dict)   # field -> "submission.json:val_bpb" etc.
    warnings: list[str] = Field(default_factory=list)
    experiment: ExperimentOutcome | None = None
    # Training ms per step of the record's main run, from its log (the 10min_16mb track runs on
    # 8xH100): what the challenge charges per step. causal_core/records/step_times.py.
    h100_step_avg_ms: float | None = None

    def intervention_names(self) -> list[str]:
        return [m.name for m in self.interventions]


class SkippedFolder(BaseModel):
    path: str
    reason: str


class InterventionsFile(BaseModel):
    schema_version: int = 1
    records_roots: list[str] = Field(default_factory=list)
    records: list[RecordEntry] = Field(default_factory=list)
    field_coverage: dict[str, float] = Field(default_factory=dict)
    skipped: list[SkippedFolder] = Field(default_factory=list)
