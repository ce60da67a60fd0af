"""Which intervention the loop should test next.

Eligible: interventions the trainer can switch (catalog.actionable()), not already settled
by the loop's own experiments (tags.loop_status: confirmed or refuted), whose edge toward
val_bpb is still open (uncertain or expert_imposed). If every open edge is exhausted, edges
confirmed only observationally are eligible too (observational confirmation is not a
randomized test), and the reason says so.

Ranking: expected improvement E[max(0, -effect)] under the normal posterior of the effect,
mu' Phi(mu'/s) + s phi(mu'/s) with mu' = -mean. It rewards a large expected gain and, among
similar gains, more remaining uncertainty (more to learn), unlike the posterior mean alone.
"""
from __future__ import annotations

from scipy import stats

from causal_core.catalog import actionable
from causal_core.dag import skeleton
from causal_core.dag.models import Candidate, DagEdge, EffectEstimate
from causal_core.dag.tags import loop_status
from causal_core.schemas import ExperimentOutcome

OPEN = ("uncertain", "expert_imposed")


def expected_improvement(mean: float, sd: float) -> float:
    m = -mean
    if sd <= 0:
        return max(m, 0.0)
    z = m / sd
    return float(m * stats.norm.cdf(z) + sd * stats.norm.pdf(z))


def _outcome_tag(name: str, edges: list[DagEdge]) -> str:
    """The weakest-evidence tag on the intervention's edges toward val_bpb (open beats confirmed)."""
    tags = [e.tag for e in edges if e.source == name and e.target != "artifact_bytes"
            and (e.target == skeleton.OUTCOME or e.target in skeleton.MEDIATORS)]
    for t in ("uncertain", "expert_imposed", "data_confirmed", "data_contradicted"):
        if t in tags:
            return t
    return "data_contradicted"


def rank(effects: dict[str, EffectEstimate], edges: list[DagEdge],
         experiments: list[ExperimentOutcome]) -> list[Candidate]:
    settled = loop_status(experiments)
    pool = []
    for entry in actionable():
        eff = effects.get(entry.name)
        if eff is None or entry.name in settled:
            continue
        tag = _outcome_tag(entry.name, edges)
        if tag == "data_contradicted":
            continue
        ei = expected_improvement(eff.effect_bpb, eff.sd)
        why = (f"{tag} edge to val_bpb; posterior effect {eff.effect_bpb:+.4f} bpb "
               f"[{eff.ci_low:+.4f}, {eff.ci_high:+.4f}] ({eff.source}, {eff.n_present} records); "
               f"expected improvement {ei:.4f} bpb")
        pool.append(Candidate(intervention=entry.name, expected_effect_bpb=eff.effect_bpb,
                              expected_improvement_bpb=ei, edge_tag=tag, reason=why))
    open_ = [c for c in pool if c.edge_tag in OPEN]
    if not open_:
        for c in pool:
            c.reason += "; no open edge left, so observationally confirmed edges are re-tested"
        open_ = pool
    return sorted(open_, key=lambda c: (-c.expected_improvement_bpb, c.intervention))
