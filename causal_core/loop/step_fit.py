"""What the loop passes over at its own configuration, and why (one place for the proposal and the screen):

1. switches its runs have too few optimizer steps to test (experiments/step_scale.py). The
   loop's steps: ITERATIONS of the trainer's effective env under budget_mode="steps"; under a
   time budget, the control arm's steps of the loop's latest experiment (unknown before its
   first calibration, when nothing is passed over for this reason);
2. switches whose arms could not run here at all: a failed calibration (say TRAIN_SEQ_LEN 2048
   on a token budget that cannot hold one sequence) is recorded in results/unrunnable.json,
   and the loop goes on to its next candidate instead of ending.
A switch given as first_intervention is run as asked unless it is in 2.
"""
from __future__ import annotations

import json

from causal_core.atomic import locked_json_list_append
from causal_core.experiments.step_scale import RULES, too_few_steps
from causal_core.loop.history import experiment_rows
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.target import target


def loop_steps(params: LoopParams, layout: LoopLayout) -> int | None:
    if params.budget_mode == "steps":
        from causal_core.submission.compat import effective_env
        tgt = target(params)
        try:
            return int(float(effective_env(tgt.env(params), tgt.script).get("ITERATIONS", "")))
        except ValueError:
            return None
    steps = [r.control_steps for r in experiment_rows(layout) if r.control_steps]
    return steps[-1] if steps else None


def too_short(params: LoopParams, layout: LoopLayout) -> dict[str, str]:
    """{switch: why its test at this loop's step count would not say what it does at scale}."""
    steps = loop_steps(params, layout)
    if not steps:
        return {}
    from causal_core.submission.compat import effective_env
    tgt = target(params)
    base = tgt.env(params)
    out = {}
    for name in RULES:
        if not tgt.actuates(name):
            continue
        treatment = tgt.sides(name)[0]
        why = too_few_steps(name, treatment, effective_env({**base, **treatment}, tgt.script), steps)
        if why:
            out[name] = f"too few steps: {why}"
    return out


def unrunnable(layout: LoopLayout) -> dict[str, str]:
    """{switch: why its arms could not run here} from earlier cycles of this loop."""
    if not layout.unrunnable.is_file():
        return {}
    try:
        items = json.loads(layout.unrunnable.read_text())
    except (OSError, ValueError):
        return {}
    return {e["intervention"]: f"could not run here (cycle {e['cycle']}): {e['reason']}"
            for e in items if isinstance(e, dict) and "intervention" in e}


def record_unrunnable(layout: LoopLayout, intervention: str, cycle: int, reason: str) -> None:
    locked_json_list_append(layout.unrunnable, {"intervention": intervention, "cycle": cycle, "reason": reason},
                            key="intervention")


def passed_over(params: LoopParams, layout: LoopLayout) -> dict[str, str]:
    """{switch: why the loop does not test it at this configuration}."""
    return {**too_short(params, layout), **unrunnable(layout)}


def note(skipped: dict[str, str]) -> str:
    """The reason's clause naming what was passed over, or ""."""
    if not skipped:
        return ""
    return "; passed over here: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())
