"""Turn the expert skeleton plus evidence into tagged edges.

Rules (an edge s -> t of the skeleton; latent mediators are judged through the observed
variables they connect, since FCI only sees observed columns):
  * loop experiment on intervention X settles X's edges toward val_bpb: a confirmed
    improvement -> data_confirmed, a refutation (see loop_status) -> data_contradicted;
  * otherwise, if FCI did not run (degenerate input) -> expert_imposed, unchanged;
  * FCI adjacency between an observed stand-in of s and of t -> data_confirmed, unless the
    PAG orients it definitely t --> s, which contradicts the expert direction;
  * no adjacency -> data_contradicted only when the effect of s is also practically null
    (its 95% interval inside +-NULL_MARGIN_BPB); absence of adjacency alone is lack of
    power at n ~ 45, not evidence -> uncertain.
"""
from __future__ import annotations

from causal_core.catalog import NAMES
from causal_core.dag import skeleton
from causal_core.dag.fci import Pag
from causal_core.dag.models import DagEdge, EffectEstimate
from causal_core.schemas import ExperimentOutcome

NULL_MARGIN_BPB = 0.001   # below seed-to-seed noise of the records: practically no effect


def loop_status(experiments: list[ExperimentOutcome]) -> dict[str, str]:
    """Per intervention: 'confirmed' or 'refuted' by the loop's own experiments.

    confirmed: some experiment's decision is 'confirmed' with a negative (improving) effect.
    refuted:   an experiment completed without an improvement: decision 'null' (its interval
               includes zero), or 'confirmed' with effect >= 0 (a confirmed harm).
    'suggestive' and 'failed' settle nothing. A later confirmation beats an earlier null.
    """
    out: dict[str, str] = {}
    for ex in experiments:
        if ex.decision == "confirmed" and ex.effect_bpb is not None and ex.effect_bpb < 0:
            out[ex.intervention] = "confirmed"
        elif ex.decision == "null" or (ex.decision == "confirmed" and (ex.effect_bpb or 0) >= 0):
            out.setdefault(ex.intervention, "refuted")
    return out


def _downstream(node: str, edges: list[tuple[str, str]], observed: set[str]) -> set[str]:
    """Observed variables reached from `node` through latent mediators only."""
    if node in observed:
        return {node}
    found: set[str] = set()
    for s, t in edges:
        if s == node:
            found |= _downstream(t, edges, observed)
    return found


def _upstream(node: str, edges: list[tuple[str, str]], observed: set[str]) -> set[str]:
    if node in observed:
        return {node}
    found: set[str] = set()
    for s, t in edges:
        if t == node:
            found |= _upstream(s, edges, observed)
    return found


def projected_pairs(edges: list[tuple[str, str]], observed: set[str]) -> set[frozenset[str]]:
    """Adjacencies the skeleton implies among observed variables (latent mediators marginalized)."""
    pairs = set()
    for s, t in edges:
        for a in _upstream(s, edges, observed):
            for b in _downstream(t, edges, observed):
                if a != b:
                    pairs.add(frozenset((a, b)))
    return pairs


def tag_edges(pag: Pag | None, effects: dict[str, EffectEstimate],
              experiments: list[ExperimentOutcome]) -> list[DagEdge]:
    status = loop_status(experiments)
    pairs = [(s, t) for s, t, _ in skeleton.EDGES]
    observed = set(pag.variables) if pag else set()
    out = []
    for s, t, reason in skeleton.EDGES:
        e = DagEdge(source=s, target=t, reason=reason)
        to_outcome = skeleton.OUTCOME in _downstream(t, pairs, set(NAMES) | {skeleton.OUTCOME})
        if s in status and t not in NAMES and to_outcome:
            e.tag = "data_confirmed" if status[s] == "confirmed" else "data_contradicted"
            e.evidence = f"loop experiment: {status[s]}"
        elif pag is not None:
            _tag_from_pag(e, pag, pairs, observed, effects)
        out.append(e)
    return out


def _tag_from_pag(e: DagEdge, pag: Pag, pairs, observed, effects) -> None:
    srcs, dsts = _upstream(e.source, pairs, observed), _downstream(e.target, pairs, observed)
    if not srcs or not dsts:
        e.tag, e.evidence = "uncertain", "not testable: a column is (near-)constant in the records"
        return
    hits = [(a, b) for a in srcs for b in dsts if pag.is_adjacent(a, b)]
    if any((a, b) in pag.reversed_ for a, b in hits) and e.source in observed and e.target in observed:
        e.tag, e.evidence = "data_contradicted", "FCI orients this edge the other way"
    elif hits:
        e.tag, e.evidence = "data_confirmed", "FCI adjacency " + ", ".join(f"{a} - {b}" for a, b in hits[:3])
    else:
        eff = effects.get(e.source)
        null = eff is not None and -NULL_MARGIN_BPB < eff.ci_low and eff.ci_high < NULL_MARGIN_BPB
        if null and e.source in NAMES and e.target not in NAMES:
            e.tag, e.evidence = "data_contradicted", "no FCI adjacency and effect interval within +-0.001 bpb"
        else:
            e.tag, e.evidence = "uncertain", "no FCI adjacency (n too small to call it absent)"
