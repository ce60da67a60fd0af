"""The budget part of a cycle's report: what the decision holds for, each arm's steps and
step time, and the local step-time ratio beside the 8xH100 one the records give."""
from __future__ import annotations

from pathlib import Path

from causal_core.experiments.stats import Analysis


def budget_lines(analysis: Analysis, interventions: Path | None = None) -> list[str]:
    b = analysis.budget
    if b is None:
        return [f"Budget: {analysis.budget_mode} (no per-arm figures recorded)."]
    head = ("**Decided under a TIME budget**" if b.budget_mode == "time" else "**Decided under a step budget**")
    lines = [f"{head}: {b.describe()}.", "",
             "| arm | steps | ms/step (calibration) | ms/step (runs) |", "|---|---:|---:|---:|"]
    for c in ("control", "treatment"):
        a = b.arms.get(c)
        if a is not None:
            lines.append(f"| {c} | {a.steps if a.steps is not None else 'n/a'} | {_ms(a.step_ms)} | {_ms(a.run_step_ms)} |")
    lines.append("")
    lines += _h100(analysis.intervention, b.step_time_ratio, interventions)
    return lines


def _ms(v) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def _h100(intervention: str, local: float | None, interventions: Path | None) -> list[str]:
    from causal_core.records.step_times import h100_step_ratios, ratio_lines
    evidence = []
    if interventions is not None and Path(interventions).is_file():
        from causal_core.dag.inputs import InputError, load_interventions
        try:
            evidence = h100_step_ratios(load_interventions(interventions, allow_empty=True)).get(intervention, [])
        except InputError:
            evidence = []
    return ratio_lines(intervention, local, evidence)
