"""Loop state that cannot be derived from the cycle folders: when the loop started
(for the wall-clock gate, across restarts) and each cycle's plan (what and why)."""
from __future__ import annotations

import json
import time

from typing import Literal

from pydantic import BaseModel, Field

from causal_core.atomic import atomic_write_json
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


def started_at(layout: LoopLayout) -> float:
    if layout.state.is_file():
        return float(json.loads(layout.state.read_text())["started_at"])
    t = time.time()
    atomic_write_json(layout.state, {"started_at": t})
    return t


def save_plan(cyc: CycleLayout, plan: CyclePlan) -> CyclePlan:
    atomic_write_json(cyc.dir / "plan.json", plan.model_dump())
    return plan


def load_plan(cyc: CycleLayout) -> CyclePlan | None:
    p = cyc.dir / "plan.json"
    return CyclePlan.model_validate_json(p.read_text()) if p.is_file() else None
