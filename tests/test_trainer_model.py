"""Architecture switches do what they claim (in-process, tiny shapes)."""
from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_unflatten

from test_trainer_common import T, tiny_config


def randomize(model, scale=0.2, seed=0):
    """Zero-initialised projections make sublayers vanish at init; give every weight a value."""
    rng = np.random.default_rng(seed)
    model.update(tree_unflatten([(k, mx.array(rng.normal(0, scale, v.shape).astype(np.float32)) + (v if v.ndim == 1 else 0))
                                 for k, v in tree_flatten(model.parameters())]))
    return model


def ids(b=2, t=16, seed=0):
    return mx.array(np.random.default_rng(seed).integers(0, 384, (b, t)), dtype=mx.int32)


def close(a, b, tol=1e-4):
    return bool(mx.allclose(a, b, atol=tol, rtol=tol).item())


def test_forward_shapes_and_causality_with_every_switch_on():
    c = tiny_config(PARALLEL_RESIDUAL=1, UNET_SKIPS=1, SMEARGATE=1, BIGRAM_HASH_SIZE=64, ROPE_DIMS=8,
                    MLP_ACT="swiglu", VALUE_RESIDUAL=1, NUM_LOOPS=2, ORTHO_INIT=1, NUM_LAYERS=3)
    m = randomize(T.build_model(c))
    x = ids()
    z = m.logits(x)
    assert z.shape == (2, 16, 384)
    x2 = mx.concatenate([x[:, :10], (x[:, 10:] + 7) % 384], axis=1)   # change only the future
    assert close(m.logits(x2)[:, :10], z[:, :10])
    assert not close(m.logits(x2)[:, 10:], z[:, 10:])


def test_parallel_residual_block_is_x_plus_attn_plus_mlp():
    c = tiny_config(PARALLEL_RESIDUAL=1)
    blk = randomize(T.build_model(c)).blocks[0]
    x = mx.random.normal((2, 8, 32))
    out, _ = blk(x, x, None)
    mix = blk.resid_mix
    h = mix[0] * x + mix[1] * x
    attn, _ = blk.attn(T.rms_norm(h), None)
    expect = h + blk.attn_scale * attn + blk.mlp_scale * blk.mlp(T.rms_norm(h))
    assert close(out, expect)
    blk.parallel = False   # the sequential block feeds attention's output into the MLP
    seq, _ = blk(x, x, None)
    assert not close(seq, expect)


def test_unet_skips_add_weighted_encoder_outputs():
    off = T.build_model(tiny_config(NUM_LAYERS=4))
    on = T.build_model(tiny_config(NUM_LAYERS=4, UNET_SKIPS=1))
    assert "skip_weights" not in off.parameters() and on.skip_weights.shape == (2, 32)
    randomize(on)
    x = ids()
    base = on.hidden(x)
    on.skip_weights = mx.zeros_like(on.skip_weights)   # zero skip weights = plain stack
    plain = on.hidden(x)
    assert not close(base, plain)


def test_smeargate_mixes_previous_token_embedding():
    m = randomize(T.build_model(tiny_config(SMEARGATE=1)))
    m.smear_gate = mx.full((32,), 0.3)
    x = ids()
    e = T.rms_norm(m.tok_emb(x))
    g = mx.sigmoid(mx.array(0.3))
    got = m.embed(x)
    assert close(got[:, 0], (1 - g) * e[:, 0])
    assert close(got[:, 1:], (1 - g) * e[:, 1:] + g * e[:, :-1])


def test_bigram_hash_embedding_depends_on_previous_token():
    h = T.bigram_hash(ids(4, 32), 64)
    assert int(h.min()) >= 0 and int(h.max()) <= 63 and bool(mx.all(h[:, 0] == 63))
    m = T.build_model(tiny_config(BIGRAM_HASH_SIZE=64))
    assert m.bigram.weight.shape == (64, 32) and float(mx.abs(m.bigram.weight).sum()) == 0.0  # zero init: baseline at step 0
    randomize(m)
    a = mx.array([[5, 9]], dtype=mx.int32)
    b = mx.array([[6, 9]], dtype=mx.int32)   # same current token, different previous
    assert not close(m.embed(a)[:, 1], m.embed(b)[:, 1])
    plain = T.build_model(tiny_config())
    randomize(plain)
    assert close(plain.embed(a)[:, 1], plain.embed(b)[:, 1])


