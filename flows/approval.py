"""The approval pause between cycles.

Prefect ends a run Failed when a pause times out, even if the flow catches the
timeout. So the pause gets a generous Prefect timeout and a watchdog thread that,
at the approval deadline, resumes the run itself with the default action: the run
stays Completed, the UI still shows a Resume form built from ApprovalInput, and
`causal-golf approve` / the REST resume endpoint work as usual.

The form is ApprovalInput.with_initial_data(description=<the proposal as markdown>, ...):
the UI shows the proposal above fields pre-filled with it, so Submit approves exactly
what is shown. Who answered (`by`) is not a form field: the CLI and the watchdog send it.
"""
from __future__ import annotations

import threading
from typing import Annotated, Any, Literal, Optional

from pydantic import ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema
from prefect.context import get_run_context
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput

from causal_core import catalog
from causal_core.experiments.config import check_seeds

# Literal over the actionable names: the JSON schema gets an enum, so the server
# rejects an unknown intervention and the run stays paused.
Actionable = Literal[tuple(e.name for e in catalog.actionable())]  # type: ignore[valid-type]


SeedList = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, json_schema_extra={"uniqueItems": True})]


class ApprovalInput(RunInput):
    action: Literal["approve", "stop"] = Field("approve", description="approve the next cycle, or stop the loop")
    intervention: Optional[Actionable] = Field(None, description="the intervention to test (the proposal; change it to override)")
    # The schema carries the rule too (2+ distinct non-negative seeds): the server refuses a bad
    # answer and the run stays paused; the validator says why to `causal-golf approve`.
    seeds: Optional[SeedList] = Field(None, description="paired seeds per condition (at least 2, distinct, non-negative)")
    budget_s: Optional[float] = Field(None, gt=0, description="per-run wall-clock budget in seconds")
    drop_arms: Optional[list[Actionable]] = Field(None, description="remove these arms from a screening or multi-arm proposal")
    add_arm: Optional[Actionable] = Field(None, description="add this arm (a single-switch proposal becomes multi-arm)")
    # Who answered: kept out of the form (SkipJsonSchema), yet still accepted from the CLI, the
    # watchdog and API callers: the schema forbids unknown keys, so `by` is let in by pattern.
    by: SkipJsonSchema[str] = "ui"
    model_config = ConfigDict(json_schema_extra={"patternProperties": {"^by$": {"type": "string"}}})

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        return v if v is None else check_seeds(v)


def edit_arms(plan, drop: list[str], add: str | None) -> dict:
    """The plan fields after the approver dropped and/or added arms. A screen left with fewer than
    two switches, or a multi-arm plan left with one, becomes a single-switch cycle; dropping every
    arm keeps the first (answer `stop` to test nothing)."""
    arms = [a for a in (plan.arms or [plan.intervention]) if a not in drop] or (plan.arms or [plan.intervention])[:1]
    expected = {a: v for a, v in plan.expected.items() if a in arms}
    if add and add not in arms:
        arms.append(add)
        expected[add] = catalog.CATALOG[add].prior_effect_bpb     # the approver's arm: the catalog prior
    kind = plan.kind if plan.kind != "single" else "multiarm"
    if len(arms) == 1 or (kind == "screen" and len(arms) < 2):
        kind = "single"
    why = plan.why + "; approver " + ", ".join(x for x in (f"dropped {', '.join(drop)}" if drop else "",
                                                           f"added {add}" if add else "") if x)
    return {"kind": kind, "arms": arms if kind != "single" else [], "expected": expected, "intervention": arms[0],
            "expected_effect_bpb": expected.get(arms[0]), "why": why, "source": "approver"}


def approval_form(description: str, **initial: Any) -> type[ApprovalInput]:
    """The Resume form: the proposal as its description, its fields pre-filled with `initial`
    (each keeps its description and constraints, so the server still checks the answer)."""
    fields = ApprovalInput.model_fields
    return ApprovalInput.with_initial_data(
        description=description, **{k: FieldInfo.merge_field_infos(fields[k], default=v) for k, v in initial.items()})


def wait_for_approval(timeout_s: float, on_timeout: str, poll_interval: int = 1,
                      form: type[ApprovalInput] = ApprovalInput) -> ApprovalInput:
    """Pause the current flow run until approved, or apply `on_timeout` after `timeout_s`."""
    flow_run_id = get_run_context().flow_run.id

    def default_action() -> None:
        try:
            resume_flow_run(flow_run_id, run_input={"action": on_timeout, "by": "timeout"})
        except Exception:  # already resumed by a human: nothing to do
            pass

    watchdog = threading.Timer(timeout_s, default_action)
    watchdog.daemon = True
    watchdog.start()
    try:
        # Prefect's own timeout is only a backstop should the watchdog thread die.
        return pause_flow_run(wait_for_input=form, timeout=int(timeout_s) + 3600,
                              poll_interval=poll_interval)
    finally:
        watchdog.cancel()
