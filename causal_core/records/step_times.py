"""What an intervention costs per step on the challenge's hardware, from the records.

Each published record's main log gives its 8xH100 training ms per step (`h100_step_avg_ms`,
extracted by records/build.py via logparse.step_time). Two records that differ in an
intervention give that intervention's H100 step-time ratio (with / without):
  * parent_child: a record and the parent it names (crossref-resolved); the ratio is charged
    to each intervention the child added, and `also_changed` lists whatever else differs
    between the two (the ratio is then of the whole change, not of the one intervention);
  * differ_only_in: two siblings (same resolved parent) whose extracted intervention sets
    differ in exactly that one intervention (also_changed is empty).
The local ratio (treatment / control ms per step from the calibration) is what a time-budget
experiment used; the H100 ratio is what the challenge will charge. Both go in the cycle artifact.
"""
from __future__ import annotations

from math import exp, fsum, log
from typing import Literal

from pydantic import BaseModel, Field

from causal_core.schemas import InterventionsFile, RecordEntry


class RatioEvidence(BaseModel):
    intervention: str
    ratio: float                    # H100 ms/step with the intervention / without it
    with_record: str
    without_record: str
    with_ms: float
    without_ms: float
    kind: Literal["parent_child", "differ_only_in"]
    also_changed: list[str] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.also_changed


def _timed(data: InterventionsFile) -> dict[str, RecordEntry]:
    return {r.record_id: r for r in data.records if r.h100_step_avg_ms and r.experiment is None}


def h100_step_ratios(data: InterventionsFile) -> dict[str, list[RatioEvidence]]:
    """{intervention: evidence}, parent/child pairs first, each pair of records once."""
    recs = _timed(data)
    out: dict[str, list[RatioEvidence]] = {}
    seen: set[tuple[str, str, str]] = set()

    def add(x: str, w: RecordEntry, wo: RecordEntry, kind, also: set[str]) -> None:
        if (x, w.record_id, wo.record_id) in seen:
            return
        seen.add((x, w.record_id, wo.record_id))
        out.setdefault(x, []).append(RatioEvidence(
            intervention=x, ratio=round(w.h100_step_avg_ms / wo.h100_step_avg_ms, 4), with_record=w.record_id,
            without_record=wo.record_id, with_ms=w.h100_step_avg_ms, without_ms=wo.h100_step_avg_ms, kind=kind,
            also_changed=sorted(also)))

    for child in recs.values():
        parent = recs.get(child.parent or "")
        if parent is None:
            continue
        c, p = set(child.intervention_names()), set(parent.intervention_names())
        added = (set(child.delta_interventions) - p) or (c - p)
        changed = (c ^ p) | added
        for x in sorted(added):
            add(x, child, parent, "parent_child", changed - {x})
    ids = sorted(recs)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            # Siblings only: extraction misses much of what two unrelated records change, so a
            # one-intervention difference between strangers says little about their step times.
            if not recs[a].parent or recs[a].parent != recs[b].parent:
                continue
            diff = set(recs[a].intervention_names()) ^ set(recs[b].intervention_names())
            if len(diff) == 1:
                x = diff.pop()
                w, wo = (recs[a], recs[b]) if x in recs[a].intervention_names() else (recs[b], recs[a])
                add(x, w, wo, "differ_only_in", set())
    return out


def summary(evidence: list[RatioEvidence]) -> tuple[float | None, int, bool]:
    """(geometric mean ratio, number of pairs, whether it uses only clean pairs): clean pairs
    when there are any, else every pair (then the ratio is of the bundled changes)."""
    use = [e for e in evidence if e.clean] or evidence
    if not use:
        return None, 0, False
    return round(exp(fsum(log(e.ratio) for e in use) / len(use)), 4), len(use), all(e.clean for e in use)


def ratio_lines(intervention: str, local_ratio: float | None, evidence: list[RatioEvidence], limit: int = 4) -> list[str]:
    """Markdown: the local step-time ratio beside the H100 evidence from the records."""
    mean, n, clean = summary(evidence)
    local = f"{local_ratio:.3f}" if local_ratio else "n/a"
    if mean is None:
        h100 = "no pair of records isolates it"
    else:
        h100 = f"{mean:.3f} (geometric mean of {n} record pair(s){'' if clean else ', bundled with other changes'})"
    lines = [f"Step-time ratio of `{intervention}` (treatment / control ms per step): local {local}; "
             f"8xH100 from the records {h100}."]
    for e in sorted(evidence, key=lambda e: (not e.clean, e.kind))[:limit]:
        also = f"; also changed: {', '.join(e.also_changed)}" if e.also_changed else ""
        lines.append(f"- {e.ratio:.3f} = {e.with_ms:g} / {e.without_ms:g} ms ({e.kind}: `{e.with_record}` vs "
                     f"`{e.without_record}`{also})")
    return lines
