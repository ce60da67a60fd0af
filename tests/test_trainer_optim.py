"""Muon/Adam, schedules, weight decay, clipping, EMA/SWA (in-process, tiny)."""
from __future__ import annotations

import json

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from test_trainer_common import T, tiny_config, tiny_env


def test_newton_schulz_orthogonalizes():
    rng = np.random.default_rng(0)
    u0, _, vt = np.linalg.svd(rng.standard_normal((32, 64)), full_matrices=False)
    g = mx.array((u0 @ np.diag(np.logspace(-1, 1, 32)) @ vt).astype(np.float32))   # condition number 100
    s = np.linalg.svd(np.array(T.newton_schulz5(g, 5)), compute_uv=False)
    assert s.min() > 0.5 and s.max() < 1.3          # NS5 lands singular values in ~[0.7, 1.2]
    s_t = np.linalg.svd(np.array(T.newton_schulz5(g.T, 5)), compute_uv=False)   # tall input: transposed path
    assert np.allclose(np.sort(s), np.sort(s_t), atol=1e-4)


def test_parameter_groups():
    m = T.build_model(tiny_config(BIGRAM_HASH_SIZE=16, SMEARGATE=1, UNET_SKIPS=1, NUM_LAYERS=2))
    o = T.Optimizers(m, m.cfg)
    assert set(o.embed_keys) == {"tok_emb.weight", "bigram.weight"}
    assert all(k.endswith(".weight") and k.startswith("blocks.") for k in o.matrix_keys) and len(o.matrix_keys) == 12
    assert {"skip_weights", "smear_gate", "bigram_scale", "blocks.0.resid_mix", "blocks.0.attn.q_gain"} <= set(o.scalar_keys)


def _zero_grads(m):
    return {k: mx.zeros_like(v) for k, v in tree_flatten(m.parameters())}


def test_decoupled_weight_decay_shrinks_matrices_and_embeddings_not_scalars():
    c = tiny_config(WEIGHT_DECAY=0.5, MATRIX_LR=0.1, TIED_EMBED_LR=0.2)
    m = T.build_model(c)
    before = {k: np.array(v) for k, v in tree_flatten(m.parameters())}
    T.Optimizers(m, c).step(m, _zero_grads(m), step=0, lr_mul=1.0)
    after = {k: np.array(v) for k, v in tree_flatten(m.parameters())}
    k = "blocks.0.attn.c_q.weight"
    assert np.allclose(after[k], before[k] * (1 - 0.1 * 0.5), atol=1e-6)
    assert np.allclose(after["tok_emb.weight"], before["tok_emb.weight"] * (1 - 0.2 * 0.5), atol=1e-6)
    assert np.array_equal(after["blocks.0.attn_scale"], before["blocks.0.attn_scale"])
    m2 = T.build_model(tiny_config())
    b2 = np.array(m2.blocks[0].attn.c_q.weight)
    T.Optimizers(m2, m2.cfg).step(m2, _zero_grads(m2), step=0, lr_mul=1.0)
    assert np.array_equal(np.array(m2.blocks[0].attn.c_q.weight), b2)


def test_muon_momentum_warmup_and_setting():
    o = T.Optimizers(T.build_model(tiny_config(MUON_MOMENTUM=0.99, MUON_MOMENTUM_WARMUP_STEPS=10)), tiny_config(
        MUON_MOMENTUM=0.99, MUON_MOMENTUM_WARMUP_STEPS=10))
    assert o.muon_momentum(0) == pytest.approx(0.85) and o.muon_momentum(10) == pytest.approx(0.99)
    assert o.muon_momentum(5) == pytest.approx(0.92)


def test_grad_clip_caps_global_norm():
    g = {"a": mx.full((10,), 3.0), "b": mx.full((6,), 4.0)}
    clipped, norm = T.clip_grads(g, 1.0)
    assert float(norm) == pytest.approx(np.sqrt(90 + 96))
    assert float(mx.sqrt(sum(mx.sum(v * v) for v in clipped.values()))) == pytest.approx(1.0, rel=1e-5)
    same, _ = T.clip_grads(g, 0.0)
    assert same is g


