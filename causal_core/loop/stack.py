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
from causal_core.loop.layout import LoopLayout
from causal_core.trainer import TRAINER, base_env


def confirmed_stack(layout: LoopLayout) -> dict[str, dict[str, Any]]:
    """{intervention: the treatment overrides it was confirmed with}, in cycle order: every
    finished cycle whose final (refuted) decision is confirmed with an improving effect."""
    from causal_core.experiments.stats import load_stats
    out: dict[str, dict[str, Any]] = {}
    for cyc in layout.finished_cycles():
        for stats in cyc.stats_files():      # a multi-arm cycle stacks every arm it confirmed
            config = stats.parent.parent / "config.json"     # cycle_n/config.json or cycle_n/arms/<arm>/config.json
            if not config.is_file():
                continue
            a = load_stats(stats)
            if a.decision == "confirmed" and a.effect_bpb is not None and a.effect_bpb < 0:
                cfg = ExperimentConfig.load(config)
                out.setdefault(a.intervention, dict(cfg.treatment))
    return out


def base_stack(params) -> dict[str, dict[str, Any]]:
    """The user's base (LoopParams.base) as stack entries: each intervention the trainer can switch,
    with its treatment env (loop/target.py). One it cannot switch is left out of the runs (it still
    shapes the ranking)."""
    from causal_core.loop.target import target
    t = target(params)
    return {n: t.sides(n)[0] for n in params.base if t.actuates(n)}


def loop_stack(layout: LoopLayout, params) -> dict[str, dict[str, Any]]:
    """What every cycle runs on top of: the user's base, then what the loop confirmed."""
    confirmed = confirmed_stack(layout) if params.stack_confirmed else {}
    return {**base_stack(params), **{k: v for k, v in confirmed.items() if k not in params.base}}


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


def stacked_sides(intervention: str, stack: dict[str, dict[str, Any]], target=None) -> tuple[dict, dict]:
    """(treatment, control) of the intervention (the catalog's env, or the target trainer's
    mapping of it: loop/target.py) with the control's overrides of stacked variables dropped:
    the stack's values hold in both conditions."""
    if target is None:
        e = catalog.CATALOG[intervention]
        treatment, control = dict(e.treatment), dict(e.control)
    else:
        treatment, control = target.sides(intervention)
    stacked = {k for o in stack.values() for k in o}
    return treatment, {k: v for k, v in control.items() if k not in stacked}


def stack_for(intervention: str, layout: LoopLayout, params) -> tuple[dict[str, dict[str, Any]], str | None]:
    """(the stack a cycle testing `intervention` runs on, why it runs unstacked or None).
    An intervention that cannot go on top of the confirmed ones (an approver's override,
    say) is tested on the user's base alone, or against the bare preset when it cannot go
    on the base either, and the reason is returned."""
    env = base_env(params.data_path, params.trainer_env)
    stack = loop_stack(layout, params)
    why = conflict(intervention, stack, env) if stack else None
    if not why:
        return stack, None
    base = base_stack(params)
    if base and not conflict(intervention, base, env):
        return base, f"tested on the base only: {why}"
    return {}, f"tested unstacked: {why}"
