"""Export: N-bit per-row quantization, mixed precision, fp16 embeddings, pruning, compressors."""
from __future__ import annotations

import numpy as np
import pytest

from test_trainer_common import T, tiny_config


def fake_state(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "tok_emb.weight": rng.normal(0, 0.3, (384, 32)).astype(np.float32),
        "blocks.0.attn.c_q.weight": rng.normal(0, 0.2, (32, 32)).astype(np.float32),
        "blocks.0.mlp.fc.weight": rng.normal(0, 0.2, (64, 32)).astype(np.float32),
        "blocks.0.attn_scale": rng.normal(1, 0.1, (32,)).astype(np.float32),
        "blocks.0.attn.q_gain": np.full((2,), 1.5, np.float32),
    }


def roundtrip(cfg, state):
    blob, stats = T.serialize_artifact(cfg, state)
    return blob, T.deserialize_artifact(blob), stats


@pytest.mark.parametrize("bits", [4, 5, 6])
def test_pack_bits_roundtrip(bits):
    u = np.random.default_rng(bits).integers(0, 2 ** bits, 1001).astype(np.uint8)
    packed = T.pack_bits(u, bits)
    assert packed.size == -(-1001 * bits // 8)
    assert np.array_equal(T.unpack_bits(packed, bits, 1001), u)


def test_lower_quant_bits_give_fewer_bytes_and_more_error():
    state = fake_state()
    sizes, errors = {}, {}
    for bits in (8, 6, 5, 4):
        blob, back, _ = roundtrip(tiny_config(QUANT_BITS=bits), state)
        sizes[bits] = len(blob)
        w = state["blocks.0.mlp.fc.weight"]
        err = np.abs(back["blocks.0.mlp.fc.weight"] - w)
        # per-row symmetric: error at most half a step (row max / qmax / 2)
        step = np.abs(w).max(axis=1, keepdims=True) / (2 ** (bits - 1) - 1)
        assert np.all(err <= step / 2 + 1e-3 * step)
        errors[bits] = float(err.mean())
    assert sizes[8] > sizes[6] > sizes[5] > sizes[4]
    assert errors[8] < errors[6] < errors[5] < errors[4]


def test_control_tensors_exact_and_small_tensors_fp16():
    _, back, _ = roundtrip(tiny_config(), fake_state())
    s = fake_state()
    assert np.array_equal(back["blocks.0.attn_scale"], s["blocks.0.attn_scale"])     # fp32 control tensor
    assert np.array_equal(back["blocks.0.attn.q_gain"], s["blocks.0.attn.q_gain"])
    obj, _ = T.quantize_state(tiny_config(INT8_KEEP_FLOAT_MAX_NUMEL=4096), s)
    assert obj["tensors"]["blocks.0.attn.c_q.weight"]["kind"] == "fp16"               # under the keep-float size


def test_mixed_precision_bits_by_layer_type():
    obj, _ = T.quantize_state(tiny_config(QUANT_BITS=8, QUANT_BITS_MLP=5, QUANT_BITS_ATTN=6), fake_state())
    t = obj["tensors"]
    assert t["blocks.0.mlp.fc.weight"]["bits"] == 5
    assert t["blocks.0.attn.c_q.weight"]["bits"] == 6
    assert t["tok_emb.weight"]["bits"] == 8


def test_fp16_embed_keeps_embedding_unquantized():
    s = fake_state()
    _, back8, _ = roundtrip(tiny_config(), s)
    blob16, back16, _ = roundtrip(tiny_config(FP16_EMBED=1), s)
    assert np.array_equal(back16["tok_emb.weight"], s["tok_emb.weight"].astype(np.float16).astype(np.float32))
    assert np.abs(back8["tok_emb.weight"] - s["tok_emb.weight"]).max() > \
        np.abs(back16["tok_emb.weight"] - s["tok_emb.weight"]).max()


def test_lzma_artifact_differs_and_roundtrips_identically():
    s = fake_state()
    z, back_z, _ = roundtrip(tiny_config(), s)
    x, back_x, _ = roundtrip(tiny_config(COMPRESSOR="lzma"), s)
    assert z != x and x[:6] == b"\xfd7zXZ\x00"
    assert back_z.keys() == back_x.keys()
    assert all(np.array_equal(back_z[k], back_x[k]) for k in back_z)


def test_pruning_zeroes_the_stated_fraction_of_smallest_weights():
    s = fake_state()
    _, back, stats = roundtrip(tiny_config(PRUNE_FRAC=0.25), s)
    for name in ("blocks.0.mlp.fc.weight", "blocks.0.attn.c_q.weight", "tok_emb.weight"):
        w, q = s[name], back[name]
        k = int(0.25 * w.size)
        assert (q == 0).sum() >= k                      # the artifact carries the pruned zeros
        p = T.prune_matrix(w, 0.25)
        assert (p == 0).sum() == k
        assert np.abs(w[p == 0]).max() <= np.abs(w[p != 0]).min()   # and they are the smallest weights
    assert (back["blocks.0.attn_scale"] != 0).all()    # control tensors are never pruned
    assert stats["pruned_zeros"] == sum(int(0.25 * s[n].size) for n in ("blocks.0.mlp.fc.weight", "blocks.0.attn.c_q.weight",
                                                                           "tok_emb.weight"))
    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10)
    assert (T.prune_matrix(w, 0.1) == 0).sum() == 10 and T.prune_matrix(w, 0.1)[0, :].sum() == 0