def test_partial_rope_leaves_tail_dims_position_free():
    m = T.build_model(tiny_config(ROPE_DIMS=8, MODEL_DIM=64, NUM_HEADS=2))   # head dim 32
    q = mx.broadcast_to(mx.random.normal((1, 1, 1, 32)), (1, 1, 10, 32))
    r = m.blocks[0].attn.rope(q)
    assert close(r[..., 8:], q[..., 8:])                  # dims past ROPE_DIMS untouched at every position
    assert not close(r[..., 1, :8], r[..., 5, :8])       # first 8 rotate with position
    full = T.build_model(tiny_config(MODEL_DIM=64, NUM_HEADS=2)).blocks[0].attn.rope(q)
    assert not close(full[..., 5, 8:], q[..., 5, 8:])


def test_qk_gain_init():
    m = T.build_model(tiny_config(QK_GAIN_INIT=4.0))
    assert close(m.blocks[0].attn.q_gain, mx.full((2,), 4.0))


@pytest.mark.parametrize("act, fn", [
    ("relu2", lambda h: mx.square(mx.maximum(h, 0))),
    ("leaky_relu2", lambda h: mx.square(mx.where(h > 0, h, 0.5 * h))),
    ("gelu", lambda h: 0.5 * h * (1 + mx.erf(h / math.sqrt(2)))),
])
def test_mlp_activations(act, fn):
    mlp = randomize(T.build_model(tiny_config(MLP_ACT=act))).blocks[0].mlp
    x = mx.random.normal((3, 32))
    assert close(mlp(x), (fn(x @ mlp.fc.weight.T)) @ mlp.proj.weight.T, 1e-3)


def test_swiglu_matches_parameter_count():
    mlp = T.build_model(tiny_config(MLP_ACT="swiglu")).blocks[0].mlp
    x = randomize(T.build_model(tiny_config(MLP_ACT="swiglu"))).blocks[0].mlp
    v = mx.random.normal((3, 32))
    assert close(x(v), (nn.silu(v @ x.gate.weight.T) * (v @ x.fc.weight.T)) @ x.proj.weight.T, 1e-3)
    n_swiglu = sum(p.size for _, p in tree_flatten(mlp.parameters()))
    assert abs(n_swiglu - 2 * 2 * 32 * 32) / (4 * 32 * 32) < 0.1


def test_ortho_init_rows_are_orthonormal():
    m = T.build_model(tiny_config(ORTHO_INIT=1))
    w = np.array(m.blocks[0].attn.c_q.weight)
    assert np.allclose(w @ w.T, np.eye(32), atol=1e-4)
    w_default = np.array(T.build_model(tiny_config()).blocks[0].attn.c_q.weight)
    assert not np.allclose(w_default @ w_default.T, np.eye(32), atol=1e-2)


def test_value_residual_mixes_first_layer_values():
    m = randomize(T.build_model(tiny_config(VALUE_RESIDUAL=1)))
    attn = m.blocks[1].attn
    assert attn.vr_lambda.shape == (2,)
    x = mx.random.normal((1, 8, 32))
    _, v1 = m.blocks[0].attn(x, None)
    out_a, v = attn(x, v1)
    out_b, _ = attn(x, mx.zeros_like(v1))
    assert not close(out_a, out_b)
    _, v_own = attn(x, None)
    assert close(v, attn.vr_lambda[0] * v_own + attn.vr_lambda[1] * v1)
    plain = T.build_model(tiny_config())
    assert "vr_lambda" not in plain.blocks[1].attn.parameters()


def test_depth_recurrence_reuses_blocks():
    one = T.build_model(tiny_config())
    two = T.build_model(tiny_config(NUM_LOOPS=2))
    assert T.count_params(one) == T.count_params(two) and two.depth == 4
    randomize(one)
    two.update(one.parameters())
    assert not close(one.hidden(ids()), two.hidden(ids()))


def test_qat_fake_quant_forward_and_straight_through_gradient():
    w = mx.random.normal((4, 16))
    fq = T.fake_quant_ste(w, 4)
    s = mx.max(mx.abs(w), axis=1, keepdims=True) / 7
    levels = fq / s
    assert close(levels, mx.round(levels), 1e-3) and float(mx.max(mx.abs(levels))) <= 7 + 1e-4
    g = mx.grad(lambda w: mx.sum(T.fake_quant_ste(w, 4) * 3.0))(w)
    assert close(g, mx.full(w.shape, 3.0))
    m = randomize(T.build_model(tiny_config(QUANT_BITS=4)))
    assert not close(m.logits(ids(), qat=True), m.logits(ids()), 1e-3)
