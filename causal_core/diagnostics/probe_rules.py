"""The probe's verification table and decision rules, as data, over the two arms' projection logs.

Inputs are the rows of OUT_DIR/RUN_ID_projection.jsonl of a vanilla arm (PROJECT_DIRECTION_LOG_ONLY=1)
and a projected arm, with mixed replay pools on (PROBE_POOL_A/B: each row has `samples`, one record
per sample: src_pool, loss, cos, grad_norm, targets). `probe_metrics` reduces them to numbers;
VERIFICATION (one row per check: what success, a likely fail and a sneaky fail look like) and
DECISIONS (what the loop does about the sweep) are judged on those numbers only, so a synthetic
log triggers each rule exactly as a real one would (tests/test_probe_rules.py).
"""
from __future__ import annotations

import math

import numpy as np

ZERO_COS = 0.02        # |cos| below this counts as "about zero"

# Each row: a metric, then (op, threshold) for success, likely-fail and sneaky-fail; first match wins
# in the order likely-fail, sneaky-fail, success; none -> "inconclusive"; metric None -> "not measured".
VERIFICATION: list[dict] = [
    {"check": "within_batch_spread", "metric": "median_step_cos_std",
     "success": (">", 1e-3), "likely-fail": ("<=", 1e-6), "sneaky-fail": None,
     "why": "the per-sample signal must vary inside a mixed batch (the analogue of reward variance); "
            "zero spread means every sample pulls the same way and the pools are not told apart"},
    {"check": "vanilla_cos_in_positive", "metric": "vanilla_frac_cos_in_pos",
     "success": (">", 0.5), "likely-fail": ("<=", 0.5), "sneaky-fail": None,
     "why": "v should align with the training gradient on most vanilla steps, else there is nothing to remove"},
    {"check": "projected_cos_out_below_cos_in", "metric": "projected_n_out_below_in_of_20",
     "success": (">=", 16), "likely-fail": ("<", 16), "sneaky-fail": None,
     "why": "the projection removes the aligned component on at least 16 of the first 20 steps (scaled below 20)"},
    {"check": "frac_fired", "metric": "projected_mean_frac_fired",
     "success": (">=", 0.25), "likely-fail": ("<", 0.05), "sneaky-fail": ("<", 0.25),
     "why": "projection that fires on only a few modules changes little: a sneaky no-op"},
    {"check": "pool_discrimination", "metric": "pool_cos_gap",
     "success": (">", ZERO_COS), "likely-fail": ("<=", ZERO_COS), "sneaky-fail": None,
     "why": "pool A's per-sample cosines should exceed pool B's (v was fitted as A - B)"},
    {"check": "no_empty_bucket", "metric": "min_pool_targets",
     "success": (">", 0), "likely-fail": None, "sneaky-fail": ("<=", 0),
     "why": "a pool with no sample or no target in its category makes the discrimination meaningless"},
]

