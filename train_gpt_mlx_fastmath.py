"""CPU fast maths for train_gpt_mlx.py: polynomial exp/tanh, a fused softmax, the soft-capped
cross-entropy and causal attention built on them. Optional: without this module next to
the trainer, the model uses MLX's own softmax, tanh and attention (same maths, slower on
CPU). Part of the run-reuse key (causal_core/run_key.py) like the trainer itself.
"""
from __future__ import annotations

import os
from typing import Callable

import mlx.core as mx

# ---- CPU fast math -----------------------------------------------------------------------------
# MLX's CPU exp/tanh cost 14-20 ns/element (scalar libm-style code; the wheel and its JIT kernels
# are built without AVX), which made the attention softmax and the logit softcap + cross-entropy
# ~40% of a training step. Below, exp is a degree-5 polynomial for 2^f times 2^n built from the
# exponent bits: plain arithmetic that mx.compile fuses into one loop (~4 ns/element), max
# relative error 2e-7 (fp32 exp: 6e-8), exact 0 below -88 (so -inf masks give exact zeros).
# Gradients are written out (custom_function) with the same formulas MLX uses for softmax/tanh.
# Used when the default device is the CPU; CAUSAL_GOLF_FAST_MATH=0 turns it off.
_LOG2E = 1.4426950408889634


def fast_math_enabled() -> bool:
    return mx.default_device() == mx.cpu and os.environ.get("CAUSAL_GOLF_FAST_MATH", "1").strip() not in ("0", "false", "no", "off")


def poly_exp(x: mx.array) -> mx.array:
    """exp(x) in fp32 from basic arithmetic (fusable under mx.compile); not differentiable by itself."""
    # Relative error <= 2e-7 + 6e-8 |x| (the rounding of x log2 e; a Cody-Waite split would remove the
    # second term for 30% more time, and it is harmless here: softmax/cross-entropy terms far below the max).
    t = mx.clip(x * _LOG2E, -127.0, 127.99)
    n = (t + 128.0).astype(mx.int32) - 128    # floor(t): truncation of a positive number (fuses; mx.floor does not)
    f = t - n.astype(mx.float32)              # in [0, 1), or a hair below 0 when t + 128 rounded up: still accurate
    p = ((((1.8775767e-3 * f + 8.9893397e-3) * f + 5.5826318e-2) * f + 2.4015361e-1) * f + 6.9315308e-1) * f + 9.9999994e-1
    return p * mx.view((n + 127) << 23, mx.float32)


def poly_tanh(x: mx.array) -> mx.array:
    e = poly_exp(-2.0 * mx.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return mx.where(x < 0, -t, t)


@mx.custom_function
def fast_softmax(s: mx.array) -> mx.array:
    """softmax over the last axis (fp32)."""
    e = poly_exp(s - mx.max(s, axis=-1, keepdims=True))
    return e / mx.sum(e, axis=-1, keepdims=True)


@fast_softmax.vjp
def _fast_softmax_vjp(primals, cotangent, output):
    return output * (cotangent - mx.sum(cotangent * output, axis=-1, keepdims=True))


_SOFTCAP_CE: dict[float, Callable] = {}


def softcap_cross_entropy(z: mx.array, targets: mx.array, cap: float) -> mx.array:
    """Per-token cross-entropy of the soft-capped logits cap * tanh(z / cap) (fp32), fused.

    Forward and backward each touch the logits a few times; exp(s - cap) needs no max because
    s <= cap. Same value and gradient as cross_entropy(cap * tanh(z / cap)) up to fp32 rounding."""
    f = _SOFTCAP_CE.get(cap)
    if f is None:
        @mx.custom_function
        def f(z, y):
            t = poly_tanh(z * (1.0 / cap))
            s = cap * t
            e = poly_exp(s - cap)
            lse = cap + mx.log(mx.sum(e, axis=-1))
            loss = lse - mx.take_along_axis(s, y[..., None], axis=-1)[..., 0]
            return loss, t, e, lse

        @f.vjp
        def f_vjp(primals, cotangents, outputs):
            z, y = primals
            _, t, e, lse = outputs
            p = e * mx.exp(cap - lse)[..., None]
            onehot = mx.arange(z.shape[-1], dtype=y.dtype) == y[..., None]
            return (cotangents[0][..., None] * (p - onehot)) * (1.0 - t * t), mx.zeros_like(y)

        _SOFTCAP_CE[cap] = f
    return f(z, targets)[0]


def causal_attention(q: mx.array, k: mx.array, v: mx.array, scale: float) -> mx.array:
    """Causal GQA attention (B, H, T, hd) with the fast softmax; query head h reads kv head h // (H/KV)."""
    b, h, t, hd = q.shape
    kv = k.shape[1]
    rep = h // kv
    s = (q.reshape(b, kv, rep * t, hd) * scale) @ k.transpose(0, 1, 3, 2)
    mask = mx.triu(mx.full((t, t), -mx.inf, dtype=s.dtype), k=1)
    if rep > 1:
        mask = mx.tile(mask, (rep, 1))
    p = fast_softmax(s + mask)
    return (p.astype(v.dtype) @ v).reshape(b, h, t, hd)
