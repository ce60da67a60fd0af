"""Gradient-dot influence of training chunks on the validation loss.

g_val = d(mean validation loss)/d(trainable params)            (mlx.nn.value_and_grad)
score(chunk) = <g_chunk, g_val>   for each 4,096-token training chunk (up to max_chunks)

A positive score means a (small SGD) step on that chunk lowers the validation loss; negative
means it raises it. Each chunk's gradient is materialized (mx.eval) and reduced to its score
right away. After the first chunk the memory the rest would need is estimated (working set +
retained per-chunk gradients with keep_grads) and max_chunks is lowered, with a warning, when
it would not fit. CV = std/|mean| of the scores; CV < 0.1 means the chunks are
interchangeable for this model: influence-based data selection is not worth running (skip).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from causal_core.diagnostics.common import (DEFAULT_OUT, DiagnosticError, Timer, out_folder, ensure_checkpoint, load_checkpoint,
                                            train_files, trainer, val_data, write_result)

CHUNK_TOKENS = 4096
SKIP_CV = 0.1


def available_memory_bytes() -> int:
    """Memory the process may still use: MLX's device limit on a GPU, else MemAvailable (Linux) or RAM."""
    import mlx.core as mx
    if mx.default_device() == mx.gpu:
        try:
            return int(mx.device_info()["max_recommended_working_set_size"]) - int(mx.get_active_memory())
        except Exception:
            pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 34


def _flat(grads) -> dict:
    from mlx.utils import tree_flatten
    return dict(tree_flatten(grads))


def _dot(a: dict, b: dict):
    import mlx.core as mx
    return sum(mx.sum(a[k].astype(mx.float32) * b[k].astype(mx.float32)) for k in a)


_VG_CACHE: dict = {}


def _value_and_grad(model):
    """Compiled loss+grad bound to the model's whole state (as the trainer's train step), cached per model."""
    import mlx.core as mx
    import mlx.nn as nn
    key = id(model)
    if key not in _VG_CACHE or _VG_CACHE[key][0] is not model:
        _VG_CACHE.clear()
        _VG_CACHE[key] = (model, mx.compile(nn.value_and_grad(model, lambda x, y: model.loss(x, y)),
                                             inputs=model.state, outputs=model.state))
    return _VG_CACHE[key][1]


