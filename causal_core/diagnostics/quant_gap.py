"""Quantization gap: val_bpb before and after the trainer's own export round trip.

pre  = evaluate(checkpoint weights)
post = evaluate(dequantize(decompress(compress(quantize(weights)))))   # train_gpt_mlx.serialize/deserialize_artifact
gap  = post - pre (bpb; positive = export loses)

The gap is compared with the largest training effect seen so far (|mean paired difference| over
experiment_log.json entries / stats.json files, or a figure given with --largest-effect): a gap
above 3x that effect means export noise would swamp the effects being measured.
"""
from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

import numpy as np

from causal_core.diagnostics.common import (DEFAULT_OUT, DiagnosticError, Timer, ensure_checkpoint, load_checkpoint,
                                            token_loss_fn, trainer, val_data, write_result)

GAP_FACTOR = 3.0
DEFAULT_EFFECT_SOURCES = ("results/causal/experiment_log.json", "results/causal/**/stats.json")


def _effects_from_log(entries: list) -> list[tuple[str, float]]:
    out = []
    for e in entries:
        if not isinstance(e, dict):
            continue
        by_seed: dict[Any, dict[str, float]] = {}
        for r in e.get("runs") or []:
            if isinstance(r, dict) and r.get("val_bpb") is not None and r.get("status", "ok") in ("ok", "done", "completed", "success"):
                by_seed.setdefault(r.get("seed"), {})[r.get("condition")] = float(r["val_bpb"])
        diffs = [d["treatment"] - d["control"] for d in by_seed.values() if {"treatment", "control"} <= d.keys()]
        if diffs:
            out.append((str(e.get("experiment_id") or e.get("entry_id")), float(np.mean(diffs))))
    return out


def largest_effect(sources: list[str | Path] | None = None) -> tuple[float | None, list[dict]]:
    """Largest |effect| (val_bpb) over experiment logs / stats files; (None, []) when none is found.

    Sources: experiment_log.json (a list of entries with paired runs; effect = mean over seeds of
    treatment - control) or stats.json (`effect_bpb`, one analysis or a list). Globs are expanded.
    """
    found: list[dict] = []
    for src in sources if sources is not None else DEFAULT_EFFECT_SOURCES:
        for path in sorted(glob.glob(str(src), recursive=True)) if any(ch in str(src) for ch in "*?[") else [src]:
            p = Path(path)
            if not p.is_file():
                continue
            try:
                data = json.loads(p.read_text())
            except (OSError, ValueError):
                raise DiagnosticError(f"effect source {p} is not readable JSON") from None
            items = data if isinstance(data, list) else [data]
            if any(isinstance(i, dict) and "runs" in i for i in items):
                found += [{"source": str(p), "experiment": k, "effect_bpb": v} for k, v in _effects_from_log(items)]
            else:
                found += [{"source": str(p), "experiment": str(i.get("experiment_id", "")), "effect_bpb": float(i["effect_bpb"])}
                          for i in items if isinstance(i, dict) and i.get("effect_bpb") is not None]
    if not found:
        return None, []
    best = max(found, key=lambda f: abs(f["effect_bpb"]))
    return abs(best["effect_bpb"]), found


