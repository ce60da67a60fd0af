"""Which switches the loop's runs have too few optimizer steps to test (experiments/step_scale.py).

The loop's steps: ITERATIONS of the trainer's effective env under budget_mode="steps"; under a
time budget, the control arm's steps of the loop's latest experiment (unknown before its first
calibration, when nothing is passed over). The proposal and the screen both skip what this
returns and name it in their reason; a switch given as first_intervention is run as asked.
"""
from __future__ import annotations

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


def passed_over(params: LoopParams, layout: LoopLayout) -> dict[str, str]:
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
            out[name] = why
    return out


def note(skipped: dict[str, str]) -> str:
    """The reason's clause naming what was passed over, or ""."""
    if not skipped:
        return ""
    return "; passed over at this scale (too few steps): " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
