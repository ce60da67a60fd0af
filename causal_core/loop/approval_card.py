"""What an approver reads before a cycle: the proposal as markdown (the Resume form's description)."""
from __future__ import annotations

from pathlib import Path

from causal_core import catalog
from causal_core.loop.params import LoopParams
from causal_core.loop.state import CyclePlan


def proposal_markdown(plan: CyclePlan, params: LoopParams, dag_png: Path | None = None,
                      dag_url: str | None = None, stacked_on: list[str] | None = None) -> str:
    """The proposal: the intervention, its expected effect, why, what it costs, and the DAG picture."""
    seeds = plan.seeds or params.seeds
    budget = plan.budget_s or params.budget_s
    try:
        what = catalog.get(plan.intervention).description
    except KeyError:
        what = ""
    effect = (f"{plan.expected_effect_bpb:+.4f} val_bpb (the DAG's expected improvement; negative = better)"
              if plan.expected_effect_bpb is not None else "no estimate (not the DAG's pick)")
    runs = 2 * len(seeds)
    rows = [
        ("intervention", f"`{plan.intervention}`" + (f": {what}" if what else "")),
        ("expected effect", effect),
        ("why", plan.why),
        ("cost", f"{runs} training runs (control and treatment x seeds {', '.join(map(str, seeds))}), "
                 f"at most {budget:g} s each; runs already trained with the same configuration are reused"),
    ]
    if stacked_on:
        rows.append(("on top of", ", ".join(f"`{s}`" for s in stacked_on) + " (confirmed earlier)"))
    if dag_url or dag_png:
        links = [f"[DAG picture]({dag_url})"] if dag_url else []
        links += [f"`{dag_png}`"] if dag_png else []
        rows.append(("DAG", " · ".join(links)))
    lines = [f"### Cycle {plan.cycle} proposes `{plan.intervention}`", "", "| | proposal |", "|---|---|"]
    lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    lines += ["", "**Submit approves exactly the values below.** Change the intervention, the seeds or the "
                  "budget to override them, or choose `stop` to end the loop."]
    return "\n".join(lines) + "\n"
