"""Diagnostics for train_gpt_mlx.py: per-layer gradient-norm logging, projection of the
gradient off a direction v, and the probe's mixed replay pools. Needed only when a diagnostic
switch is set (GRAD_NORM_LOG, PROJECT_DIRECTION[_LOG_ONLY], PROBE_POOL_A/B, PROBE_MIX): the
trainer reads the switches itself and refuses them when this file is not next to it; with none
set it runs without it. Part of the run-reuse key (causal_core/run_key.py) like the trainer.

It imports nothing from the trainer: the trainer passes itself in (`DiagHooks.create(T, ...)`),
because run as a script it is `__main__`, and a second import of it would be a different
module with a different TrainerError.
"""
from __future__ import annotations

import glob
import json
import math
import os
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

# Diagnostic switches (causal_core/diagnostics, docs/diagnostics.md); all off by default, no cost when off.
#   GRAD_NORM_LOG=1                -> OUT_DIR/RUN_ID_gradnorms.jsonl: step, lr_mul, train_loss, per-layer grad norms
#   PROJECT_DIRECTION=dir.npz      -> remove each matrix gradient's component along v (param name -> v) where cos > 0
#   PROJECT_DIRECTION_LOG_ONLY=1   -> same cosines logged, gradient untouched (the vanilla arm)
#   both direction modes log OUT_DIR/RUN_ID_projection.jsonl: step, sample id, pool, cosines, norms
#   PROBE_POOL_A/PROBE_POOL_B=spec (with PROJECT_DIRECTION), PROBE_MIX=0.5 -> mixed replay pools: each
#     micro-batch takes round(MIX*n) samples from A and the rest from B (shards:<glob>, freq:top|mid|tail,
#     pos:boundary|mid_sequence as in causal_core/diagnostics/probe.py); each row then carries, per
#     sample, src_pool, loss, cos with v, grad norm (one backward per sample: the cost of the probe)
#   (read by literal name in the trainer's load_config into Config.diag; the trainer refuses them without this file)
FREQ_POOLS, POS_POOLS = ("top", "mid", "tail"), ("boundary", "mid_sequence")


