"""val_bpb: byte counting, window coverage (sliding-window eval), the uniform-model figure."""
from __future__ import annotations

import math

import mlx.core as mx
import numpy as np
import pytest
import sentencepiece as spm

from test_trainer_common import T, tiny_config


@pytest.mark.parametrize("n, L, stride", [(1000, 32, 8), (1000, 32, 32), (33, 32, 1), (777, 64, 48), (64, 64, 5), (100, 7, 3)])
def test_sliding_windows_score_every_target_exactly_once_with_bounded_context(n, L, stride):
    windows = T.eval_windows(n, L, stride)
    counts = np.zeros(n, dtype=int)
    for start, first in windows:
        assert 0 <= start and start + L <= n and 0 <= first < L
        counts[start + first:start + L] += 1
    assert (counts == 1).all()
    # after the first window, every scored target sees at least L - stride earlier tokens of context
    assert all(first >= L - stride for _, first in windows[1:])


def test_non_overlapping_windows_drop_only_the_tail():
    w = T.eval_windows(100, 32, 0)
    assert w == [(0, 0), (32, 0), (64, 0)]


def test_byte_luts_count_the_utf8_bytes_of_the_text(tiny_data_dir):
    luts = T.build_byte_luts(str(tiny_data_dir / "tokenizer.model"), 384)
    sp = spm.SentencePieceProcessor(model_file=str(tiny_data_dir / "tokenizer.model"))
    texts = ["Hello world, this is a test.", "naïve café — ünïcödé ✓ 漢字", "two  spaces\nnewline"]
    # (A document-initial '▁' piece counts 0 bytes by the challenge's rule, so texts start with a non-space.)
    for text in texts:
        toks = [1] + sp.encode(text)             # BOS-prefixed document, as in the shards
        x, y = np.array(toks[:-1]), np.array(toks[1:])
        counted = int(T.count_bytes(x, y, luts).sum())
        assert counted == len(sp.decode(toks[1:]).encode("utf-8"))
    base, space, boundary = luts
    assert boundary[1] and base[1] == 0                              # BOS: no bytes
    assert all(base[i] == 1 for i in range(384) if sp.is_byte(i))   # byte fallback: one byte each


def test_uniform_model_scores_log2_vocab_times_tokens_per_byte(tiny_data_dir):
    c = tiny_config(tiny_data_dir)
    luts = T.build_byte_luts(c.tokenizer_path, 384)
    val = T.load_val_tokens(c)
    uniform = lambda x, y: mx.full(y.shape, math.log(384))
    for stride in (0, 8):
        loss, bpb, n = T.evaluate(c, uniform, val, luts, stride=stride)
        windows = T.eval_windows(val.size - 1, 32, stride)
        tgt = np.concatenate([np.arange(s + f, s + 32) for s, f in windows])
        n_bytes = T.count_bytes(val[tgt], val[tgt + 1], luts).sum()
        assert n == tgt.size and loss == pytest.approx(math.log(384), rel=1e-4)   # fp32 batch sums
        assert bpb == pytest.approx(math.log2(384) * n / n_bytes, rel=1e-4)
    assert T.evaluate(c, uniform, val, luts, stride=8)[2] == val.size - 1   # sliding scores every target


def test_sliding_eval_scores_tokens_with_the_model_context(tiny_data_dir):
    """Per-token losses from a stride eval equal those of a full-context forward over the same window."""
    c = tiny_config(tiny_data_dir)
    m = T.build_model(c)
    val = T.load_val_tokens(c)[:101]
    luts = T.build_byte_luts(c.tokenizer_path, 384)
    seen = []
    def fn(x, y):
        seen.append(np.array(x))
        return m.token_losses(x, y)
    loss16, _, n = T.evaluate(c, fn, val, luts, stride=16)
    assert n == 100 and all(w.shape[1] == 32 for w in seen)
    # reference: score each target t with context val[max(0, s):t+1] from its window
    total = 0.0
    for s, f in T.eval_windows(100, 32, 16):
        x = mx.array(val[s:s + 32][None]); y = mx.array(val[s + 1:s + 33][None])
        total += float(mx.sum(m.token_losses(x, y)[0, f:]))
    assert loss16 == pytest.approx(total / 100, rel=1e-5)
