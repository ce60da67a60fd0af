"""The loop's stop rules, in one place (the final report quotes the reason)."""
from __future__ import annotations

from causal_core.loop.params import LoopParams


def stop_reason(decisions: list[str], elapsed_s: float, params: LoopParams,
                human_stop: bool = False, runs_trained: int = 0) -> str | None:
    """Why the loop should stop now, or None to go on.

    `decisions` are the gate's decisions of the finished cycles in order
    ("confirmed", "suggestive", "null", "failed"); `runs_trained` counts the training runs
    the loop made (reused runs excluded).
    """
    if human_stop:
        return "stopped by the approver"
    if params.stop_on_confirmed and decisions and decisions[-1] == "confirmed":
        return "confirmed effect"
    streak = 0
    for d in reversed(decisions):
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
