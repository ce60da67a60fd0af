"""Configuration: challenge defaults, the cpu_small preset, the catalog's switch contract, bad values."""
from __future__ import annotations

import pytest

from causal_core import catalog
from test_trainer_common import T


def test_defaults_are_the_challenge_baseline():
    c = T.load_config({})
    assert (c.num_layers, c.model_dim, c.num_heads, c.num_kv_heads, c.mlp_mult) == (9, 512, 8, 4, 2)
    assert (c.vocab_size, c.train_seq_len, c.train_batch_tokens, c.grad_accum_steps) == (1024, 1024, 524288, 8)
    assert c.tie_embeddings and c.mlp_act == "relu2" and c.quant_bits == 8 and c.compressor == "zlib"
    assert c.eval_stride == 0 and c.out_dir == "logs" and c.run_id
    assert (c.matrix_lr, c.scalar_lr, c.tied_embed_lr, c.muon_momentum, c.logit_softcap, c.qk_gain_init) == \
        (0.04, 0.04, 0.05, 0.95, 30.0, 1.5)


def test_preset_and_explicit_override():
    c = T.load_config({"PRESET": "cpu_small"})
    assert (c.num_layers, c.model_dim, c.train_seq_len, c.train_batch_tokens, c.warmdown_iters) == (3, 128, 128, 4096, 40)
    assert c.data_path == "data/embedded_sp1024" and c.tokenizer_path == "data/embedded_sp1024/tokenizer.model"
    c2 = T.load_config({"PRESET": "cpu_small", "NUM_LAYERS": "5", "DATA_PATH": "/x"})
    assert c2.num_layers == 5 and c2.model_dim == 128 and c2.tokenizer_path == "/x/tokenizer.model"


def test_every_catalog_switch_is_implemented_and_controls_equal_the_preset():
    preset = T.load_config({"PRESET": "cpu_small"})
    for e in catalog.actionable():
        for side in (e.treatment, e.control):
            for name, value in side.items():
                assert name in T.VAR_BY_NAME, f"{e.name}: trainer lacks {name}"
                T.load_config({"PRESET": "cpu_small", name: str(value)})   # parses and validates
        for name, value in e.control.items():
            if e.treatment.get(name) == value:
                continue   # context shared by both arms (e.g. QUANT_BITS=6 for qat), not the switch itself
            got = preset.values[name]
            assert got == T._parse_value(T.VAR_BY_NAME[name], value), f"{e.name}: control {name}={value} but preset has {got}"
        treated = T.load_config({"PRESET": "cpu_small", **{k: str(v) for k, v in e.treatment.items()}})
        assert any(treated.values[k] != preset.values[k] for k in e.treatment), e.name


@pytest.mark.parametrize("env, needle", [
    ({"SEED": "abc"}, "SEED='abc' is not an integer"),
    ({"MATRIX_LR": "fast"}, "MATRIX_LR='fast' is not a number"),
    ({"NUM_LAYERS": "0"}, "NUM_LAYERS=0 is out of range"),
    ({"EMA_DECAY": "1.5"}, "EMA_DECAY=1.5 is out of range"),
    ({"QUANT_BITS": "7"}, "QUANT_BITS='7' is not one of"),
    ({"MLP_ACT": "tanh"}, "MLP_ACT='tanh' is not one of"),
    ({"PARALLEL_RESIDUAL": "maybe"}, "PARALLEL_RESIDUAL='maybe' is not a boolean"),
    ({"MAX_WALLCLOCK_SECONDS": "nan"}, "MAX_WALLCLOCK_SECONDS='nan' is not a finite number"),
    ({"PRESET": "gpu_huge"}, "PRESET='gpu_huge' is unknown"),
    ({"PRESET": "cpu_small", "TRAIN_SEQ_LEN": "100"}, "TRAIN_BATCH_TOKENS=4096 is not divisible by GRAD_ACCUM_STEPS*TRAIN_SEQ_LEN=1*100=100"),
    ({"MODEL_DIM": "100", "NUM_HEADS": "8"}, "MODEL_DIM=100 is not divisible by NUM_HEADS=8"),
    ({"NUM_HEADS": "8", "NUM_KV_HEADS": "3"}, "NUM_HEADS=8 is not divisible by NUM_KV_HEADS=3"),
    ({"PRESET": "cpu_small", "ROPE_DIMS": "7"}, "ROPE_DIMS=7 must be even"),
    ({"PRESET": "cpu_small", "EVAL_STRIDE": "129"}, "EVAL_STRIDE=129 exceeds TRAIN_SEQ_LEN=128"),
])
def test_bad_values_name_the_variable_and_value(env, needle):
    with pytest.raises(T.TrainerError) as ei:
        T.load_config(env)
    assert needle in str(ei.value)


def test_zstd_only_with_stdlib_support():
    if T._zstd_module() is None:
        with pytest.raises(T.TrainerError, match="COMPRESSOR=zstd needs Python 3.14"):
            T.load_config({"COMPRESSOR": "zstd"})
    else:
        assert T.load_config({"COMPRESSOR": "zstd"}).compressor == "zstd"


def test_docs_list_every_variable(repo_root):
    text = (repo_root / "docs" / "trainer.md").read_text()
    missing = [v.name for v in T.VARS if f"`{v.name}`" not in text]
    assert not missing, f"docs/trainer.md lacks {missing}"