def val_gradient(model, c, val_tokens: np.ndarray, max_tokens: int | None = None):
    """(mean val loss, flat gradient dict) over non-overlapping windows of the validation split."""
    import mlx.core as mx
    L = c.train_seq_len
    n_win = (val_tokens.size - 1) // L
    if max_tokens:
        n_win = min(n_win, max(1, max_tokens // L))
    if n_win < 1:
        raise DiagnosticError(f"validation split has {val_tokens.size} tokens; need at least {L + 1}")
    batch = max(1, (c.val_batch_size // c.grad_accum_steps) // L)
    vg = _value_and_grad(model)
    acc, loss_sum = None, 0.0
    for i in range(0, n_win, batch):
        k = min(batch, n_win - i)
        seg = val_tokens[i * L: (i + k) * L + 1]
        x = mx.array(seg[:-1].reshape(k, L))
        y = mx.array(seg[1:].reshape(k, L))
        loss, g = vg(x, y)
        w = k / n_win
        g = {kk: v * w for kk, v in _flat(g).items()}
        acc = g if acc is None else {kk: acc[kk] + g[kk] for kk in g}
        mx.eval(loss, acc)
        loss_sum += float(loss.item()) * w
    return loss_sum, acc


def chunk_gradient(model, c, tokens: np.ndarray):
    """(loss, flat gradient) of one chunk of len n*seq_len+1 tokens."""
    import mlx.core as mx
    L = c.train_seq_len
    n = (tokens.size - 1) // L
    if n < 1:
        raise DiagnosticError(f"a chunk of {tokens.size} tokens is shorter than TRAIN_SEQ_LEN+1={L + 1}")
    seg = tokens[: n * L + 1]
    loss, g = _value_and_grad(model)(mx.array(seg[:-1].reshape(n, L)), mx.array(seg[1:].reshape(n, L)))
    return loss, _flat(g)


def train_chunks(c, chunk_tokens: int = CHUNK_TOKENS, files: list | None = None) -> Iterable[tuple[str, np.ndarray]]:
    """(chunk id 'shard:offset', chunk_tokens+1 tokens) in file order, no wrap-around."""
    T = trainer()
    for f in files if files is not None else train_files(c):
        toks = T.load_shard(Path(f))
        for off in range(0, toks.size - chunk_tokens, chunk_tokens):
            yield f"{Path(f).name}:{off}", toks[off: off + chunk_tokens + 1]


def influence_scores(model, c, chunks: Iterable[tuple[str, np.ndarray]], *, max_chunks: int = 64,
                     val_max_tokens: int | None = None, keep_grads: bool = False, memory_budget: int | None = None,
                     log=print) -> dict:
    """Scores of `chunks` (id, tokens) against the validation gradient of a loaded model."""
    import mlx.core as mx
    val_tokens, _ = val_data(c)
    vloss, g_val = val_gradient(model, c, val_tokens, val_max_tokens)
    gv_norm = math.sqrt(float(_dot(g_val, g_val).item()))
    param_bytes = sum(int(v.size) * 4 for v in g_val.values())
    rows, kept, warnings = [], [], []
    requested = max_chunks
    mx.reset_peak_memory()
    base_active = mx.get_active_memory()
    for i, (cid, toks) in enumerate(chunks):
        if i >= max_chunks:
            break
        loss, g = chunk_gradient(model, c, toks)
        score = _dot(g, g_val)
        gnorm = mx.sqrt(_dot(g, g))
        if keep_grads:
            flatv = mx.concatenate([g[k].astype(mx.float32).reshape(-1) for k in sorted(g)])
            mx.eval(loss, score, gnorm, flatv)
            kept.append(np.array(flatv))
        else:
            mx.eval(loss, score, gnorm)
        del g
        gn = float(gnorm.item())
        rows.append({"chunk": cid, "score": float(score.item()), "loss": float(loss.item()), "grad_norm": gn,
                     "cos_with_val": float(score.item()) / (gn * gv_norm) if gn and gv_norm else None})
        if i == 0:
            peak = max(int(mx.get_peak_memory()) - int(base_active), 0)
            per_chunk = param_bytes if keep_grads else 64
            avail = memory_budget if memory_budget is not None else available_memory_bytes()
            usable = int(0.8 * avail) - peak
            fit = max(1, 1 + usable // per_chunk) if usable > 0 else 1
            mem = {"first_chunk_peak_bytes": peak, "retained_bytes_per_chunk": per_chunk,
                   "available_bytes": avail, "chunks_that_fit": int(fit)}
            if fit < max_chunks:
                msg = (f"WARNING: {max_chunks} chunks would need ~{(peak + per_chunk * max_chunks) / 2**20:.0f} MiB, "
                       f"~{avail / 2**20:.0f} MiB available: lowering --max-shards to {fit}")
                log(msg)
                warnings.append(msg)
                max_chunks = int(fit)
    if not rows:
        raise DiagnosticError("no training chunks to score (train shards shorter than one chunk?)")
    s = np.array([r["score"] for r in rows])
    mean, std = float(s.mean()), float(s.std(ddof=1)) if s.size > 1 else 0.0
    cv = std / abs(mean) if mean != 0 else math.inf
    order = np.argsort(-s)
    rep = {"val_loss": vloss, "val_grad_norm": gv_norm, "trainable_params": int(param_bytes // 4),
           "max_chunks_requested": requested, "max_chunks_used": max_chunks, "chunks_scored": len(rows),
           "memory": mem, "warnings": warnings,
           "score_mean": mean, "score_std": std, "cv": cv if math.isfinite(cv) else None,
           "positive_fraction": float((s > 0).mean()),
           "skip_recommended": bool(cv < SKIP_CV), "skip_cv_threshold": SKIP_CV,
           "recommendation": ("skip influence-based data selection: scores are nearly uniform (CV < 0.1)"
                              if cv < SKIP_CV else "scores vary: influence-based selection may help"),
           "scores_sorted": [rows[j] for j in order]}
    if keep_grads:
        rep["_grads"] = np.stack(kept)
    return rep


def influence(checkpoint: str | Path | None = None, *, data_path: str | Path | None = None, tokenizer_path: str | None = None,
              out_dir: str | Path = DEFAULT_OUT, max_shards: int = 64, chunk_tokens: int = CHUNK_TOKENS,
              val_max_tokens: int | None = None, train_glob: str | None = None, keep_grads: bool = False,
              memory_budget: int | None = None, log=print) -> dict:
    """`causal-golf diag influence` as a function; writes out_dir/influence.json (+ influence_grads.npy).

    max_shards: number of `chunk_tokens`-token training chunks to score (the issue's --max-shards).
    train_glob: score chunks of these shard files instead of the checkpoint's train split.
    """
    t = Timer()
    if max_shards < 1:
        raise DiagnosticError(f"{{param}} {max_shards} must be at least 1", "max_shards")
    ck, prov = ensure_checkpoint(checkpoint, log=log)
    model, c = load_checkpoint(ck, data_path, tokenizer_path=tokenizer_path)
    if chunk_tokens < c.train_seq_len or chunk_tokens % c.train_seq_len:
        raise DiagnosticError(f"{{param}} {chunk_tokens} must be a multiple of TRAIN_SEQ_LEN={c.train_seq_len}", "chunk_tokens")
    files = None
    if train_glob:
        import glob
        files = sorted(glob.glob(train_glob))
        if not files:
            raise DiagnosticError(f"{{param}} {train_glob} matches no files", "train_glob")
    rep = influence_scores(model, c, train_chunks(c, chunk_tokens, files), max_chunks=max_shards,
                           val_max_tokens=val_max_tokens, keep_grads=keep_grads, memory_budget=memory_budget, log=log)
    grads = rep.pop("_grads", None)
    rep = {"diagnostic": "influence", "checkpoint": str(ck.config_path), "provenance": prov,
           "chunk_tokens": chunk_tokens, **rep, "seconds": t.s()}
    if grads is not None:
        import io
        from causal_core.atomic import atomic_write_bytes
        buf = io.BytesIO()
        np.save(buf, grads)
        rep["grads_file"] = str(atomic_write_bytes(out_folder(out_dir) / "influence_grads.npy", buf.getvalue()))
    rep["output"] = str(write_result(out_dir, "influence", rep))
    return rep
