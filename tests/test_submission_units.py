"""Submission assembly: the pure checks (size, time, challenge bar, compatibility rules)."""
from __future__ import annotations

import pytest

from causal_core.submission import checks, compat
from causal_core.submission.assemble import default_seeds


def test_size_check_at_and_just_over_the_limit():
    assert checks.check_size(50_000, 15_950_000).within_limit           # exactly 16,000,000
    over = checks.check_size(50_000, 15_950_001)                        # 16,000,001
    assert over.bytes_total == 16_000_001 and not over.within_limit and "OVER" in over.message
    assert not checks.check_size(1, None).within_limit                  # unknown model size: never "within"


def test_time_is_not_claimed_off_the_challenge_platform():
    t = checks.check_time("mlx-cpu", 0, [3.0, 4.0])
    assert not t.verified and not t.is_challenge_platform and "8xH100" in t.message and t.wallclock_cap_s is None
    assert not checks.check_time("torch-cuda", 600, [590.0]).verified          # hardware unknown
    assert not checks.check_time("torch-cuda", 900, [850.0], "8xH100").verified  # cap above the limit
    assert checks.check_time("torch-cuda", 600, [590.0], "8xH100").verified


def test_challenge_bar_in_nats():
    met = checks.challenge_bar([4.30, 4.31, 4.32], [4.20, 4.2101, 4.2199])    # ~0.1 nats better, tight
    assert met["met"] and met["p_value"] < 0.01 and met["df"] == 2
    small = checks.challenge_bar([4.30, 4.31, 4.32], [4.298, 4.307, 4.318])   # better, but < 0.005 nats
    assert not small["met"] and small["improvement_nats"] < 0.005
    assert not checks.challenge_bar([4.3], [4.2])["met"]


def test_compat_same_variable_different_values():
    env = {"EVAL_STRIDE": "32.0", "TRAIN_SEQ_LEN": "128.0"}
    c = compat.check([("sliding_window_eval", {"EVAL_STRIDE": 32}), ("qk_gain", {"EVAL_STRIDE": 16})], env)
    assert [x.rule for x in c] == ["same_variable"]
    assert compat.check([("a", {"X": 1}), ("b", {"X": 1.0})], {}) == []       # same value, other spelling


def test_compat_rules_are_data(repo_root):
    trainer = repo_root / "train_gpt_mlx.py"
    qat_8bit = compat.effective_env({"PRESET": "cpu_small", "QAT": 1}, trainer)
    assert qat_8bit["QUANT_BITS"] == "8.0"                                     # the trainer's own default
    assert "qat_needs_low_bits" in [c.rule for c in compat.check([("qat", {"QAT": 1})], qat_8bit)]
    ok = compat.effective_env({"PRESET": "cpu_small", "QAT": 1, "QUANT_BITS": 6}, trainer)
    assert compat.check([("qat", {"QAT": 1, "QUANT_BITS": 6}), ("low_bit_quant", {"QUANT_BITS": 6})], ok) == []
    both = compat.check([("ema", {"EMA_DECAY": 0.99}), ("swa", {"SWA_START_FRAC": 0.5})], {"SWA_EVERY": "5.0"})
    assert [c.rule for c in both] == ["ema_vs_swa"]
    stride = compat.check([("sliding_window_eval", {})], {"EVAL_STRIDE": "128.0", "TRAIN_SEQ_LEN": "128.0"})
    assert [c.rule for c in stride] == ["eval_stride_below_window"]
    with pytest.raises(compat.AssembleError):
        raise compat.IncompatibleError(both)


def test_effective_env_spellings_and_per_run_vars(repo_root):
    trainer = repo_root / "train_gpt_mlx.py"
    a = compat.effective_env({"PRESET": "cpu_small", "EMA_DECAY": 0, "SEED": 1}, trainer)
    b = compat.effective_env({"PRESET": "cpu_small", "SEED": 2}, trainer)
    assert a == b and "SEED" not in a          # EMA_DECAY=0 is the default; SEED is per run


def test_default_seeds():
    assert default_seeds([1, 2]) == [1, 2, 3]
    assert default_seeds([1337, 42, 2025]) == [1337, 42, 2025]
    assert default_seeds(None) == [1, 2, 3]
