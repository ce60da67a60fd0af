"""Gradient-direction probe and the projected-training phase gate.

Two data pools, A and B: shard globs ("shards:<glob>") or token categories of the validation
split ("freq:top|mid|tail", "pos:boundary|mid_sequence": each sample's loss is restricted to
the tokens of that category). Per weight matrix m, the direction is

    v_m = normalize(mean_A grad_m - mean_B grad_m)           (fit on the even samples)

or, with svd=True, that difference D kept only on the matrix's own singular pairs,
U diag(diag(U^T D V)) V^T (W = U S V^T), then normalized. On the held-out odd samples,
cos(grad_m, v_m) averaged over matrices is reported per pool. The direction file (param name
-> v) drives the trainer's PROJECT_DIRECTION arm; `check_gate` judges its projection log.
"""
from __future__ import annotations

import glob as _glob
import io
import math
from pathlib import Path

import numpy as np

from causal_core.atomic import atomic_write_bytes
from causal_core.diagnostics.common import (DEFAULT_OUT, DiagnosticError, Timer, out_folder, ensure_checkpoint, load_checkpoint,
                                            load_tokens, trainer, val_data, write_result)


def _matrix_keys(model) -> list[str]:
    from mlx.utils import tree_flatten
    T = trainer()
    return [k for k, v in tree_flatten(model.parameters()) if v.ndim == 2 and not T.is_control(k) and k.startswith("blocks.")]


