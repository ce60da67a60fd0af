"""Every reason the loop stops, in one place (the final report quotes the reason):
`stop_reason` before a cycle starts, and the reasons found while planning one (nothing
left to test, the approver's answer, a cycle that would overspend the run budget)."""
from __future__ import annotations

from causal_core.loop.params import LoopParams

NOTHING_TO_TEST = "no actionable intervention left to test"
APPROVER_STOPPED = "stopped by the approver"
APPROVAL_TIMED_OUT = "approval timed out: on_timeout=stop"


def approver_stop(approved_by: str | None) -> str:
    """Why the loop stops when the approval answered "stop" (a person, or the timeout)."""
    return APPROVAL_TIMED_OUT if approved_by == "timeout" else APPROVER_STOPPED


def probe_gate_stop(intervention: str, why: str) -> str:
    """The probe (loop/probe_phase.py) or its approver kept the sweep of `intervention` from running."""
    return f"probe gate: the sweep of {intervention} was not run ({why})"


def cycle_over_run_budget(cycle: int, need: int, left: int, max_runs: int) -> str | None:
    """Stop before a cycle that would train more runs than the `max_runs` budget has left."""
    return f"run budget: cycle {cycle} would train {need} runs, {left} of {max_runs} left" if need > left else None


def stop_reason(decisions: list[str], elapsed_s: float, params: LoopParams,
                human_stop: bool = False, runs_trained: int = 0) -> str | None:
    """Why the loop should stop now, or None to go on.

    `decisions` are the outcomes of the finished cycles in order (history.cycle_outcomes:
    "confirmed", "suggestive", "null", "failed", or "screen" for a screening cycle, which makes
    no claim: it counts as a cycle but neither extends nor breaks a streak of nulls);
    `runs_trained` counts the training runs the loop made (reused runs excluded).
    """
    if human_stop:
        return APPROVER_STOPPED
    if params.stop_on_confirmed and decisions and decisions[-1] == "confirmed":
        return "confirmed effect"
    streak = 0
    for d in reversed(decisions):
        if d == "screen":
            continue
        if d != "null":
            break
        streak += 1
    if streak >= params.max_nulls_in_a_row:
        return f"{streak} nulls in a row"
    if len(decisions) >= params.max_cycles:
        return f"{params.max_cycles} cycles done"
    if params.max_runs and runs_trained >= params.max_runs:
        return f"run budget ({params.max_runs} training runs) spent"
    if elapsed_s >= params.wall_clock_gate_s:
        return f"wall-clock gate ({params.wall_clock_gate_s:.0f} s) reached"
    return None
