"""The intervention catalog: one table, data not code.

Every canonical name of the intervention vocabulary maps to: whether our trainer
(train_gpt_mlx.py) can switch it, the environment overrides for treatment and for
control (relative to the trainer's `cpu_small` preset, the loop's default), the expert
prior on val_bpb (negative = improvement), its source, and its expert parents.
The DAG, next_intervention and experiment configs all read this table.
"""
from __future__ import annotations

from pydantic import BaseModel, Field

Scalar = str | int | float | bool


class CatalogEntry(BaseModel):
    name: str
    description: str
    actionable: bool
    treatment: dict[str, Scalar] = Field(default_factory=dict)
    control: dict[str, Scalar] = Field(default_factory=dict)
    prior_effect_bpb: float = 0.0       # expected change in val_bpb (negative = better)
    prior_sd_bpb: float = 0.01          # expert uncertainty on that change
    prior_source: str = ""
    parents: list[str] = Field(default_factory=list)   # expert parents (interventions or mediators)


def _e(name, description, treatment=None, control=None, **kw) -> CatalogEntry:
    return CatalogEntry(name=name, description=description, actionable=treatment is not None,
                        treatment=treatment or {}, control=control or {}, **kw)


# Order follows the vocabulary. Env names are the trainer's contract (README documents them).
ENTRIES: list[CatalogEntry] = [
    _e("sliding_window_eval", "overlapping-window evaluation", {"EVAL_STRIDE": 32}, {"EVAL_STRIDE": 0}),
    _e("test_time_training", "training on already-scored validation tokens at eval time"),
    _e("longer_train_seq", "training sequence length above the base", {"TRAIN_SEQ_LEN": 256}, {"TRAIN_SEQ_LEN": 128}),
    _e("larger_vocab", "tokenizer vocabulary above 1024 (needs re-tokenized data)"),
    _e("tokenizer_transform", "changed tokenizer or text transform"),
    _e("more_layers", "more transformer blocks", {"NUM_LAYERS": 5}, {"NUM_LAYERS": 3}),
    _e("wider_mlp", "MLP expansion of 3x or more", {"MLP_MULT": 3}, {"MLP_MULT": 2}),
    _e("depth_recurrence", "re-using (looping) the blocks", {"NUM_LOOPS": 2}, {"NUM_LOOPS": 1}),
    _e("parallel_residuals", "attention and MLP in parallel residual lanes", {"PARALLEL_RESIDUAL": 1}, {"PARALLEL_RESIDUAL": 0}),
    _e("unet_skips", "U-Net skip connections between blocks", {"UNET_SKIPS": 1}, {"UNET_SKIPS": 0}),
    _e("smeargate", "SmearGate token smearing", {"SMEARGATE": 1}, {"SMEARGATE": 0}),
    _e("bigram_hash", "hashed bigram embedding table", {"BIGRAM_HASH_SIZE": 4096}, {"BIGRAM_HASH_SIZE": 0}),
    _e("xsa", "XSA attention variant"),
    _e("partial_rope", "rotary embedding on a fraction of head dims", {"ROPE_DIMS": 8}, {"ROPE_DIMS": 0}),
    _e("gated_attention", "gates on attention output"),
    _e("qk_gain", "tuned query-key gain", {"QK_GAIN_INIT": 4.0}, {"QK_GAIN_INIT": 1.5}),
    _e("activation_change", "MLP activation other than relu^2", {"MLP_ACT": "leaky_relu2"}, {"MLP_ACT": "relu2"}),
    _e("ortho_init", "orthogonal initialisation", {"ORTHO_INIT": 1}, {"ORTHO_INIT": 0}),
    _e("value_residual", "value residual connections", {"VALUE_RESIDUAL": 1}, {"VALUE_RESIDUAL": 0}),
    _e("lr_tuning", "changed learning rates", {"MATRIX_LR": 0.02, "SCALAR_LR": 0.02, "TIED_EMBED_LR": 0.03},
       {"MATRIX_LR": 0.04, "SCALAR_LR": 0.04, "TIED_EMBED_LR": 0.05}),
    _e("warmdown_schedule", "changed warmdown length", {"WARMDOWN_ITERS": 120}, {"WARMDOWN_ITERS": 40}),
    _e("weight_decay", "decoupled weight decay", {"WEIGHT_DECAY": 0.04}, {"WEIGHT_DECAY": 0.0}),
    _e("muon_variant", "changed Muon momentum", {"MUON_MOMENTUM": 0.99}, {"MUON_MOMENTUM": 0.95}),
    _e("ema", "exponential moving average of weights, exported", {"EMA_DECAY": 0.99}, {"EMA_DECAY": 0.0}),
    _e("swa", "stochastic weight averaging over the late phase", {"SWA_START_FRAC": 0.5, "SWA_EVERY": 5},
       {"SWA_START_FRAC": 0.0}),
    _e("grad_clip", "gradient norm clipping", {"GRAD_CLIP_NORM": 0.3}, {"GRAD_CLIP_NORM": 0.0}),
    _e("batch_size_change", "changed tokens per step", {"TRAIN_BATCH_TOKENS": 2048}, {"TRAIN_BATCH_TOKENS": 4096}),
    _e("qat", "quantization-aware training (STE fake-quant)", {"QAT": 1, "QAT_START_FRAC": 0.5, "QUANT_BITS": 6},
       {"QAT": 0, "QUANT_BITS": 6}),
    _e("low_bit_quant", "weights stored below int8", {"QUANT_BITS": 6}, {"QUANT_BITS": 8}),
    _e("mixed_precision_quant", "different bit widths for MLP and attention", {"QUANT_BITS_MLP": 5, "QUANT_BITS_ATTN": 6},
       {"QUANT_BITS_MLP": 0, "QUANT_BITS_ATTN": 0}),
    _e("fp16_embeddings", "embeddings kept at fp16 in the artifact", {"FP16_EMBED": 1}, {"FP16_EMBED": 0}),
    _e("gptq", "GPTQ-style Hessian-aware quantization"),
    _e("better_compression", "a compressor other than zlib", {"COMPRESSOR": "lzma"}, {"COMPRESSOR": "zlib"}),
    _e("pruning", "magnitude pruning before export", {"PRUNE_FRAC": 0.1}, {"PRUNE_FRAC": 0.0}),
    _e("ssm_hybrid", "state-space or linear-attention layers"),
    _e("alt_objective", "a training objective other than next-token CE"),
    _e("systems_speedup", "faster kernels or parallelism that buy more steps"),
    _e("data_loader", "changed training data order or sampling"),
]

CATALOG: dict[str, CatalogEntry] = {e.name: e for e in ENTRIES}
NAMES: tuple[str, ...] = tuple(CATALOG)


def get(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown intervention {name!r}; known: {', '.join(NAMES)}") from None


def actionable() -> list[CatalogEntry]:
    return [e for e in ENTRIES if e.actionable]
