"""Switches whose mechanism needs more optimizer steps than the loop's runs have.

A 30- or 60-step CPU run can still switch EMA, the warmdown length or the Muon momentum, but
what it measures is not what the switch does in a 10-minute 8xH100 run of ~7,000 steps:
- EMA from the initial weights (our trainer and the challenge's keep no bias correction): after
  S steps the exported average still holds decay^S of the random initialisation. Measured: EMA
  0.99 at 61 steps +0.535 bpb (main job), at 30 steps +1.1 (bench_search), against -0.009 in
  the records.
- A warmdown of WARMDOWN_ITERS >= S steps covers the whole run: the switch then only lowers
  the learning rate everywhere (measured +0.69 and +0.80 bpb at 30 steps).
- A momentum warm-up of MUON_MOMENTUM_WARMUP_STEPS >= S steps never reaches the treatment's
  momentum: the switch changes only the ramp.
Such a test costs runs and teaches the transfer model a scale artifact, so the loop passes
these switches over at that scale and says why (loop/step_fit.py); at a scale with enough
steps the same switch is tested as usual. One rule per switch, keyed by the variables the
treatment sets: a trainer profile that spells them otherwise is not judged (no rule applies).
"""
from __future__ import annotations

import math
from collections.abc import Callable

# The EMA's exported average may keep at most this share of the initial weights.
MAX_INIT_SHARE = 0.05


def _f(env: dict, key: str) -> float | None:
    try:
        return float(env[key])
    except (KeyError, TypeError, ValueError):
        return None


def _ema(treatment: dict, effective: dict, steps: int) -> str | None:
    d = _f(treatment, "EMA_DECAY")
    if d is None or not 0 < d < 1:
        return None
    share = d ** steps
    if share <= MAX_INIT_SHARE:
        return None
    need = math.ceil(math.log(MAX_INIT_SHARE) / math.log(d))
    return (f"EMA_DECAY={d:g} averages over ~{1 / (1 - d):.0f} steps from the initial weights: at {steps} steps they "
            f"keep {share:.0%} of the exported average (needs >= {need} steps for <= {MAX_INIT_SHARE:.0%})")


def _warmdown(treatment: dict, effective: dict, steps: int) -> str | None:
    w = _f(treatment, "WARMDOWN_ITERS")
    if w is None or w < steps:
        return None
    return (f"WARMDOWN_ITERS={w:g} >= the run's {steps} steps: the whole run is in warmdown, so the switch only "
            f"lowers the learning rate (needs > {w:g} steps)")


def _momentum(treatment: dict, effective: dict, steps: int) -> str | None:
    if "MUON_MOMENTUM" not in treatment:
        return None
    w = _f({**effective, **treatment}, "MUON_MOMENTUM_WARMUP_STEPS")
    if w is None or w < steps:
        return None
    return (f"MUON_MOMENTUM_WARMUP_STEPS={w:g} >= the run's {steps} steps: the momentum never reaches the "
            f"treatment's {treatment['MUON_MOMENTUM']} (needs > {w:g} steps)")


RULES: dict[str, Callable[[dict, dict, int], str | None]] = {
    "ema": _ema, "warmdown_schedule": _warmdown, "muon_variant": _momentum}


def too_few_steps(intervention: str, treatment: dict, effective: dict, steps: int | None) -> str | None:
    """Why `intervention` cannot act as it would at the challenge's scale in a run of `steps`
    steps (one line), or None (no rule, steps unknown, or enough steps)."""
    rule = RULES.get(intervention)
    if rule is None or not steps or steps <= 0:
        return None
    return rule(treatment, effective, int(steps))
