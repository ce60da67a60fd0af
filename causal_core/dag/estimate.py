"""estimate_dag: interventions -> tagged DAG, effects, next_intervention (the loop's API)."""
from __future__ import annotations

from causal_core.dag import skeleton
from causal_core.dag.diff import diff_and_carry
from causal_core.dag.effects import estimate_two_scales
from causal_core.dag.encode import encode
from causal_core.dag.fci import ALPHA, validate
from causal_core.dag.models import DagResult
from causal_core.dag.next_intervention import rank
from causal_core.dag.tags import projected_pairs, tag_edges
from causal_core.schemas import InterventionsFile


class DagInputError(ValueError):
    """The interventions cannot support any estimate (no usable records at all)."""


def estimate_dag(interventions: InterventionsFile, previous: DagResult | None = None,
                 alpha: float = ALPHA, prior_only_ok: bool = False, budget_mode: str = "steps",
                 local_scale: str | None = None, base: list[str] | None = None) -> DagResult:
    """`prior_only_ok`: with no usable record, return the expert skeleton with the catalog
    priors as effects instead of refusing (the loop in a clone without published records).
    `budget_mode`: which of the loop's experiments are evidence (those measured under it);
    the default "steps" is what every experiment was before budgets existed.
    `local_scale`: the scale key of the local effect column and of the ranking (default: the
    latest experiment's). `base`: interventions the user's configuration already has; the
    ranking then lists what to add to it (next_intervention.rank)."""
    enc = encode(interventions, budget_mode)
    if enc.n == 0 and not enc.experiments and not prior_only_ok:
        raise DagInputError(f"no usable records ({len(interventions.records)} in file; "
                            "each needs a finite val_bpb or an experiment outcome)")
    warnings = list(enc.warnings)
    if enc.other_budget_experiments:
        other = "time" if budget_mode == "steps" else "steps"
        warnings.append(f"{len(enc.other_budget_experiments)} experiment(s) measured under a {other} budget "
                        f"({', '.join(sorted({e.intervention for e in enc.other_budget_experiments}))}) are reported "
                        f"in other_budget_experiments, not used as evidence for {budget_mode}-budget effects")
    effects, transfer, local_scale = estimate_two_scales(enc, local_scale=local_scale)
    by_name = {e.intervention: e for e in effects}
    pag, fci_report = validate(enc, alpha=alpha)
    if fci_report.fallback:
        warnings.append(f"FCI validation skipped: {fci_report.fallback}")
    edges = tag_edges(pag, by_name, enc.experiments)
    if pag is not None:
        implied = projected_pairs([(e.source, e.target) for e in edges], set(pag.variables))
        fci_report.unexplained_adjacencies = sorted(" - ".join(sorted(p)) for p in pag.adjacent - implied)
    d = diff_and_carry(edges, previous)
    candidates = rank(by_name, edges, enc.experiments, base=base)
    if not candidates:
        warnings.append("no eligible next_intervention: every actionable intervention is settled or contradicted")
    return DagResult(
        cycle=(previous.cycle + 1) if previous else 1, nodes=skeleton.nodes(),
        mediators=list(skeleton.MEDIATORS), edges=edges, effects=effects,
        next_intervention=candidates[0] if candidates else None, candidates=candidates,
        fci=fci_report, diff=d, n_records=enc.n, n_experiments=len(enc.experiments), warnings=warnings,
        budget_mode=budget_mode, other_budget_experiments=enc.other_budget_experiments,
        local_scale=local_scale, transfer=transfer)
