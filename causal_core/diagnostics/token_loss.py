"""Per-token validation losses and their decomposition by category.

The per-token losses are computed window by window exactly as the trainer's `evaluate` scores
them (same windows, same stride, same mask); their mean must equal the trainer's aggregate
val_loss within 1e-6 (the decomposition check, which raises when it fails). Every partition
of the scored tokens into categories then splits val_bpb additively:

    contribution_k = loss_sum_k / ln 2 / total_bytes,    sum_k contribution_k = val_bpb

Categories: training-set frequency rank of the target (top / mid / tail; boundaries 100 and
500 for vocab 1024, scaled by vocab/1024 otherwise), and position (boundary = first target of
an evaluation window, or the target right after a boundary token such as BOS; mid = the rest).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from causal_core.diagnostics.common import (DEFAULT_OUT, DiagnosticError, Timer, ensure_checkpoint, load_checkpoint,
                                            load_tokens, train_files, trainer, val_data, write_result)

DECOMP_TOL = 1e-6
BPB_TOL = 1e-3
LN2 = math.log(2.0)


@dataclass
class TokenLosses:
    """Every scored validation target, in evaluation order."""
    loss: np.ndarray        # float64 nats
    target: np.ndarray      # int32 target ids
    prev: np.ndarray        # int32 previous token ids
    position: np.ndarray    # int32 position inside the evaluation window
    index: np.ndarray       # int64 index of the target in the validation split (token t+1 <-> index t)
    bytes: np.ndarray       # int64 bytes of each target under the challenge's byte LUT


def per_token_losses(model, c, val_tokens: np.ndarray, luts, stride: int | None = None):
    """(TokenLosses, val_loss, val_bpb, scored) from ONE run of the trainer's evaluate: the per-token
    losses (no reduction) are recorded from the very calls whose sums make the aggregate."""
    T = trainer()
    import mlx.core as mx
    from causal_core.diagnostics.common import token_loss_fn
    L = c.train_seq_len
    stride = c.eval_stride if stride is None else stride
    fn, rec = token_loss_fn(model), []

    def recording(x, y):
        out = fn(x, y)
        rec.append(np.array(out.astype(mx.float32), dtype=np.float64))
        return out

    val_loss, val_bpb, n_scored = T.evaluate(c, recording, val_tokens, luts, stride=stride)
    windows = T.eval_windows(val_tokens.size - 1, L, stride)
    batch = max(1, (c.val_batch_size // c.grad_accum_steps) // L)
    pos = np.arange(L)
    out = {k: [] for k in ("loss", "target", "prev", "position", "index")}
    for b, i in enumerate(range(0, len(windows), batch)):
        chunk = windows[i:i + batch]
        starts = np.array([s for s, _ in chunk])
        idx = starts[:, None] + pos[None, :]
        x_np, y_np = val_tokens[idx], val_tokens[idx + 1]
        mask = pos[None, :] >= np.array([f for _, f in chunk])[:, None]
        out["loss"].append(rec[b][mask])
        out["target"].append(y_np[mask])
        out["prev"].append(x_np[mask])
        out["position"].append(np.broadcast_to(pos, mask.shape)[mask])
        out["index"].append(idx[mask])
    cat = {k: np.concatenate(v) for k, v in out.items()}
    nbytes = T.count_bytes(cat["prev"], cat["target"], luts).astype(np.int64)
    tl = TokenLosses(cat["loss"], cat["target"].astype(np.int32), cat["prev"].astype(np.int32),
                     cat["position"].astype(np.int32), cat["index"].astype(np.int64), nbytes)
    # Replay: the same evaluate, one window per batch, fed the recorded losses. evaluate sums each
    # batch in fp32, which at 2k+ tokens per batch alone moves the mean by ~1e-6 (rounding, not a
    # bug); per window the fp32 sums are exact enough for the 1e-6 identity.
    flat = [row for r in rec for row in r]
    it = iter(flat)
    c1 = c.replace(val_batch_size=L * c.grad_accum_steps)
    check_loss, check_bpb, n_check = T.evaluate(c1, lambda x, y: mx.array(next(it)[None, :].astype(np.float32)),
                                                val_tokens, luts, stride=stride)
    if n_check != n_scored or tl.loss.size != n_scored:
        raise DiagnosticError(f"decomposition check failed: {tl.loss.size} per-token losses, evaluate scored {n_scored}")
    return tl, (val_loss, val_bpb, n_scored), (check_loss, check_bpb)


def frequency_edges(vocab_size: int) -> tuple[int, int]:
    """Rank boundaries (top, mid): 100 and 500 at vocab 1024, scaled for other vocabularies."""
    s = vocab_size / 1024
    top = max(1, round(100 * s))
    return top, max(top + 1, round(500 * s))


def train_token_counts(c, max_tokens: int | None = None) -> np.ndarray:
    files = train_files(c)
    toks = load_tokens(files)
    if max_tokens:
        toks = toks[:max_tokens]
    return np.bincount(toks, minlength=c.vocab_size)[: c.vocab_size]


def frequency_bucket_of(counts: np.ndarray) -> np.ndarray:
    """Per token id: 0 = top, 1 = mid, 2 = tail by training-set frequency rank (ties by id)."""
    top, mid = frequency_edges(counts.size)
    order = np.lexsort((np.arange(counts.size), -counts))
    rank = np.empty(counts.size, dtype=np.int64)
    rank[order] = np.arange(counts.size)
    return np.where(rank < top, 0, np.where(rank < mid, 1, 2))


FREQ_NAMES = ("top", "mid", "tail")
POS_NAMES = ("boundary", "mid_sequence")


def categorize(tl: TokenLosses, counts: np.ndarray, boundary_lut: np.ndarray) -> dict[str, np.ndarray]:
    """Per scored token: freq bucket (0..2) and position class (0 boundary, 1 mid)."""
    freq = frequency_bucket_of(counts)[tl.target]
    posc = np.where((tl.position == 0) | boundary_lut[tl.prev], 0, 1)
    return {"freq": freq, "pos": posc}


def _stats(loss: np.ndarray, nbytes: np.ndarray, total_tokens: int, total_bytes: int) -> dict:
    n = int(loss.size)
    s = float(loss.sum())
    b = int(nbytes.sum())
    return {"tokens": n, "token_share": n / total_tokens, "bytes": b, "byte_share": b / total_bytes,
            "loss_sum": s, "mean_loss": s / n if n else None,
            "std_loss": float(loss.std()) if n else None,
            "p90_loss": float(np.quantile(loss, 0.9)) if n else None,
            "bpb_within": (s / LN2 / b) if b else None,
            "bpb_contribution": s / LN2 / total_bytes}


def decompose(tl: TokenLosses, cats: dict[str, np.ndarray], val_loss: float, val_bpb: float,
              decomp_tol: float = DECOMP_TOL, bpb_tol: float = BPB_TOL) -> dict:
    """Decomposition check, then per-category statistics whose bpb contributions sum to val_bpb."""
    n, total_bytes = int(tl.loss.size), int(tl.bytes.sum())
    mean = float(tl.loss.sum() / n)
    diff = abs(mean - val_loss)
    if not diff <= decomp_tol:
        raise DiagnosticError(f"decomposition check failed: mean per-token loss {mean:.9f} != aggregate val_loss "
                              f"{val_loss:.9f} (|diff| {diff:.2e} > {decomp_tol:g})")
    recomputed_bpb = float(tl.loss.sum()) / LN2 / total_bytes
    partitions = {
        "frequency": {FREQ_NAMES[k]: cats["freq"] == k for k in range(3)},
        "position": {POS_NAMES[k]: cats["pos"] == k for k in range(2)},
        "frequency_x_position": {f"{FREQ_NAMES[f]}/{POS_NAMES[p]}": (cats["freq"] == f) & (cats["pos"] == p)
                                 for f in range(3) for p in range(2)},
    }
    out, checks = {}, {}
    for pname, groups in partitions.items():
        out[pname] = {g: _stats(tl.loss[m], tl.bytes[m], n, total_bytes) for g, m in groups.items()}
        s = sum(v["bpb_contribution"] for v in out[pname].values())
        checks[pname] = {"sum_bpb_contribution": s, "abs_diff": abs(s - val_bpb)}
        if not abs(s - val_bpb) <= bpb_tol:
            raise DiagnosticError(f"bucket check failed: {pname} bpb contributions sum to {s:.6f}, "
                                  f"val_bpb is {val_bpb:.6f} (tolerance {bpb_tol})")
    return {"mean_token_loss": mean, "decomposition_abs_diff": diff, "decomposition_tol": decomp_tol,
            "recomputed_val_bpb": recomputed_bpb, "bucket_checks": checks, "bpb_tol": bpb_tol,
            "categories": out}


def token_loss_report(model, c, *, counts: np.ndarray | None = None, val=None) -> tuple[dict, TokenLosses]:
    """Everything token-loss computes for an already-loaded model (used by quant-gap too)."""
    val_tokens, luts = val if val is not None else val_data(c)
    tl, (val_loss, val_bpb, n_scored), (check_loss, check_bpb) = per_token_losses(model, c, val_tokens, luts)
    counts = train_token_counts(c) if counts is None else counts
    cats = categorize(tl, counts, luts[2])
    rep = decompose(tl, cats, check_loss, check_bpb)
    top, mid = frequency_edges(c.vocab_size)
    rep = {"val_loss": val_loss, "val_bpb": val_bpb, "val_loss_check": check_loss, "val_bpb_check": check_bpb,
           "batch_rounding_abs_diff": abs(val_loss - check_loss), "scored_tokens": n_scored, "scored_bytes": int(tl.bytes.sum()),
           "eval_stride": c.eval_stride, "seq_len": c.train_seq_len,
           "frequency_edges": {"top": [0, top], "mid": [top, mid], "tail": [mid, c.vocab_size]},
           "train_tokens_counted": int(counts.sum()), **rep}
    return rep, tl


def token_loss(checkpoint: str | Path | None = None, *, data_path: str | Path | None = None, tokenizer_path: str | None = None,
               out_dir: str | Path = DEFAULT_OUT, save_losses: bool = False, log=print) -> dict:
    """`causal-golf diag token-loss` as a function: returns the report (also written to out_dir/token_loss.json).

    checkpoint: config JSON / npz / run directory; None = the default checkpoint (trained first if absent).
    save_losses: also write out_dir/token_loss_per_token.npz (loss, target, prev, position, index, bytes).
    """
    t = Timer()
    ck, prov = ensure_checkpoint(checkpoint, log=log)
    model, c = load_checkpoint(ck, data_path, tokenizer_path=tokenizer_path)
    rep, tl = token_loss_report(model, c)
    rep = {"diagnostic": "token_loss", "checkpoint": str(ck.config_path), "weights": str(ck.weights_path),
           "provenance": prov, **rep, "seconds": t.s()}
    if save_losses:
        from causal_core.atomic import atomic_write_bytes
        import io
        buf = io.BytesIO()
        np.savez(buf, loss=tl.loss, target=tl.target, prev=tl.prev, position=tl.position, index=tl.index, bytes=tl.bytes)
        rep["per_token_file"] = str(atomic_write_bytes(Path(out_dir) / "token_loss_per_token.npz", buf.getvalue()))
    rep["output"] = str(write_result(out_dir, "token_loss", rep))
    return rep