# Evaluated in order; every rule whose conditions all hold fires. The first firing rule with an
# `action` decides; `finding` rules only add a note. Nothing fires -> run the sweep under the cost ceiling.
DECISIONS: list[dict] = [
    {"name": "over_projection_bug", "when": [("projected_min_cos_out", "<", -1e-4)], "action": "stop",
     "why": "cos_out < 0 after projection: over-projection, a bug in the arm; fix it before any sweep"},
    {"name": "no_signal_skip", "when": [("vanilla_max_abs_cos_in", "<", ZERO_COS), ("abs_pool_cos_gap", "<", ZERO_COS)],
     "action": "skip",
     "why": "vanilla cos_in is about 0 on every step and the pools are not discriminated: the direction "
            "carries no training signal, so the sweep would measure noise",
     "alternatives": ["data_loader: reweight or reorder the pools directly (one paired experiment)",
                      "token-loss buckets (S8): target the bucket that carries the loss",
                      "influence (S10): rank training chunks by their pull on validation loss"]},
    {"name": "sweep_justified", "when": [("vanilla_frac_cos_in_above_0.2", ">=", 0.8)], "action": "run",
     "why": "vanilla cos_in > 0.2 consistently (>= 80% of steps): the direction is a real part of the gradient"},
    {"name": "mechanism_effective", "when": [("projected_mean_cos_in", "<", 0.05)], "action": None,
     "why": "projected cos_in < 0.05: training under projection no longer moves along v"},
]
_OPS = {">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b}


def _mean(xs) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def probe_metrics(vanilla: list[dict], projected: list[dict]) -> dict:
    samples = [s for r in [*vanilla, *projected] for s in r.get("samples", [])]
    by_pool = {p: [s for s in samples if s["src_pool"] == p] for p in ("A", "B")}
    cos = {p: _mean([s["cos"] for s in v if s.get("targets", 1) > 0]) for p, v in by_pool.items()}
    stds = [float(np.std([s["cos"] for s in r["samples"]])) for r in [*vanilla, *projected] if len(r.get("samples", [])) > 1]
    proj20 = [r for r in projected if r.get("frac_fired", 0) > 0][:20]
    fired_out = [c for r in projected for c in r.get("cos_out_fired", [r["cos_out"]] if r.get("frac_fired", 0) > 0 else [])]
    gap = cos["A"] - cos["B"] if None not in cos.values() else None
    n20 = sum(r["cos_out"] < r["cos_in"] for r in proj20)
    return {
        "n_vanilla_steps": len(vanilla), "n_projected_steps": len(projected),
        "median_step_cos_std": float(np.median(stds)) if stds else None,
        "vanilla_frac_cos_in_pos": _mean([r["cos_in"] > 0 for r in vanilla]),
        "vanilla_frac_cos_in_above_0.2": _mean([r["cos_in"] > 0.2 for r in vanilla]),
        "vanilla_max_abs_cos_in": max((abs(r["cos_in"]) for r in vanilla), default=None),
        # >= 16 of 20, scaled when fewer steps fired: reported as the equivalent count out of 20
        "projected_n_out_below_in_of_20": (20 * n20 / len(proj20)) if proj20 else None,
        "projected_mean_frac_fired": _mean([r["frac_fired"] for r in projected]),
        "projected_mean_cos_in": _mean([r["cos_in"] for r in projected]),
        "projected_min_cos_out": min(fired_out) if fired_out else None,
        "pool_cos": cos, "pool_cos_gap": gap, "abs_pool_cos_gap": abs(gap) if gap is not None else 0.0,
        "pool_samples": {p: len(v) for p, v in by_pool.items()},
        "min_pool_targets": min(sum(s.get("targets", 1) for s in v) for v in by_pool.values()) if samples else None,
    }


def verify(m: dict, table: list[dict] | None = None) -> list[dict]:
    out = []
    for row in VERIFICATION if table is None else table:
        v = m.get(row["metric"])
        outcome = "not measured"
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            outcome = "inconclusive"
            for kind in ("likely-fail", "sneaky-fail", "success"):
                rule = row.get(kind)
                if rule and _OPS[rule[0]](v, rule[1]):
                    outcome = kind
                    break
        out.append({"check": row["check"], "metric": row["metric"], "value": v, "outcome": outcome, "why": row["why"]})
    return out


def decide(m: dict, rules: list[dict] | None = None) -> dict:
    fired = []
    for r in DECISIONS if rules is None else rules:
        vals = [m.get(k) for k, _, _ in r["when"]]
        if all(v is not None and _OPS[op](v, thr) for v, (_, op, thr) in zip(vals, r["when"])):
            fired.append(r)
    decisive = next((r for r in fired if r.get("action")), None)
    action = decisive["action"] if decisive else "run"
    why = decisive["why"] if decisive else "no rule decided: run the sweep under the cost ceiling (cheap phase first)"
    return {"action": action, "why": why, "fired": [r["name"] for r in fired],
            "findings": [r["why"] for r in fired if r is not decisive],
            "alternatives": decisive.get("alternatives", []) if decisive else []}


def evaluate(vanilla: list[dict], projected: list[dict]) -> dict:
    """Metrics, the verification table and the decision for one vanilla + one projected log."""
    m = probe_metrics(vanilla, projected)
    return {"metrics": m, "verification": verify(m), "decision": decide(m)}