class MixedPools:
    """Mixed replay pools of the probe: per-sample masked losses, gradients and their cosines with v.

    A shard pool's samples come from its own shard stream (loss on every target); a token-category
    pool's samples are windows of the training stream with the loss restricted to the category's
    targets (frequency rank as token_loss.frequency_bucket_of: top 100 / 100-500 / rest, scaled by
    vocab/1024). The batch gradient is the token-weighted mean of the per-sample gradients, i.e. the
    gradient of sum(loss*mask)/sum(mask) over the mixed batch.
    """

    def __init__(self, T, c, model, stream: "T.TokenStream", train_files: list[Path], luts, d: dict[str, str]):
        self.T, self.c, self.stream, self.boundary = T, c, stream, luts[2]
        try:
            self.mix = float(d.get("PROBE_MIX") or 0.5)
        except ValueError:
            raise T.TrainerError(f"PROBE_MIX={d.get('PROBE_MIX')!r} is not a number") from None
        if not 0.0 <= self.mix <= 1.0:
            raise T.TrainerError(f"PROBE_MIX={self.mix} must lie in [0, 1]")
        self.specs = {"A": d["PROBE_POOL_A"], "B": d.get("PROBE_POOL_B") or ""}
        if not self.specs["B"]:
            raise T.TrainerError("PROBE_POOL_A is set without PROBE_POOL_B")
        self.src, self.freq = {}, None
        for name, spec in self.specs.items():
            kind, _, arg = spec.partition(":")
            if kind == "shards":
                pat = arg if os.path.isabs(arg) else os.path.join(c.data_path, arg)
                files = sorted(Path(f) for f in glob.glob(pat))
                if not files:
                    raise T.TrainerError(f"PROBE_POOL_{name}={spec}: the glob matches no shard (relative to DATA_PATH)")
                self.src[name] = ("shards", T.TokenStream(files, c.vocab_size))
            elif (kind, arg) in [("freq", a) for a in FREQ_POOLS] + [("pos", a) for a in POS_POOLS]:
                self.src[name] = (kind, arg)
                if kind == "freq" and self.freq is None:
                    counts = np.zeros(c.vocab_size, np.int64)
                    for f in train_files:
                        counts += np.bincount(T.load_shard(f), minlength=c.vocab_size)[: c.vocab_size]
                    s = c.vocab_size / 1024
                    top = max(1, round(100 * s))
                    edges = (top, max(top + 1, round(500 * s)))
                    rank = np.empty(c.vocab_size, np.int64)
                    rank[np.lexsort((np.arange(c.vocab_size), -counts))] = np.arange(c.vocab_size)
                    self.freq = np.where(rank < edges[0], 0, np.where(rank < edges[1], 1, 2))
            else:
                raise T.TrainerError(f"PROBE_POOL_{name}={spec}: use shards:<glob>, freq:top|mid|tail or pos:boundary|mid_sequence")
        self.model = model

        def masked(x, y, m, qat):
            tl = model.token_losses(x, y, qat=qat)
            return mx.sum(tl * m) / mx.maximum(mx.sum(m), 1.0)
        self.vg = {q: mx.compile(nn.value_and_grad(model, lambda x, y, m, q=q: masked(x, y, m, q)),
                                 inputs=model.state, outputs=model.state) for q in (False, True)}

    def sample(self, name: str, seq: int) -> tuple[np.ndarray, np.ndarray]:
        kind, arg = self.src[name]
        stream = arg if kind == "shards" else self.stream
        chunk = stream.take(seq + 1)
        x, y = chunk[:-1], chunk[1:]
        if kind == "freq":
            m = self.freq[y] == FREQ_POOLS.index(arg)
        elif kind == "pos":
            b = (np.arange(seq) == 0) | self.boundary[x]
            m = b if arg == "boundary" else ~b
        else:
            m = np.ones(seq, bool)
        return chunk, m.astype(np.float32)

    def grads(self, micro: int, seq: int, accum: int, qat: bool, dirs: dict[str, mx.array]):
        """(mean loss, batch grads, per-sample records) over `accum` mixed micro-batches."""
        n = max(1, micro // seq)
        n_a = int(round(self.mix * n))
        acc, wsum, lsum, recs = None, 0.0, 0.0, []
        for _ in range(accum):
            for i in range(n):
                pool = "A" if i < n_a else "B"
                chunk, m = self.sample(pool, seq)
                w = float(m.sum())
                loss, g = self.vg[qat](mx.array(chunk[None, :-1]), mx.array(chunk[None, 1:]), mx.array(m[None]))
                g = dict(tree_flatten(g))
                sq = sum(mx.sum(v.astype(mx.float32) ** 2) for v in g.values())
                cs = [mx.sum(g[k].astype(mx.float32) * v) / mx.maximum(mx.sqrt(mx.sum(g[k].astype(mx.float32) ** 2)), 1e-30)
                      for k, v in dirs.items()]
                mx.eval(loss, sq, *cs)
                recs.append({"src_pool": pool, "loss": round(float(loss.item()), 6),
                             "cos": round(sum(float(x.item()) for x in cs) / max(len(cs), 1), 6),
                             "grad_norm": round(math.sqrt(float(sq.item())), 6), "targets": int(w)})
                if w > 0:
                    acc = {k: v * w for k, v in g.items()} if acc is None else {k: acc[k] + v * w for k, v in g.items()}
                    wsum, lsum = wsum + w, lsum + float(loss.item()) * w
        if acc is None:
            raise self.T.TrainerError("PROBE_POOL_A/B: no sample of this step has a target in its pool")
        return mx.array(lsum / wsum), {k: v / wsum for k, v in acc.items()}, recs


class DiagHooks:
    """Per-step gradient logging / projection behind the diagnostic switches (None when all are off)."""

    @staticmethod
    def create(T, c, params: dict[str, mx.array], pools_from: tuple | None = None) -> "DiagHooks | None":
        """T: the trainer module running (its TrainerError is the one its main() turns into a one-line refusal)."""
        d = getattr(c, "diag", {}) or {}
        on = lambda k: d.get(k, "").lower() in ("1", "true", "yes", "on")
        if d.get("PROBE_POOL_A") and not d.get("PROJECT_DIRECTION"):
            raise T.TrainerError("PROBE_POOL_A needs PROJECT_DIRECTION (the per-sample cosines are taken with v)")
        if not (on("GRAD_NORM_LOG") or d.get("PROJECT_DIRECTION")):
            return None
        h = DiagHooks(T, c, params, on("GRAD_NORM_LOG"), d.get("PROJECT_DIRECTION") or "", on("PROJECT_DIRECTION_LOG_ONLY"))
        if d.get("PROBE_POOL_A") and pools_from is not None:     # (model, stream, train_files, luts)
            h.pools = MixedPools(T, c, *pools_from, d)
        return h

    def __init__(self, T, c, params, grad_norms: bool, direction: str, log_only: bool):
        self.sid, self.dirs, self.log_only, self.pools, self.samples = "", {}, log_only, None, None
        out = Path(c.out_dir)
        self.gn = open(out / f"{c.run_id}_gradnorms.jsonl", "a", encoding="utf-8") if grad_norms else None
        self.pj = None
        if direction:
            try:
                raw = dict(np.load(direction))
            except Exception as e:  # missing file, not an npz
                raise T.TrainerError(f"PROJECT_DIRECTION={direction} is not a readable .npz ({type(e).__name__})") from None
            for k, v in raw.items():
                if k not in params or tuple(v.shape) != tuple(params[k].shape):
                    raise T.TrainerError(f"PROJECT_DIRECTION={direction}: {k} {tuple(v.shape)} matches no parameter of this model")
                n = float(np.linalg.norm(v))
                if n > 0:
                    self.dirs[k] = mx.array((v / n).astype(np.float32))
            if not self.dirs:
                raise T.TrainerError(f"PROJECT_DIRECTION={direction} holds no non-zero direction")
            self.pj = open(out / f"{c.run_id}_projection.jsonl", "a", encoding="utf-8")

    def begin(self, stream: "T.TokenStream") -> None:
        self.sid = f"{stream.file_idx}:{stream.pos}"

    @staticmethod
    def _layer(k: str) -> str:
        parts = k.split(".")
        return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]

    def apply(self, step: int, lr_mul: float, grads: dict[str, mx.array], loss) -> dict[str, mx.array]:
        if self.gn is not None:
            sq: dict[str, mx.array] = {}
            for k, g in grads.items():
                sq[self._layer(k)] = sq.get(self._layer(k), 0.0) + mx.sum(g.astype(mx.float32) ** 2)
            norms = {k: math.sqrt(float(v.item())) for k, v in sq.items()}
            self.gn.write(json.dumps({"step": step + 1, "lr_mul": round(lr_mul, 6), "train_loss": float(loss.item()),
                                      "sample_id": self.sid, "grad_norms": norms}) + "\n")
            self.gn.flush()
        if self.pj is None:
            return grads
        grads = dict(grads)
        cin, cout, fired, nin, nout = [], [], [], 0.0, 0.0
        for k, v in self.dirs.items():
            g = grads[k].astype(mx.float32)
            dot, gn2 = mx.sum(g * v), mx.sum(g * g)
            mx.eval(dot, gn2)
            gn = math.sqrt(float(gn2.item()))
            ci = float(dot.item()) / gn if gn > 0 else 0.0
            co, go = ci, g
            if ci > 0:
                fired.append(k)
                if not self.log_only:
                    go = g - dot * v
                    grads[k] = go.astype(grads[k].dtype)
                    gon = float(mx.sqrt(mx.sum(go * go)).item())
                    co = float(mx.sum(go * v).item()) / gon if gon > 0 else 0.0
            cin.append(ci)
            cout.append(co)
            nin += gn * gn
            nout += float(mx.sum(go * go).item())
        row = {"step": step + 1, "sample_id": self.sid, "pool": "mixed" if self.samples else "train",
               "mode": "log_only" if self.log_only else "project", "arm": "vanilla" if self.log_only else "projected",
               "cos_in": sum(cin) / len(cin), "cos_out": sum(cout) / len(cout), "frac_fired": len(fired) / len(cin),
               "cos_in_fired": [ci for k, ci in zip(self.dirs, cin) if k in fired],
               "cos_out_fired": [co for k, co in zip(self.dirs, cout) if k in fired],
               "grad_norm_in": math.sqrt(nin), "grad_norm_out": math.sqrt(nout), "lr_mul": round(lr_mul, 6)}
        if self.samples:
            row["samples"], self.samples = self.samples, None
        self.pj.write(json.dumps(row) + "\n")
        self.pj.flush()
        return grads

    def close(self) -> None:
        for f in (self.gn, self.pj):
            if f is not None:
                f.close()
