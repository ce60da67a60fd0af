"""Compare this cycle's DAG with the previous one; carry per-edge stability forward."""
from __future__ import annotations

from causal_core.dag.models import TAG_STRENGTH, DagDiff, DagEdge, DagResult, EdgeStability

HISTORY = 20   # tags kept per edge in dag.json


def _present(e: DagEdge) -> bool:
    # a contradicted edge is one the data argues is absent
    return e.tag != "data_contradicted"


def diff_and_carry(edges: list[DagEdge], previous: DagResult | None) -> DagDiff | None:
    """Fill `stability` on `edges` in place and return the diff (None on the first cycle)."""
    if previous is None:
        for e in edges:
            e.stability = EdgeStability(cycles_seen=int(_present(e)), tag_history=[e.tag])
        return None
    old = {e.key: e for e in previous.edges}
    d = DagDiff()
    for e in edges:
        p = old.pop(e.key, None)
        if p is None:
            e.stability = EdgeStability(cycles_seen=int(_present(e)), tag_history=[e.tag])
            if _present(e):
                d.added.append(e.key)
            continue
        s = p.stability
        e.stability = EdgeStability(
            cycles_seen=s.cycles_seen + int(_present(e)), cycles_total=s.cycles_total + 1,
            same_tag_streak=s.same_tag_streak + 1 if p.tag == e.tag else 1,
            tag_history=(s.tag_history + [e.tag])[-HISTORY:])
        if _present(p) and not _present(e):
            d.removed.append(e.key)
        elif _present(e) and not _present(p):
            d.added.append(e.key)
        elif TAG_STRENGTH[e.tag] > TAG_STRENGTH[p.tag]:
            d.strengthened.append(e.key)
        elif TAG_STRENGTH[e.tag] < TAG_STRENGTH[p.tag]:
            d.weakened.append(e.key)
    d.removed += [k for k, p in old.items() if _present(p)]   # edges dropped from the skeleton itself
    return d
