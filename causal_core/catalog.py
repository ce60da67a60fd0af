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
# (prior_effect_bpb, prior_sd_bpb, source, parents). The effect is the *controlled* change
# in val_bpb from switching the intervention with the rest of the stack held fixed, at the
# 8xH100 scale, read off the records' own ablations where they exist (folder names below
# are under shared/parameter-golf-records/track_*). sd is wide where records disagree or
# where only a stacked delta is reported. Parents are adoption parents (the author adds
# this because the parent made room for it); causal_core/dag/skeleton.py gives reasons.
_R = "records: "
_PRIORS: dict[str, tuple[float, float, str, list[str]]] = {
    "sliding_window_eval": (-0.030, 0.012, _R + "SlidingWindowEval 1.2244->1.1925; MixedQuant_Int6Int8 ablation -0.0335 (stride 64)", []),
    "test_time_training": (-0.004, 0.005, _R + "LeakyReLU_LegalTTT ablation -0.0017/-0.0004; phased-TTT records -0.001..-0.008", ["sliding_window_eval"]),
    "longer_train_seq": (-0.015, 0.010, _R + "LongContextSeq2048 1.2244->1.2058; TrainingOptSeq4096 1.2014", []),
    "larger_vocab": (-0.012, 0.012, _R + "Vocab4096_MLPMult4 and the SP8192 stacks (no clean single ablation)", []),
    "tokenizer_transform": (-0.004, 0.006, _R + "PR1626_CaseOps_Taper 1.0719->1.0678 (with taper)", ["larger_vocab"]),
    "more_layers": (-0.005, 0.006, _R + "10L_Int5MLP ablation '+int5 MLP +10th layer' -0.003; 11L stacks", ["low_bit_quant"]),
    "wider_mlp": (-0.010, 0.010, _R + "MixedQuant ablation 'MLP 3x + batch' -0.0294; Vocab4096_MLPMult4 '4x over 3x' -0.008", ["low_bit_quant"]),
    "depth_recurrence": (-0.004, 0.012, _R + "ParallelResiduals_MiniDepthRecurrence, Loop45 stacks; SwiGLU_1x5090 recurrence x2 +0.051 (small budget)", []),
    "parallel_residuals": (-0.002, 0.004, _R + "ParallelResiduals_MiniDepthRecurrence, SP8192_ParallelResid (stacked deltas)", []),
    "unet_skips": (-0.003, 0.004, _R + "int6_STE QAT_MLP_bigram_U_Net (stacked delta only)", []),
    "smeargate": (-0.002, 0.004, _R + "Int6_MLP3x_SmearGate_BigramHash, SmearGate_AttentionOutputGate (stacked)", []),
    "bigram_hash": (-0.003, 0.004, _R + "10L_Int5MLP ablation bigram 8192/10240 -0.0012/-0.0008; LeakyReLU 2048->3072 -0.0009", []),
    "xsa": (-0.003, 0.004, _R + "11L_XSA4_EMA_PartialRoPE, Loader_FullGPTQ_XSA11 (stacked deltas)", []),
    "partial_rope": (-0.002, 0.003, _R + "11L_XSA4_EMA_PartialRoPE (stacked delta)", []),
    "gated_attention": (-0.002, 0.003, _R + "SmearGate_AttentionOutputGate, SparseGate stacks (-0.002 range)", []),
    "qk_gain": (-0.002, 0.003, _R + "SP8192_QK5_LegalTTT (stacked delta)", []),
    "activation_change": (-0.003, 0.004, _R + "LeakyReLU_LegalTTT ablation LeakyReLU^2 -0.0021; SwiGLU_1x5090 -0.0041", []),
    "ortho_init": (-0.002, 0.004, _R + "SlidingWindow_FP16Emb_10L_MuonWD_OvertoneInit (stacked)", []),
    "value_residual": (-0.002, 0.004, "expert guess (modded-nanogpt value residual); no clean record ablation", []),
    "lr_tuning": (-0.002, 0.003, _R + "LowerLR 1.2244->1.2230; MultiPhaseGlobalSGD MATRIX_LR=0.026 -0.0003", []),
    "warmdown_schedule": (-0.003, 0.005, _R + "11L_EMA_GPTQ-lite warmdown3500 -0.0002; SwiGLU_1x5090 warmdown fix -0.0056; WarmdownQuantization", []),
    "weight_decay": (-0.001, 0.003, _R + "10L_Int5MLP 'WD=0.04 + warmdown' -0.0001; SwiGLU_1x5090 WD 0.01 +0.0002", []),
    "muon_variant": (-0.002, 0.003, _R + "A2_Muon097_3Seed, MuonEqR_DepthRecurrence (stacked deltas)", []),
    "ema": (-0.001, 0.002, _R + "11L_EMA_GPTQ-lite ablation EMA -0.0006", []),
    "swa": (-0.001, 0.002, _R + "10L_Int5MLP ablation SWA_start_frac=0.4 -0.0006", []),
    "grad_clip": (-0.001, 0.002, "expert guess; no record ablation isolates clipping", []),
    "batch_size_change": (-0.004, 0.008, _R + "SwiGLU_1x5090 half batch -0.016 (1 GPU; smaller on 8xH100)", []),
    "qat": (-0.003, 0.004, _R + "11L_EMA_GPTQ-lite late-QAT threshold -0.0001; MLP3x_QAT_Int6 (stacked)", ["low_bit_quant"]),
    "low_bit_quant": (0.004, 0.008, _R + "MixedQuant_Int6Int8 int6 penalty +0.0015; uniform int6 +0.048 before fixes (direct damage only)", []),
    "mixed_precision_quant": (-0.002, 0.005, _R + "MixedQuant_Int6Int8: penalty +0.048 -> +0.0015 when embeddings stay int8", ["low_bit_quant"]),
    "fp16_embeddings": (-0.004, 0.004, _R + "FP16Embed_WD3600 1.2244->1.2197", []),
    "gptq": (-0.002, 0.003, _R + "11L_EMA_GPTQ-lite -0.0006; MultiPhaseGlobalSGD trimmed GPTQ -0.0013; HessianSDClip", ["low_bit_quant"]),
    "better_compression": (0.0, 0.001, "no direct path: at fixed weights the compressor cannot change the loss (skeleton.py)", []),
    "pruning": (0.001, 0.003, "expert guess: removes information; used only to fit the byte cap", []),
    "ssm_hybrid": (0.010, 0.020, _R + "non-record Mamba3Hybrid, LeWM_Jepa_Mamba2 finish well behind the attention stacks", []),
    "alt_objective": (0.050, 0.050, _R + "non-record LLaDA_MDLM_Diffusion, ByteJEPA far behind next-token CE", []),
    "systems_speedup": (-0.003, 0.004, _R + "MultiPhaseGlobalSGD: +72 steps from trimmed GPTQ -0.0013; LeakyReLU_ParallelMuon", []),
    "data_loader": (-0.002, 0.003, _R + "Loader_FullGPTQ_XSA11 (stacked delta)", []),
    "gradient_projection": (0.0, 0.005, "ours: no record uses it; the probe phase decides whether to test it", []),
}
for _entry in ENTRIES:
    (_entry.prior_effect_bpb, _entry.prior_sd_bpb, _entry.prior_source, _entry.parents) = _PRIORS[_entry.name]
