"""Loop state that cannot be derived from the cycle folders: when the loop started
(for the wall-clock gate, across restarts) and each cycle's plan (what and why)."""
from __future__ import annotations

import json
import time

from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from causal_core.atomic import atomic_write_json
from causal_core.experiments.config import check_seeds
from causal_core.one_line import describe
from causal_core.loop.layout import CycleLayout, LoopLayout


class CyclePlan(BaseModel):
    cycle: int
    intervention: str
    why: str
    expected_effect_bpb: float | None = None
    source: str = "dag"              # dag | first_intervention | approver
    seeds: list[int] | None = None
    budget_s: float | None = None
    approved_by: str | None = None   # auto | ui | cli | timeout
    # single: one switch (intervention); screen: a design over `arms`; multiarm: `arms` vs one control
    kind: Literal["single", "screen", "multiarm"] = "single"
    arms: list[str] = Field(default_factory=list)
    expected: dict[str, float] = Field(default_factory=dict)   # expected effect per arm (bpb)

    # An approver's answer is written here: the same rules as the config it becomes, so a
    # plan that cannot run is never saved (and one saved by an older version is refused on load).
    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int] | None) -> list[int] | None:
        return v if v is None else check_seeds(v, minimum=1)

    @model_validator(mode="after")
    def _paired(self) -> "CyclePlan":
        if self.seeds is not None and self.kind != "screen":      # a screen's rows need no pairs
            check_seeds(self.seeds)
        return self

    @field_validator("budget_s")
    @classmethod
    def _budget(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"must be positive (got {v})")
        return v


class PlanError(ValueError):
    """A cycle's plan.json cannot run (edited by hand or written by an older version)."""


def started_at(layout: LoopLayout) -> float:
    if layout.state.is_file():
        return float(json.loads(layout.state.read_text())["started_at"])
    t = time.time()
    atomic_write_json(layout.state, {"started_at": t})
    return t


def save_plan(cyc: CycleLayout, plan: CyclePlan) -> CyclePlan:
    try:        # model_copy(update=...) does not validate: check before the plan is written
        plan = CyclePlan.model_validate(plan.model_dump())
    except ValidationError as e:
        raise PlanError(f"cycle {cyc.n}: the approved plan cannot run ({describe(e)}); not saved") from None
    atomic_write_json(cyc.dir / "plan.json", plan.model_dump())
    return plan


def drop_plan(cyc: CycleLayout) -> None:
    """Forget the cycle's plan (its arms could not run), so that the cycle is planned again."""
    (cyc.dir / "plan.json").unlink(missing_ok=True)


def load_plan(cyc: CycleLayout) -> CyclePlan | None:
    p = cyc.dir / "plan.json"
    if not p.is_file():
        return None
    try:
        return CyclePlan.model_validate_json(p.read_text())
    except ValidationError as e:
        raise PlanError(f"{p}: {describe(e)}; fix the file or delete it to plan the cycle again") from None