def test_lr_schedule_warmdown_by_steps_and_by_wallclock():
    c = tiny_config(ITERATIONS=100, WARMDOWN_ITERS=40)
    assert T.lr_multiplier(c, 0, 0) == 1.0 and T.lr_multiplier(c, 59, 0) == 1.0
    assert T.lr_multiplier(c, 60, 0) == pytest.approx(1.0) and T.lr_multiplier(c, 80, 0) == pytest.approx(0.5)
    assert T.lr_multiplier(c, 99, 0) == pytest.approx(1 / 40)
    w = tiny_config(ITERATIONS=100000, WARMDOWN_ITERS=10, MAX_WALLCLOCK_SECONDS=10)
    # 100 ms/step: the warmdown covers the last 10 steps = last 1000 ms of the 10 s budget
    assert T.lr_multiplier(w, 50, 5000) == 1.0
    assert T.lr_multiplier(w, 95, 9500) == pytest.approx(0.5)
    lw = tiny_config(ITERATIONS=100, WARMDOWN_ITERS=0, LR_WARMUP_STEPS=4)
    assert [T.lr_multiplier(lw, s, 0) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_weight_averager_ema_and_swa_math():
    p0 = {"w": mx.array([0.0])}
    ema = T.WeightAverager(tiny_config(EMA_DECAY=0.5), p0)
    for step, v in enumerate([4.0, 8.0], start=1):
        ema.update({"w": mx.array([v])}, step, 1.0)
    assert float(ema.final({"w": mx.array([8.0])})[0]["w"][0]) == pytest.approx(0.25 * 0 + 0.25 * 4 + 0.5 * 8)
    swa = T.WeightAverager(tiny_config(SWA_START_FRAC=0.5, SWA_EVERY=2), p0)
    for step in range(1, 9):
        swa.update({"w": mx.array([float(step)])}, step, step / 8)
    final, source = swa.final({"w": mx.array([8.0])})
    assert source.startswith("swa(3") and float(final["w"][0]) == pytest.approx((4 + 6 + 8) / 3)
    raw, source = T.WeightAverager(tiny_config(), p0).final(p0)
    assert source == "raw"


@pytest.mark.parametrize("switch", [{"EMA_DECAY": "0.9"}, {"SWA_START_FRAC": "0.3", "SWA_EVERY": "2"}])
def test_averaged_weights_are_what_is_exported_and_scored(tiny_data_dir, tmp_path, switch):
    env = tiny_env(tiny_data_dir, tmp_path, ITERATIONS=8, **switch)
    c = T.load_config(env)
    log = T.RunLog(c, echo=False)
    try:
        r = T.train(c, log)
    finally:
        log.close()
    assert r.exported_from.split("(")[0] in ("ema", "swa")
    raw = {k: np.array(v) for k, v in r.raw_params.items()}
    exp = {k: np.array(v) for k, v in r.exported_params.items()}
    assert any(not np.allclose(raw[k], exp[k]) for k in raw)
    saved = dict(np.load(r.paths["weights"]))
    assert all(np.array_equal(saved[k], exp[k]) for k in exp)
    meta = json.loads(open(r.paths["config"]).read())
    assert meta["exported_from"] == r.exported_from
    # the scored artifact is the quantized averaged weights
    back = T.deserialize_artifact(open(r.paths["artifact"], "rb").read())
    k = "blocks.0.mlp.fc.weight"
    assert np.abs(back[k] - exp[k]).max() < np.abs(back[k] - raw[k]).max()


def test_qat_switches_on_at_start_frac(tiny_data_dir, tmp_path):
    c = T.load_config(tiny_env(tiny_data_dir, tmp_path, ITERATIONS=6, QAT=1, QAT_START_FRAC=0.5, QUANT_BITS=4))
    log = T.RunLog(c, echo=False)
    try:
        T.train(c, log)
    finally:
        log.close()
    rows = [json.loads(l) for l in open(log.metrics_path) if '"train"' in l]
    assert [r["qat"] for r in rows] == [False, False, False, True, True, True]
