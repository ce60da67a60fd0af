"""Metrics of the search benchmark (pure functions; tested on synthetic curves).

Vocabulary (docs/search_benchmark.md has the long form):
- claim after n runs: the configuration a method would hand a user after its first n runs.
  TPE/random: the best trial so far (lowest single-seed val_bpb, earliest on ties) when it
  beats the baseline trial, else the baseline (no claim). Loop: the union of the
  interventions it CONFIRMED (its gate + refutation) in cycles finished within n runs.
- held-out check: the claimed configuration and the baseline, paired on fresh evaluation
  seeds never used by any search; the loop's own gate (stats.decide: mean paired effect
  <= -MDE and two-sided paired-t p < alpha) decides whether the claim REPLICATES.
- confirmed val_bpb after n runs: the held-out mean of the claim when it replicates, else
  the held-out baseline mean (a user who checks would keep the baseline).
- shipped val_bpb: the held-out mean of the claim whether or not it replicates.
- false discovery: a claim (anything but the baseline) that does not replicate.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from causal_core.experiments.stats import decide

Config = tuple[str, ...]


def search_claims(history: Sequence[dict], budget: int) -> tuple[list[Config], list[float | None]]:
    """(claim after n runs, raw best-so-far single-seed val_bpb after n runs), n = 1..budget."""
    claims: list[Config] = []
    best_raw: list[float | None] = []
    base_val = next((h["val_bpb"] for h in history if not h["config"] and h["val_bpb"] is not None), None)
    best_v, best_c = math.inf, ()
    for h in list(history)[:budget]:
        if not h["config"] and base_val is None and h["val_bpb"] is not None:
            base_val = h["val_bpb"]
        v = h["val_bpb"]
        if v is not None and v < best_v:
            best_v, best_c = v, tuple(h["config"])
        beats = base_val is None or best_v < base_val
        claims.append(best_c if (best_c and beats) else ())
        best_raw.append(None if best_v == math.inf else best_v)
    return claims, best_raw


def loop_claims(cycles: Sequence[dict], budget: int, order: Sequence[str] | None = None) -> list[Config]:
    """Union of the loop's confirmed interventions over cycles finished within n runs."""
    out: list[Config] = []
    for n in range(1, budget + 1):
        on = {c["intervention"] for c in cycles if c["decision"] == "confirmed" and c["cum_runs"] <= n}
        out.append(tuple(sorted(on, key=(order.index if order else None))))
    return out


def heldout_verdict(cfg_vals: Sequence[float | None], base_vals: Sequence[float | None],
                    mde: float = 0.002, alpha: float = 0.05) -> dict:
    """The loop's gate on paired held-out runs (claim - baseline, one pair per evaluation seed)."""
    pairs = [(c, b) for c, b in zip(cfg_vals, base_vals) if c is not None and b is not None]
    c = np.array([p[0] for p in pairs], float)
    b = np.array([p[1] for p in pairs], float)
    d = c - b
    effect = float(d.mean()) if d.size else None
    p = None
    if d.size >= 2:
        p = 1.0 if np.std(d) == 0 else float(sps.ttest_rel(c, b).pvalue)
    failed = len(pairs) < len(cfg_vals) - 1       # 2+ seeds lost, as the runner's rule
    decision = decide(n_pairs=d.size, effect=effect, p_adjusted=p, p_raw=p, mde=mde, alpha=alpha,
                      condition_failed=failed)
    return {"n_pairs": int(d.size), "effect": effect, "p": p, "decision": decision,
            "replicates": decision == "confirmed",
            "mean": float(c.mean()) if c.size else None, "base_mean": float(b.mean()) if b.size else None}


def curves(claims: Sequence[Config], verdicts: dict[Config, dict], base_mean: float) -> tuple[list[float], list[float]]:
    """(confirmed, shipped) val_bpb after n runs, n = 1..len(claims)."""
    confirmed, shipped = [], []
    for c in claims:
        if not c:
            confirmed.append(base_mean)
            shipped.append(base_mean)
            continue
        v = verdicts[c]
        mean = v["mean"] if v["mean"] is not None else math.inf
        shipped.append(mean)
        confirmed.append(mean if v["replicates"] else base_mean)
    return confirmed, shipped


def runs_to_reach(curve: Sequence[float], threshold: float) -> int | None:
    """First n (1-based) with curve[n-1] <= threshold; None if never within the curve."""
    for i, v in enumerate(curve):
        if v <= threshold + 1e-12:
            return i + 1
    return None


def false_discoveries(claims: Sequence[Config], verdicts: dict[Config, dict], n: int) -> tuple[int, int]:
    """(claims, false discoveries) of the claim after n runs: (0|1, 0|1)."""
    c = claims[min(n, len(claims)) - 1]
    if not c:
        return 0, 0
    return 1, 0 if verdicts[c]["replicates"] else 1


def distinct_claims(claims: Sequence[Config]) -> list[Config]:
    seen: list[Config] = []
    for c in claims:
        if c and c not in seen:
            seen.append(c)
    return seen


def summary(values: Sequence[float | None]) -> dict:
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    a = np.array(xs, float)
    return {"n": len(xs), "mean": float(a.mean()), "sd": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max())}
