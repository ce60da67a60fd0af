"""CPU fast path: polynomial exp, fused softmax / softcap cross-entropy / attention, compiled optimizer, determinism."""
from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from mlx.utils import tree_flatten

from test_trainer_common import T, tiny_config, tiny_env


def test_poly_exp_is_accurate_and_exactly_zero_far_below():
    x = mx.concatenate([mx.random.normal((200_000,), key=mx.random.key(0)) * 20, mx.linspace(-87.0, 88.0, 100_000)])
    got = np.array(mx.compile(T.poly_exp)(x)).astype(np.float64)
    ref = np.exp(np.array(x).astype(np.float64))
    ok = (ref > 1e-37) & (ref < 3e38)
    xs = np.abs(np.array(x).astype(np.float64))[ok]
    assert np.max(np.abs(got[ok] - ref[ok]) / ref[ok] / (2.5e-7 + 7e-8 * xs)) < 1.0
    assert np.array(T.poly_exp(mx.array([-mx.inf, -200.0, -88.5]))).tolist() == [0.0, 0.0, 0.0]
    t = np.array(T.poly_tanh(x))
    assert np.max(np.abs(t - np.tanh(np.array(x)))) < 5e-7


def test_fast_softmax_value_and_gradient_match_mlx():
    s = mx.random.normal((3, 5, 17), key=mx.random.key(1)) * 4
    s = s + mx.triu(mx.full((17, 17), -mx.inf), k=1)[:5]          # masked entries -> exactly 0
    w = mx.random.normal(s.shape, key=mx.random.key(2))
    assert np.allclose(np.array(T.fast_softmax(s)), np.array(mx.softmax(s, axis=-1)), atol=1e-6)
    assert float(mx.max(mx.where(mx.isinf(s), T.fast_softmax(s), 0.0))) == 0.0
    g_ref = mx.grad(lambda a: mx.sum(mx.softmax(a, axis=-1) * w))(s)
    g_new = mx.grad(lambda a: mx.sum(T.fast_softmax(a) * w))(s)
    fin = ~mx.isinf(s)
    assert np.allclose(np.array(mx.where(fin, g_new, 0)), np.array(mx.where(fin, g_ref, 0)), atol=1e-6)


@pytest.mark.parametrize("scale", [0.0, 1.0, 40.0])      # 0: all logits exactly 0 (zero-init untied head)
def test_softcap_cross_entropy_matches_the_reference(scale):
    z = mx.random.normal((6, 11, 50), key=mx.random.key(3)) * scale
    y = mx.random.randint(0, 50, (6, 11), key=mx.random.key(4))
    w = mx.random.uniform(shape=(6, 11), key=mx.random.key(5))
    cap = 30.0
    ref = lambda a: nn.losses.cross_entropy(cap * mx.tanh(a / cap), y, reduction="none")
    assert np.allclose(np.array(T.softcap_cross_entropy(z, y, cap)), np.array(ref(z)), rtol=1e-5, atol=1e-5)
    g_ref = mx.grad(lambda a: mx.sum(ref(a) * w))(z)
    g_new = mx.grad(lambda a: mx.sum(T.softcap_cross_entropy(a, y, cap) * w))(z)
    assert np.allclose(np.array(g_new), np.array(g_ref), atol=1e-6)
    assert float(mx.max(mx.abs(g_new))) > 0


