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
    group: str = ""                     # transfer group (GROUPS): interventions that scale alike across platforms
    # Env the arms need from elsewhere (a probe phase's direction file): the loop supplies it
    # or refuses, and next_intervention never proposes the entry on its own.
    requires_env: list[str] = Field(default_factory=list)


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
    # Ours, not in the shared vocabulary: the gradient-direction probe's two arms (docs/diagnostics.md).
    # Both arms log cosines with PROJECT_DIRECTION (supplied by the probe phase); only treatment projects.
    _e("gradient_projection", "probe: remove the gradient component along a pool-difference direction",
       {"PROJECT_DIRECTION_LOG_ONLY": 0}, {"PROJECT_DIRECTION_LOG_ONLY": 1}, requires_env=["PROJECT_DIRECTION"]),
]

# ---- Transfer groups (owned by causal_core/dag/transfer_model.py). ------------------------
# How an effect measured at one scale carries to another depends on what kind of change it
# is: an evaluation trick scales with the eval context, an export change with the bytes
# budget, a capacity change with the model size, a schedule change with the step count.
GROUPS: dict[str, tuple[str, ...]] = {
    "evaluation": ("sliding_window_eval", "test_time_training"),
    "quantization_export": ("qat", "low_bit_quant", "mixed_precision_quant", "fp16_embeddings", "gptq",
                            "better_compression", "pruning"),
    "capacity_architecture": ("more_layers", "wider_mlp", "depth_recurrence", "parallel_residuals", "unet_skips",
                              "smeargate", "bigram_hash", "xsa", "partial_rope", "gated_attention", "qk_gain",
                              "activation_change", "ortho_init", "value_residual", "ssm_hybrid"),
    "optimizer_schedule": ("lr_tuning", "warmdown_schedule", "weight_decay", "muon_variant", "ema", "swa",
                           "grad_clip", "batch_size_change", "alt_objective", "systems_speedup",
                           "gradient_projection"),
    "data_tokenizer": ("longer_train_seq", "larger_vocab", "tokenizer_transform", "data_loader"),
}
for _g, _names in GROUPS.items():
    for _n in _names:
        next(e for e in ENTRIES if e.name == _n).group = _g

CATALOG: dict[str, CatalogEntry] = {e.name: e for e in ENTRIES}
NAMES: tuple[str, ...] = tuple(CATALOG)