def quant_gap_report(model, c, *, largest: float | None = None, per_category: bool = False,
                     counts: np.ndarray | None = None) -> dict:
    """Pre/post export val_bpb of a loaded model (the model is left holding the round-tripped weights)."""
    T = trainer()
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    val = val_data(c)
    val_tokens, luts = val
    if per_category:
        from causal_core.diagnostics.token_loss import token_loss_report, train_token_counts
        counts = train_token_counts(c) if counts is None else counts
        pre_cat, _ = token_loss_report(model, c, counts=counts, val=val)
    fn = token_loss_fn(model)
    if per_category:   # the token-loss pass runs the trainer's evaluate itself: reuse its numbers
        pre_loss, pre_bpb, n = pre_cat["val_loss"], pre_cat["val_bpb"], pre_cat["scored_tokens"]
    else:
        pre_loss, pre_bpb, n = T.evaluate(c, fn, val_tokens, luts)
    state = {k: np.array(v.astype(mx.float32)) for k, v in tree_flatten(model.parameters())}
    blob, stats = T.serialize_artifact(c, state)
    rt = T.deserialize_artifact(blob)
    err = {k: float(np.max(np.abs(rt[k] - state[k]))) if state[k].size else 0.0 for k in state}
    model.update(tree_unflatten([(k, mx.array(v)) for k, v in rt.items()]))
    mx.eval(model.parameters())
    if per_category:
        post_cat, _ = token_loss_report(model, c, counts=counts, val=val)
        post_loss, post_bpb = post_cat["val_loss"], post_cat["val_bpb"]
    else:
        post_loss, post_bpb, _ = T.evaluate(c, fn, val_tokens, luts)
    gap = post_bpb - pre_bpb
    rep: dict[str, Any] = {
        "pre_val_loss": pre_loss, "pre_val_bpb": pre_bpb, "post_val_loss": post_loss, "post_val_bpb": post_bpb,
        "gap_bpb": gap, "gap_loss": post_loss - pre_loss, "scored_tokens": n,
        "export": {"quant_bits": c.quant_bits, "quant_bits_mlp": c.quant_bits_mlp, "quant_bits_attn": c.quant_bits_attn,
                   "compressor": c.compressor, "prune_frac": c.prune_frac, "fp16_embed": bool(c.fp16_embed),
                   "int8_keep_float_max_numel": c.int8_keep_float_max_numel, "artifact_bytes": len(blob),
                   "plans": {k: T.export_plan(c, k, v) for k, v in state.items()}, **stats},
        "max_abs_weight_error": max(err.values()) if err else 0.0,
        "largest_effect_bpb": largest, "gap_factor": GAP_FACTOR,
        "threshold_bpb": None if largest is None else GAP_FACTOR * largest,
        "gap_exceeds_threshold": None if largest is None else bool(gap > GAP_FACTOR * largest),
    }
    if per_category:
        cmp = {}
        for part in ("frequency", "position"):
            cmp[part] = {g: {"pre_bpb_contribution": pre_cat["categories"][part][g]["bpb_contribution"],
                             "post_bpb_contribution": post_cat["categories"][part][g]["bpb_contribution"],
                             "delta": post_cat["categories"][part][g]["bpb_contribution"]
                             - pre_cat["categories"][part][g]["bpb_contribution"],
                             "pre_mean_loss": pre_cat["categories"][part][g]["mean_loss"],
                             "post_mean_loss": post_cat["categories"][part][g]["mean_loss"]}
                         for g in pre_cat["categories"][part]}
        rep["per_category"] = cmp
    return rep


def quant_gap(checkpoint: str | Path | None = None, *, data_path: str | Path | None = None, tokenizer_path: str | None = None,
              out_dir: str | Path = DEFAULT_OUT, largest_effect_bpb: float | None = None,
              effect_sources: list[str | Path] | None = None, overrides: dict[str, str] | None = None,
              per_category: bool = False, log=print) -> dict:
    """`causal-golf diag quant-gap` as a function; writes out_dir/quant_gap.json and returns the report.

    overrides: export variables to try instead of the checkpoint's (e.g. {"QUANT_BITS": "4"}).
    largest_effect_bpb wins over effect_sources (default: results/causal experiment log and stats).
    """
    t = Timer()
    ck, prov = ensure_checkpoint(checkpoint, log=log)
    model, c = load_checkpoint(ck, data_path, overrides, tokenizer_path=tokenizer_path)
    if largest_effect_bpb is not None:
        if not (largest_effect_bpb >= 0):
            raise DiagnosticError(f"{{param}} {largest_effect_bpb} must be a non-negative number", "largest_effect_bpb")
        largest, effects, basis = float(largest_effect_bpb), [], "given"
    else:
        largest, effects = largest_effect(effect_sources)
        basis = "experiments" if largest is not None else "none found"
    rep = quant_gap_report(model, c, largest=largest, per_category=per_category)
    rep = {"diagnostic": "quant_gap", "checkpoint": str(ck.config_path), "provenance": prov,
           "overrides": dict(overrides or {}), "largest_effect_basis": basis, "effects_seen": effects[:50], **rep,
           "seconds": t.s()}
    rep["output"] = str(write_result(out_dir, "quant_gap", rep))
    return rep
