"""What the cycle-0 diagnostics (S8-S11) and identifiability (S5) change in the loop: one rule table.

| diagnostic | finding | what the loop does |
|---|---|---|
| quant gap (S9) | gap > 3 x the largest training effect (threshold recomputed from the experiment log once a cycle has finished) | the next proposal favours interventions that lower the gap (GAP_LOWERING), and says why |
| influence (S10) | CV < 0.1 | a documented null: influence cannot rank training data here |
| influence (S10) | CV >= 0.1 | the ranking is published (UI artifact, final report) |
| token loss (S8) | per-bucket bpb of the confirmed configuration vs the baseline | the final report says where the improvement came from |
| grad attribution (S11) | per-phase layer norms and their correlation with val_loss | reported (no decision reads it) |
| identifiability (S5) | > 50% of an edge's records are multi-variable (and no single-variable record or experiment) | the observational estimate is skipped: the proposal uses the expert prior and a randomized test decides |

Prefect-free; proposal.py and report.py call these. Files read: cycle_0/diagnostics/*.json,
cycle_0/identifiability.json, experiment_log.json.
"""
from __future__ import annotations

import json
from pathlib import Path

from causal_core.atomic import atomic_write_json
from causal_core.loop.layout import LoopLayout

# Skeleton edges into the quantization gap (causal_core/dag/skeleton.py _DIRECT_REASONS).
GAP_LOWERING = ("qat", "fp16_embeddings", "mixed_precision_quant", "gptq")
INFLUENCE_NULL_CV = 0.1
MULTI_VARIABLE_SHARE = 0.5


def _read(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def quant_gap_verdict(layout: LoopLayout) -> dict | None:
    """The gap against 3 x the largest effect. When cycle 0 ran before any effect existed, the
    threshold is recomputed from the experiment log (quant_gap_threshold.json) as soon as one does."""
    diag = layout.cycle(0).diagnostics_dir
    q = _read(diag / "quant_gap.json")
    if q is None:
        return None
    out = {"gap_bpb": q["gap_bpb"], "threshold_bpb": q.get("threshold_bpb"),
           "largest_effect_bpb": q.get("largest_effect_bpb"), "exceeds": q.get("gap_exceeds_threshold"),
           "basis": "at cycle 0"}
    if layout.experiment_log.is_file():
        from causal_core.diagnostics.quant_gap import GAP_FACTOR, largest_effect
        largest, effects = largest_effect([layout.experiment_log])
        if largest is not None and largest != out["largest_effect_bpb"]:
            out.update(largest_effect_bpb=largest, threshold_bpb=GAP_FACTOR * largest,
                       exceeds=bool(q["gap_bpb"] > GAP_FACTOR * largest),
                       basis=f"recomputed from {len(effects)} finished experiment(s)")
            atomic_write_json(diag / "quant_gap_threshold.json", out)
    return out


def favour_gap_lowering(candidates: list, layout: LoopLayout) -> tuple[list, str]:
    """Candidates with the gap-lowering ones first when the gap exceeds its threshold, and the reason."""
    v = quant_gap_verdict(layout)
    if not v or not v["exceeds"]:
        return candidates, ""
    first = [c for c in candidates if c.intervention in GAP_LOWERING]
    if not first:
        return candidates, ""
    note = (f"quant gap {v['gap_bpb']:+.4f} bpb exceeds 3 x the largest training effect "
            f"({v['threshold_bpb']:.4f}, {v['basis']}): export/quantization interventions are favoured")
    return first + [c for c in candidates if c.intervention not in GAP_LOWERING], note


def identifiability_note(layout: LoopLayout, intervention: str) -> tuple[float | None, str]:
    """(expert prior, reason) when the edge's observational estimate is skipped, else (None, "")."""
    rep = _read(layout.cycle(0).identifiability)
    if not rep:
        return None, ""
    edge = next((e for e in rep.get("edges", []) if e["intervention"] == intervention), None)
    if edge is None or edge["recommendation"] != "skip":
        return None, ""
    from causal_core import catalog
    prior = catalog.get(intervention).prior_effect_bpb
    n = rep.get("n_records") or 0
    share = rep.get("multi_variable_records", 0) / n if n else 1.0
    return prior, (f"identifiability: {edge['multi_variable_records']} multi-variable and "
                   f"{edge['single_variable_records']} single-variable records of it, {share:.0%} of all records "
                   f"multi-variable (> {MULTI_VARIABLE_SHARE:.0%}): the observational estimate is skipped, the expected "
                   f"effect is the expert prior {prior:+.4f} and this randomized test decides")


def influence_verdict(layout: LoopLayout) -> dict | None:
    r = _read(layout.cycle(0).diagnostics_dir / "influence.json")
    if r is None:
        return None
    cv = r.get("cv")
    if cv is not None and cv < INFLUENCE_NULL_CV:
        return {"null": True, "cv": cv, "finding": f"documented null: influence cannot rank training data here "
                                                    f"(CV {cv:.3f} < {INFLUENCE_NULL_CV})"}
    top = [{k: s.get(k) for k in ("chunk", "shard", "offset", "score", "cos_with_val") if k in s}
           for s in r.get("scores_sorted", [])[:10]]
    return {"null": False, "cv": cv, "ranking": top,
            "finding": f"scores vary (CV {'inf' if cv is None else f'{cv:.3f}'}): the ranking of "
                       f"{r.get('chunks_scored')} training chunks is an artifact"}


def token_loss_comparison(baseline: dict, confirmed: dict) -> dict:
    """Per-bucket bpb contributions of the confirmed configuration minus the baseline's, and where
    the improvement came from (the buckets that carry most of the reduction, per partition)."""
    out = {"val_bpb_baseline": baseline["val_bpb"], "val_bpb_confirmed": confirmed["val_bpb"],
           "delta_bpb": confirmed["val_bpb"] - baseline["val_bpb"], "partitions": {}}
    for part in ("frequency", "position"):
        b, c = baseline["categories"][part], confirmed["categories"][part]
        deltas = {g: c[g]["bpb_contribution"] - b[g]["bpb_contribution"] for g in b if g in c}
        total = sum(deltas.values())
        gains = {g: d for g, d in deltas.items() if d < 0}
        where = max(gains, key=lambda g: -gains[g]) if gains else None
        out["partitions"][part] = {
            "delta_bpb_contribution": deltas,
            "mean_loss": {g: {"baseline": b[g]["mean_loss"], "confirmed": c[g]["mean_loss"]} for g in deltas},
            "improvement_from": where,
            "share_of_improvement": (gains[where] / sum(gains.values())) if where else None,
            "sum_delta": total}
    return out


def plan_notes(layout: LoopLayout) -> list[str]:
    """What the diagnostics changed: the diagnostic reasons the loop's proposals carry."""
    from causal_core.loop.state import load_plan
    out = []
    for d in sorted(layout.root.glob("cycle_*"), key=lambda p: int(p.name.split("_")[1])):
        plan = load_plan(layout.cycle(int(d.name.split("_")[1])))
        if plan is None:
            continue
        for part in plan.why.split("; "):
            if part.startswith(("quant gap ", "identifiability: ")):
                out.append(f"cycle {plan.cycle} ({plan.intervention}): {part}")
    return out
