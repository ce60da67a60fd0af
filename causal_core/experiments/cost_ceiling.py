"""The cost ceiling of an expensive sweep (paired seeds x arms): one arm x 3 seeds first.

If that first phase shows no separation from control (the rule below, as data), the sweep stops
there and the runs it did not burn are reported as saved; otherwise the rest runs. Pure
functions; the flow asks `first_phase_seeds`, runs them, then `ceiling_verdict`.
"""
from __future__ import annotations

import math

FIRST_PHASE_SEEDS = 3
# Separation screen on the first phase's paired differences (treatment - control): |t| >= 1 is a
# deliberately lenient screen (it stops only what shows no sign of an effect at all).
SEPARATION = {"metric": "abs_paired_t", "op": ">=", "threshold": 1.0,
              "why": "the first arm's paired differences must stand out from their own spread"}


def first_phase_seeds(seeds: list[int], first: int = FIRST_PHASE_SEEDS) -> list[int]:
    return list(seeds[:first])


def planned_runs(n_seeds: int, n_arms: int = 1) -> int:
    """Runs of the whole sweep: every seed for control and each treatment arm."""
    return n_seeds * (n_arms + 1)


def abs_paired_t(control: dict[int, float], treatment: dict[int, float]) -> float | None:
    seeds = sorted(set(control) & set(treatment))
    if len(seeds) < 2:
        return None
    d = [treatment[s] - control[s] for s in seeds]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1))
    if sd == 0:
        return math.inf if mean != 0 else 0.0
    return abs(mean) / (sd / math.sqrt(len(d)))


def ceiling_verdict(control: dict[int, float], treatment: dict[int, float], n_seeds: int, n_arms: int = 1,
                    threshold: float | None = None) -> dict:
    """Go on or stop after the first phase; `saved_runs` = the sweep's runs the stop did not train."""
    thr = SEPARATION["threshold"] if threshold is None else threshold
    t = abs_paired_t(control, treatment)
    separated = t is not None and t >= thr
    done = len(control) + len(treatment)
    total = planned_runs(n_seeds, n_arms)
    return {"rule": {**SEPARATION, "threshold": thr}, "abs_paired_t": t, "separated": separated,
            "action": "continue" if separated else "stop", "runs_done": done, "runs_planned": total,
            "saved_runs": 0 if separated else max(0, total - done),
            "why": (f"first phase |t| = {t:.3g} >= {thr}: separation, the sweep goes on" if separated else
                    f"first phase |t| = {'n/a' if t is None else f'{t:.3g}'} < {thr}: no separation from "
                    f"control, the sweep stops ({max(0, total - done)} of {total} runs saved)")}