def pool_samples(model, c, spec: str, n: int, sample_tokens: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Up to n samples (tokens of len k*seq_len+1, optional per-target mask) of a pool spec."""
    L = c.train_seq_len
    k = max(1, sample_tokens // L)
    size = k * L
    if spec.startswith("shards:"):
        files = sorted(_glob.glob(spec[len("shards:"):]))
        if not files:
            raise DiagnosticError(f"pool {spec!r} is empty: the glob matches no files")
        toks = load_tokens(files)
        out = [(toks[o:o + size + 1], None) for o in range(0, toks.size - size, size)][:n]
    elif spec.startswith(("freq:", "pos:")):
        from causal_core.diagnostics.token_loss import (FREQ_NAMES, POS_NAMES, frequency_bucket_of, train_token_counts)
        kind, name = spec.split(":", 1)
        names = FREQ_NAMES if kind == "freq" else POS_NAMES
        if name not in names:
            raise DiagnosticError(f"pool {spec!r}: unknown category (use one of {', '.join(kind + ':' + x for x in names)})")
        val, luts = val_data(c)
        lut = frequency_bucket_of(train_token_counts(c)) if kind == "freq" else None
        out = []
        for o in range(0, val.size - size, size):
            seg = val[o:o + size + 1]
            x, y = seg[:-1], seg[1:]
            if kind == "freq":
                m = lut[y] == names.index(name)
            else:
                b = (np.arange(size) % L == 0) | luts[2][x]
                m = b if name == "boundary" else ~b
            if m.any():
                out.append((seg, m.astype(np.float32)))
            if len(out) >= n:
                break
    else:
        raise DiagnosticError(f"pool {spec!r}: use shards:<glob>, freq:<top|mid|tail> or pos:<boundary|mid_sequence>")
    if not out:
        raise DiagnosticError(f"pool {spec!r} is empty: no sample of {size} tokens")
    return out


def sample_grads(model, c, samples, keys: list[str]) -> list[dict[str, np.ndarray]]:
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    L = c.train_seq_len

    def loss_fn(x, y, m):
        tl = model.token_losses(x, y)
        return mx.sum(tl * m) / mx.maximum(mx.sum(m), 1.0)

    vg = nn.value_and_grad(model, loss_fn)
    out = []
    for seg, mask in samples:
        n = (seg.size - 1) // L
        m = np.ones(n * L, np.float32) if mask is None else mask
        _, g = vg(mx.array(seg[:-1].reshape(n, L)), mx.array(seg[1:].reshape(n, L)), mx.array(m.reshape(n, L)))
        g = dict(tree_flatten(g))
        mx.eval([g[k] for k in keys])
        out.append({k: np.array(g[k].astype(mx.float32)) for k in keys})
    return out


def direction_from(grads_a, grads_b, keys, weights: dict[str, np.ndarray] | None = None, svd: bool = False) -> dict[str, np.ndarray]:
    v = {}
    for k in keys:
        d = np.mean([g[k] for g in grads_a], axis=0) - np.mean([g[k] for g in grads_b], axis=0)
        if svd:
            if weights is None:
                raise ValueError("svd=True needs the weights")
            U, _, Vt = np.linalg.svd(weights[k], full_matrices=False)
            d = U @ np.diag(np.diag(U.T @ d @ Vt.T)) @ Vt
        n = np.linalg.norm(d)
        v[k] = (d / n).astype(np.float32) if n > 0 else np.zeros_like(d, dtype=np.float32)
    return v


def mean_cos(g: dict[str, np.ndarray], v: dict[str, np.ndarray]) -> float:
    cs = []
    for k, d in v.items():
        gn = np.linalg.norm(g[k])
        if gn > 0 and np.linalg.norm(d) > 0:
            cs.append(float((g[k] * d).sum() / gn))
    return float(np.mean(cs)) if cs else math.nan


def probe_direction(checkpoint: str | Path | None = None, *, pool_a: str, pool_b: str, data_path: str | Path | None = None, tokenizer_path: str | None = None,
                    out_dir: str | Path = DEFAULT_OUT, n_samples: int = 16, sample_tokens: int = 512, svd: bool = False,
                    direction_file: str | Path | None = None, log=print) -> dict:
    """`causal-golf diag probe-direction`: fit v on even samples, report cos per pool on odd ones, save v (npz)."""
    t = Timer()
    if n_samples < 2:
        raise DiagnosticError(f"{{param}} {n_samples}: need at least 2 per pool (fit + held out)", "n_samples")
    ck, prov = ensure_checkpoint(checkpoint, log=log)
    model, c = load_checkpoint(ck, data_path, tokenizer_path=tokenizer_path)
    keys = _matrix_keys(model)
    sa = pool_samples(model, c, pool_a, n_samples, sample_tokens)
    sb = pool_samples(model, c, pool_b, n_samples, sample_tokens)
    if len(sa) < 2 or len(sb) < 2:
        raise DiagnosticError(f"pools need at least 2 samples each (got {len(sa)} and {len(sb)})")
    ga, gb = sample_grads(model, c, sa, keys), sample_grads(model, c, sb, keys)
    from mlx.utils import tree_flatten
    W = {k: np.array(v) for k, v in tree_flatten(model.parameters()) if k in keys} if svd else None
    v = direction_from(ga[0::2], gb[0::2], keys, W, svd)
    held = {"A": [mean_cos(g, v) for g in ga[1::2]], "B": [mean_cos(g, v) for g in gb[1::2]]}
    stats = {p: {"n": len(cs), "mean_cos": float(np.mean(cs)), "std_cos": float(np.std(cs))} for p, cs in held.items()}
    path = Path(direction_file) if direction_file else out_folder(out_dir) / "probe_direction.npz"
    buf = io.BytesIO()
    np.savez(buf, **v)
    atomic_write_bytes(path, buf.getvalue())
    rep = {"diagnostic": "probe_direction", "checkpoint": str(ck.config_path), "provenance": prov,
           "pool_a": pool_a, "pool_b": pool_b, "svd": svd, "matrices": keys, "samples": {"A": len(sa), "B": len(sb)},
           "held_out": stats, "separation": stats["A"]["mean_cos"] - stats["B"]["mean_cos"],
           "per_sample": [{"pool": p, "sample": i, "cos": cs} for p, l in held.items() for i, cs in enumerate(l)],
           "direction_file": str(path), "seconds": t.s()}
    rep["output"] = str(write_result(out_dir, "probe_direction", rep))
    return rep


# ---------------------------------------------------------------------------- phase gate

GATE_RULES: list[dict] = [
    {"name": "cos_out_below_cos_in", "verdict": "success", "metric": "n_cos_out_below_cos_in_of_first_20_projected",
     "op": ">=", "threshold": 16, "why": "the projection removes the aligned component on most steps"},
    {"name": "fires", "verdict": "likely-fail", "metric": "mean_frac_fired", "op": "<", "threshold": 0.05,
     "why": "the direction almost never aligns with the gradient: the arm is a no-op"},
    {"name": "enough_steps", "verdict": "likely-fail", "metric": "n_steps", "op": "<", "threshold": 20,
     "why": "too few logged steps to judge"},
    {"name": "over_projection", "verdict": "sneaky-fail", "metric": "min_cos_out_fired", "op": "<", "threshold": -1e-4,
     "why": "cos_out negative on a projected matrix: over-projection (a bug)"},
    {"name": "log_only_changed_gradient", "verdict": "sneaky-fail", "metric": "max_log_only_cos_change", "op": ">",
     "threshold": 1e-6, "why": "the vanilla (log-only) arm changed the gradient"},
]
_OPS = {">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b}


def gate_metrics(rows: list[dict]) -> dict:
    proj = [r for r in rows if r.get("mode") == "project" and r.get("frac_fired", 0) > 0][:20]
    fired_out = [c for r in rows if r.get("mode") == "project" for c in r.get("cos_out_fired", [])]
    lo = [abs(r["cos_out"] - r["cos_in"]) for r in rows if r.get("mode") == "log_only"]
    return {"n_steps": len(rows), "n_projected_steps": len(proj),
            "n_cos_out_below_cos_in_of_first_20_projected": sum(r["cos_out"] < r["cos_in"] for r in proj),
            "mean_frac_fired": float(np.mean([r["frac_fired"] for r in rows])) if rows else 0.0,
            "min_cos_out_fired": min(fired_out) if fired_out else 0.0,
            "max_log_only_cos_change": max(lo) if lo else 0.0,
            "mean_cos_in": float(np.mean([r["cos_in"] for r in rows])) if rows else None,
            "mean_cos_out": float(np.mean([r["cos_out"] for r in rows])) if rows else None}


def check_gate(rows: list[dict], rules: list[dict] | None = None) -> dict:
    """Judge a projection log (OUT_DIR/RUN_ID_projection.jsonl rows) against rules given as data.

    verdict: sneaky-fail if any sneaky rule triggers, else likely-fail if any likely-fail rule
    triggers, else success if every success rule holds, else inconclusive. A projected arm needs
    >= 16 of its first 20 firing steps with cos_out < cos_in (scaled when fewer steps fired).
    """
    rules = GATE_RULES if rules is None else rules
    m = gate_metrics(rows)
    log_only = rows and all(r.get("mode") == "log_only" for r in rows)
    results = []
    for r in rules:
        if log_only and r["verdict"] == "success":
            continue
        thr = r["threshold"]
        if r["name"] == "cos_out_below_cos_in" and 0 < m["n_projected_steps"] < 20:
            thr = math.ceil(thr * m["n_projected_steps"] / 20)
        hit = _OPS[r["op"]](m[r["metric"]], thr)
        results.append({**r, "threshold_used": thr, "value": m[r["metric"]],
                        "triggered" if r["verdict"] != "success" else "passed": bool(hit)})
    if any(x.get("triggered") for x in results if x["verdict"] == "sneaky-fail"):
        verdict = "sneaky-fail"
    elif any(x.get("triggered") for x in results if x["verdict"] == "likely-fail"):
        verdict = "likely-fail"
    elif log_only:
        verdict = "vanilla-ok"
    elif all(x.get("passed") for x in results if x["verdict"] == "success"):
        verdict = "success"
    else:
        verdict = "inconclusive"
    return {"verdict": verdict, "metrics": m, "rules": results}


def probe_gate(projection_log: str | Path, *, out_dir: str | Path = DEFAULT_OUT) -> dict:
    """`causal-golf diag probe-gate`: check a projection log; writes out_dir/probe_gate.json."""
    from causal_core.diagnostics.grad_attribution import read_jsonl
    rows = read_jsonl(projection_log)
    rep = {"diagnostic": "probe_gate", "projection_log": str(projection_log), **check_gate(rows)}
    rep["output"] = str(write_result(out_dir, "probe_gate", rep))
    return rep