@pytest.mark.parametrize("heads,kv", [(4, 2), (4, 4), (4, 1)])
def test_causal_attention_matches_sdpa_with_gqa(heads, kv):
    k0, k1, k2, k3 = mx.random.split(mx.random.key(6), 4)
    q = mx.random.normal((2, heads, 24, 8), key=k0)
    k = mx.random.normal((2, kv, 24, 8), key=k1)
    v = mx.random.normal((2, kv, 24, 8), key=k2)
    w = mx.random.normal((2, heads, 24, 8), key=k3)
    ref = lambda q, k, v: mx.fast.scaled_dot_product_attention(q, k, v, scale=0.3, mask="causal")
    assert np.allclose(np.array(T.causal_attention(q, k, v, 0.3)), np.array(ref(q, k, v)), atol=1e-5)
    gr = mx.grad(lambda *a: mx.sum(ref(*a) * w), argnums=(0, 1, 2))(q, k, v)
    gn = mx.grad(lambda *a: mx.sum(T.causal_attention(*a, 0.3) * w), argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(gn, gr):
        assert np.allclose(np.array(a), np.array(b), atol=1e-5)


def test_fast_math_model_matches_the_plain_model(monkeypatch):
    c = tiny_config(NUM_KV_HEADS=1)
    fast = T.build_model(c)
    monkeypatch.setenv("CAUSAL_GOLF_FAST_MATH", "0")
    plain = T.build_model(c)
    assert fast.fast_math and not plain.fast_math
    ids = mx.random.randint(0, c.vocab_size, (3, c.train_seq_len), key=mx.random.key(7))
    tgt = mx.random.randint(0, c.vocab_size, (3, c.train_seq_len), key=mx.random.key(8))
    assert np.allclose(np.array(fast.token_losses(ids, tgt)), np.array(plain.token_losses(ids, tgt)), atol=2e-5)
    gf = dict(tree_flatten(nn.value_and_grad(fast, lambda a, b: fast.loss(a, b))(ids, tgt)[1]))
    gp = dict(tree_flatten(nn.value_and_grad(plain, lambda a, b: plain.loss(a, b))(ids, tgt)[1]))
    for k in gp:
        assert np.allclose(np.array(gf[k]), np.array(gp[k]), atol=2e-5), k


def test_compiled_adam_matches_mlx_adam():
    c = tiny_config(WEIGHT_DECAY=0.1)
    m = T.build_model(c)
    opt = T.Optimizers(m, c)
    p0 = dict(tree_flatten(m.parameters()))
    ks, ke = "blocks.0.attn_scale", "tok_emb.weight"
    ref_s = optim.Adam(learning_rate=c.scalar_lr, betas=[c.beta1, c.beta2], eps=c.adam_eps, bias_correction=True)
    ref_e = optim.Adam(learning_rate=c.tied_embed_lr, betas=[c.beta1, c.beta2], eps=c.adam_eps, bias_correction=True)
    ps, pe = {ks: p0[ks]}, {ke: p0[ke]}
    for i, mul in enumerate((1.0, 0.7, 0.3)):
        g = {k: mx.random.normal(v.shape, key=mx.random.key(10 + i)) for k, v in p0.items()}
        opt.step(m, g, i, mul)
        ref_s.learning_rate = c.scalar_lr * mul
        ps = ref_s.apply_gradients({ks: g[ks]}, ps)
        ref_e.learning_rate = c.tied_embed_lr * mul
        pe = ref_e.apply_gradients({ke: g[ke]}, {ke: pe[ke] * (1 - c.tied_embed_lr * mul * 0.1)})
    now = dict(tree_flatten(m.parameters()))
    assert np.allclose(np.array(now[ks]), np.array(ps[ks]), atol=1e-6)
    assert np.allclose(np.array(now[ke]), np.array(pe[ke]), atol=1e-6)


def test_batched_newton_schulz_equals_one_matrix_at_a_time():
    g = mx.random.normal((3, 16, 24), key=mx.random.key(20))
    one = mx.stack([T.newton_schulz5(g[i], 5) for i in range(3)])
    assert np.allclose(np.array(T.newton_schulz5(g, 5)), np.array(one), atol=1e-5)
    tall = mx.swapaxes(g, -1, -2)
    assert np.allclose(np.array(T.newton_schulz5(tall, 5)), np.array(mx.swapaxes(one, -1, -2)), atol=1e-5)


def test_same_seed_same_result_and_warmup_changes_nothing(tiny_data_dir, tmp_path):
    """In-process runs with one seed (warmup 2 steps, 2 again, none): bit-identical score and weights."""
    scores, weights = [], []
    for i, warm in enumerate(("2", "2", "0")):
        c = T.load_config(tiny_env(tiny_data_dir, tmp_path / f"r{i}", ITERATIONS="4", WARMUP_STEPS=warm, SEED="11"))
        log = T.RunLog(c, echo=False)
        try:
            r = T.train(c, log)
        finally:
            log.close()
        scores.append(r.val_bpb)
        weights.append({k: np.array(v) for k, v in r.raw_params.items()})
    assert scores[0] == scores[1] == scores[2]
    assert all(np.array_equal(weights[0][k], w[k]) for w in weights[1:] for k in weights[0])