def get(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown intervention {name!r}; known: {', '.join(NAMES)}") from None


def actionable() -> list[CatalogEntry]:
    """Switches that run on their own: an entry with requires_env (the probe's arms) needs the
    loop's probe phase to supply that env, so searches, proposals and the approval form skip it."""
    return [e for e in ENTRIES if e.actionable and not e.requires_env]


# ---- Expert priors (owned by causal_core/dag). ----------------------------------------
# (prior_effect_bpb, prior_sd_bpb, source, parents). The effect is the *controlled* change in
# val_bpb from switching the intervention with the rest of the stack held fixed, at 8xH100.
# Every prior comes from a source INDEPENDENT of the records the DAG then fits (earlier
# versions read them off the records' own ablations, which counted the records twice; those
# readings now only centre the synthetic ground truth, causal_core/dag/synthetic.py):
# a known result or a paper gives at most a direction, with a small mean DIR; the magnitude
# is always the weak default SD, wide enough for any single change in this challenge.
# Parents are adoption parents (the author adds this because the parent made room for it);
# causal_core/dag/skeleton.py gives reasons.
SD, DIR = 0.01, 0.002
_PRIORS: dict[str, tuple[float, float, str, list[str]]] = {
    "sliding_window_eval": (-DIR, SD, "Press et al. 2021 (Shortformer): overlapping-window evaluation gives scored tokens more context", []),
    "test_time_training": (-DIR, SD, "Sun et al. 2020 (test-time training): adapting on seen test data lowers test loss", ["sliding_window_eval"]),
    "longer_train_seq": (-DIR, SD, "Kaplan et al. 2020: per-token loss falls with context length", []),
    "larger_vocab": (0.0, SD, "weak default: bits per byte normalises the vocabulary away; direction unknown", []),
    "tokenizer_transform": (0.0, SD, "weak default", ["larger_vocab"]),
    "more_layers": (-DIR, SD, "Kaplan et al. 2020: loss falls with parameter count (before the byte cap)", ["low_bit_quant"]),
    "wider_mlp": (-DIR, SD, "Kaplan et al. 2020: loss falls with parameter count (before the byte cap)", ["low_bit_quant"]),
    "depth_recurrence": (0.0, SD, "weak default (Dehghani et al. 2019, Universal Transformers: mixed results for LM)", []),
    "parallel_residuals": (0.0, SD, "weak default (Wang & Komatsuzaki 2021, GPT-J: parallel layers about as good, faster)", []),
    "unet_skips": (0.0, SD, "weak default", []),
    "smeargate": (0.0, SD, "weak default", []),
    "bigram_hash": (0.0, SD, "weak default", []),
    "xsa": (0.0, SD, "weak default", []),
    "partial_rope": (0.0, SD, "weak default (Black et al. 2022, GPT-NeoX: partial rotary about as good as full)", []),
    "gated_attention": (-DIR, SD, "Qiu et al. 2025 (gated attention): an output gate lowers LM loss", []),
    "qk_gain": (0.0, SD, "weak default", []),
    "activation_change": (0.0, SD, "weak default (So et al. 2021, Primer: the activation matters; sign of this change unknown)", []),
    "ortho_init": (0.0, SD, "weak default (Saxe et al. 2014)", []),
    "value_residual": (-DIR, SD, "Zhou et al. 2024 (value residual learning): lower LM loss at equal size", []),
    "lr_tuning": (0.0, SD, "weak default: direction depends on the starting rates", []),
    "warmdown_schedule": (-DIR, SD, "Hagele et al. 2024: a longer cooldown lowers final loss", []),
    "weight_decay": (0.0, SD, "weak default (Loshchilov & Hutter 2019: direction depends on the setting)", []),
    "muon_variant": (0.0, SD, "weak default", []),
    "ema": (-DIR, SD, "Polyak & Juditsky 1992; Izmailov et al. 2018: averaged weights lower loss late in training", []),
    "swa": (-DIR, SD, "Izmailov et al. 2018 (SWA): averaged weights lower loss", []),
    "grad_clip": (0.0, SD, "weak default (Pascanu et al. 2013: a stability device, not a loss reduction)", []),
    "batch_size_change": (0.0, SD, "weak default (McCandlish et al. 2018: depends on the critical batch size)", []),
    "qat": (-DIR, SD, "Jacob et al. 2018: quantization-aware training recovers quantization loss", ["low_bit_quant"]),
    "low_bit_quant": (DIR, SD, "known result: fewer bits, more rounding error at fixed weights (direct effect only)", []),
    "mixed_precision_quant": (0.0, SD, "weak default", ["low_bit_quant"]),
    "fp16_embeddings": (-DIR, SD, "known result: more bits, less rounding error at fixed weights (direct effect only)", []),
    "gptq": (-DIR, SD, "Frantar et al. 2023 (GPTQ): lower error than round-to-nearest at equal bits", ["low_bit_quant"]),
    "better_compression": (0.0, 0.001, "known result: at fixed weights a lossless compressor cannot change the loss (skeleton.py)", []),
    "pruning": (DIR, SD, "known result: removing weights at fixed training removes information (direct effect only)", []),
    "ssm_hybrid": (0.0, SD, "weak default", []),
    "alt_objective": (0.0, SD, "weak default", []),
    "systems_speedup": (-DIR, SD, "known result: more steps in the same wall clock lower the loss", []),
    "data_loader": (0.0, SD, "weak default", []),
    "gradient_projection": (0.0, 0.005, "ours: no record uses it; the probe phase decides whether to test it", []),
}
for _entry in ENTRIES:
    (_entry.prior_effect_bpb, _entry.prior_sd_bpb, _entry.prior_source, _entry.parents) = _PRIORS[_entry.name]
