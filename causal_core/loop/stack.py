"""Stacking: each experiment measures its intervention on top of what the loop confirmed.

Testing every switch against the bare preset means the loop never trains the
configuration it would ship (the union of its confirmed switches), and it measures each
effect where the user will not use it. With stacking, cycle k's control is the preset
plus every switch confirmed before cycle k (its treatment adds one more), so the last
confirmed treatment arm IS the combined configuration, and that arm's runs are the next
cycle's control runs (reused, not re-trained).
"""
from __future__ import annotations

from typing import Any

from causal_core import catalog
from causal_core.experiments.config import ExperimentConfig, env_value
from causal_core.loop.layout import LoopLayout, cycle_stats
from causal_core.trainer import TRAINER, base_env


def confirmed_stack(layout: LoopLayout) -> dict[str, dict[str, Any]]:
    """{intervention: the treatment overrides it was confirmed with}, in cycle order: every
    finished cycle whose final (refuted) decision is confirmed with an improving effect."""
    from causal_core.experiments.stats import load_stats
    out: dict[str, dict[str, Any]] = {}
    for d in sorted(layout.root.glob("cycle_*"), key=lambda p: int(p.name.split("_")[1])):
        for stats in cycle_stats(d):      # a multi-arm cycle stacks every arm it confirmed
            config = stats.parent.parent / "config.json"     # cycle_n/config.json or cycle_n/arms/<arm>/config.json
            if not config.is_file():
                continue
            a = load_stats(stats)
            if a.decision == "confirmed" and a.effect_bpb is not None and a.effect_bpb < 0:
                cfg = ExperimentConfig.load(config)
                out.setdefault(a.intervention, dict(cfg.treatment))
    return out


def conflict(intervention: str, stack: dict[str, dict[str, Any]], base: dict[str, Any],
             trainer=TRAINER) -> str | None:
    """Why `intervention` cannot be tested on top of `stack` (over the base env, with the
    trainer's defaults and presets resolved), or None."""
    from causal_core.submission import compat
    if intervention in stack:
        return f"{intervention} is already in the stack"
    e = catalog.CATALOG[intervention]
    stacked = {k: (name, env_value(v)) for name, o in stack.items() for k, v in o.items()}
    clashes = [f"{k}={env_value(v)} vs {stacked[k][0]}'s {stacked[k][1]}"
               for k, v in e.treatment.items() if k in stacked and stacked[k][1] != env_value(v)]
    if clashes:
        return f"{intervention} sets " + "; ".join(clashes)
    if all(k in stacked for k in e.treatment):
        return f"the stack already sets everything {intervention} changes"
    findings = [*stack.items(), (intervention, dict(e.treatment))]
    env = compat.effective_env({**base, **{k: v for _, o in findings for k, v in o.items()}}, trainer)
    rules = compat.check(findings, env)
    return "; ".join(f"[{c.rule}] {c.message}" for c in rules) or None


def stacked_sides(intervention: str, stack: dict[str, dict[str, Any]]) -> tuple[dict, dict]:
    """(treatment, control) of the catalog entry with the control's overrides of stacked
    variables dropped: the stack's values hold in both conditions."""
    e = catalog.CATALOG[intervention]
    stacked = {k for o in stack.values() for k in o}
    return dict(e.treatment), {k: v for k, v in e.control.items() if k not in stacked}


def stack_for(intervention: str, layout: LoopLayout, params) -> tuple[dict[str, dict[str, Any]], str | None]:
    """(the stack a cycle testing `intervention` runs on, why it runs unstacked or None).
    An intervention that cannot go on top of the confirmed ones (an approver's override,
    say) is tested against the bare preset instead, and the reason is returned."""
    if not params.stack_confirmed:
        return {}, None
    stack = confirmed_stack(layout)
    why = conflict(intervention, stack, base_env(params.data_path, params.trainer_env)) if stack else None
    return ({}, f"tested unstacked: {why}") if why else (stack, None)
