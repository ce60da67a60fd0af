"""Per-trainer env mappings of catalog interventions: data, next to catalog.py.

The catalog (causal_core/catalog.py) stays the one list of interventions; its env is our
trainer's (train_gpt_mlx.py, relative to its cpu_small preset). Other trainers call the same
technique by other names or at another scale. A profile maps catalog names to that trainer's
treatment/control env. Which profile fits a script is decided from the variables it reads
(experiments/trainer_vars.py): the first profile whose `signature` the script reads, else the
profile that actuates the most switches on it.

Values are the records' own (8xH100 scale); `note` says where one comes from or what it needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from causal_core import catalog
from causal_core.catalog import Scalar


@dataclass(frozen=True)
class Switch:
    treatment: dict[str, Scalar]
    control: dict[str, Scalar]
    note: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    signature: frozenset[str]            # all read by a script of this family
    switches: dict[str, Switch]
    cannot: dict[str, str] = field(default_factory=dict)   # catalog name -> why this trainer has no switch

    def maps(self, intervention: str) -> bool:
        return intervention in self.switches


def _catalog_profile() -> Profile:
    return Profile(
        name="catalog", description="our trainer, train_gpt_mlx.py (the catalog's own env, cpu_small scale)",
        signature=frozenset({"PRESET", "EVAL_STRIDE", "QUANT_BITS", "SMEARGATE"}),
        switches={e.name: Switch(dict(e.treatment), dict(e.control)) for e in catalog.actionable()},
        cannot={e.name: "our trainer has no switch for it" for e in catalog.ENTRIES if not e.actionable})


# The challenge's baseline, train_gpt.py (CUDA) and train_gpt_mlx.py: 9 layers, MLP 2x, seq 1024,
# QK gain 1.5, MATRIX_LR 0.04, WARMDOWN_ITERS 1200, Muon momentum 0.95, no clipping, 524288 tokens/step.
_BASELINE = Profile(
    name="challenge-baseline",
    description="the challenge's baseline train_gpt.py / train_gpt_mlx.py (8xH100 scale)",
    signature=frozenset({"WARMDOWN_ITERS", "MLP_MULT", "NUM_LAYERS", "TIED_EMBED_LR", "QK_GAIN_INIT", "TRAIN_SEQ_LEN"}),
    switches={
        "more_layers": Switch({"NUM_LAYERS": 10}, {"NUM_LAYERS": 9}, "records: 10L_* stacks"),
        "wider_mlp": Switch({"MLP_MULT": 3}, {"MLP_MULT": 2}, "records: MLP3x stacks"),
        "longer_train_seq": Switch({"TRAIN_SEQ_LEN": 2048}, {"TRAIN_SEQ_LEN": 1024}, "records: LongContextSeq2048"),
        "qk_gain": Switch({"QK_GAIN_INIT": 5.0}, {"QK_GAIN_INIT": 1.5}, "records: SP8192_QK5"),
        "lr_tuning": Switch({"MATRIX_LR": 0.02, "SCALAR_LR": 0.02, "TIED_EMBED_LR": 0.03},
                            {"MATRIX_LR": 0.04, "SCALAR_LR": 0.04, "TIED_EMBED_LR": 0.05}, "records: LowerLR"),
        "warmdown_schedule": Switch({"WARMDOWN_ITERS": 3600}, {"WARMDOWN_ITERS": 1200}, "records: FP16Embed_WD3600"),
        "muon_variant": Switch({"MUON_MOMENTUM": 0.99}, {"MUON_MOMENTUM": 0.95}, "records: Muon 0.99 stacks"),
        "grad_clip": Switch({"GRAD_CLIP_NORM": 0.3}, {"GRAD_CLIP_NORM": 0.0}, "the frontier record's value"),
        "batch_size_change": Switch({"TRAIN_BATCH_TOKENS": 786432}, {"TRAIN_BATCH_TOKENS": 524288},
                                    "the frontier record's value"),
    },
)

# The frontier record, 2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611: its train_gpt.py
# exposes most of its stack as switches. Treatment = the record's setting (its README command),
# control = the technique off, so the loop can ablate the record or extend it.
_FRONTIER = Profile(
    name="sp8192-frontier",
    description="the frontier record's train_gpt.py (2026-04-27 SP8192 LQER SparseGate, 1.0611)",
    signature=frozenset({"XSA_LAST_N", "NUM_LOOPS", "PARALLEL_START_LAYER", "SMEAR_GATE_ENABLED", "TTT_ENABLED",
                         "EMA_DECAY"}),
    switches={
        "test_time_training": Switch({"TTT_ENABLED": 1}, {"TTT_ENABLED": 0}, "LoRA test-time training at eval"),
        "longer_train_seq": Switch({"TRAIN_SEQ_LEN": 2048}, {"TRAIN_SEQ_LEN": 1024}),
        "larger_vocab": Switch({"VOCAB_SIZE": 8192}, {"VOCAB_SIZE": 1024},
                               "needs fineweb10B_sp8192 and _sp1024 under DATA_DIR; leave DATA_PATH/TOKENIZER_PATH unset"),
        "tokenizer_transform": Switch({"CASEOPS_ENABLED": 1}, {"CASEOPS_ENABLED": 0},
                                      "needs the record's CaseOps shards and tokenizer (prepare_caseops_data.py)"),
        "more_layers": Switch({"NUM_LAYERS": 12}, {"NUM_LAYERS": 11}),
        "wider_mlp": Switch({"MLP_MULT": 4.0}, {"MLP_MULT": 3.0}),
        "depth_recurrence": Switch({"NUM_LOOPS": 2}, {"NUM_LOOPS": 0}, "loops layers LOOP_START..LOOP_END"),
        "parallel_residuals": Switch({"PARALLEL_START_LAYER": 8}, {"PARALLEL_START_LAYER": 0}, "0 = no parallel lanes"),
        "smeargate": Switch({"SMEAR_GATE_ENABLED": 1}, {"SMEAR_GATE_ENABLED": 0}),
        "xsa": Switch({"XSA_LAST_N": 11}, {"XSA_LAST_N": 0}, "XSA on the last N layers"),
        "partial_rope": Switch({"ROPE_DIMS": 16}, {"ROPE_DIMS": 0}, "0 = rotary on all head dims"),
        "gated_attention": Switch({"SPARSE_ATTN_GATE_ENABLED": 1}, {"SPARSE_ATTN_GATE_ENABLED": 0},
                                  "the record's sparse gate; GATED_ATTN_ENABLED and ATTN_OUT_GATE_ENABLED are variants"),
        "qk_gain": Switch({"QK_GAIN_INIT": 5.0}, {"QK_GAIN_INIT": 1.5}),
        "lr_tuning": Switch({"MATRIX_LR": 0.026}, {"MATRIX_LR": 0.04}, "the README's MATRIX_LR against the baseline's"),
        "warmdown_schedule": Switch({"WARMDOWN_FRAC": 0.85}, {"WARMDOWN_FRAC": 0.5}, "warmdown as a fraction of training"),
        "weight_decay": Switch({"MUON_WD": 0.095, "ADAM_WD": 0.02, "EMBED_WD": 0.085},
                               {"MUON_WD": 0.0, "ADAM_WD": 0.0, "EMBED_WD": 0.0}),
        "muon_variant": Switch({"MUON_MOMENTUM": 0.97}, {"MUON_MOMENTUM": 0.95}),
        "ema": Switch({"EMA_DECAY": 0.9965}, {"EMA_DECAY": 0.0}, "decay 0: the exported weights are the live ones"),
        "grad_clip": Switch({"GRAD_CLIP_NORM": 0.3}, {"GRAD_CLIP_NORM": 0.0}),
        "batch_size_change": Switch({"TRAIN_BATCH_TOKENS": 786432}, {"TRAIN_BATCH_TOKENS": 524288}),
        "low_bit_quant": Switch({"MATRIX_BITS": 6}, {"MATRIX_BITS": 8}),
        "mixed_precision_quant": Switch({"MATRIX_BITS": 6, "EMBED_BITS": 8}, {"MATRIX_BITS": 6, "EMBED_BITS": 6},
                                        "embeddings vs matrices (the script has no MLP/attention split)"),
        "better_compression": Switch({"COMPRESSOR": "brotli"}, {"COMPRESSOR": "lzma"},
                                     "the script offers brotli, lzma and pergroup, not zlib"),
        "systems_speedup": Switch({"FUSED_CE_ENABLED": 1}, {"FUSED_CE_ENABLED": 0}, "fused cross-entropy kernel"),
    },
    cannot={
        "sliding_window_eval": "EVAL_STRIDE is read into Hyperparameters.eval_stride, which nothing uses",
        "unet_skips": "skip connections are always on; SKIP_GATES_ENABLED only gates them",
        "bigram_hash": "no bigram table in this script",
        "activation_change": "the activation is fixed in code",
        "ortho_init": "no switch", "value_residual": "no switch", "swa": "no switch", "qat": "no switch",
        "fp16_embeddings": "EMBED_BITS sets the embedding bits; fp16 is not offered",
        "gptq": "GPTQ is always on (GPTQ_CALIBRATION_BATCHES tunes it)", "pruning": "no switch",
    },
)

PROFILES: dict[str, Profile] = {p.name: p for p in (_catalog_profile(), _FRONTIER, _BASELINE)}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown trainer profile {name!r} (known: {', '.join(PROFILES)})") from None


def actuated(profile: Profile, reads) -> list[str]:
    """The profile's switches whose every variable the script reads (`reads(name) -> bool`)."""
    return [n for n, sw in profile.switches.items() if all(reads(v) for v in {*sw.treatment, *sw.control})]


def detect(reads) -> Profile | None:
    """The profile for a script: the first whose signature it reads all of; else the one that
    actuates the most switches on it (the script is a relative of that family); None if none does."""
    for p in PROFILES.values():
        if all(reads(v) for v in p.signature):
            return p
    best = max(PROFILES.values(), key=lambda p: len(actuated(p, reads)))   # max keeps the first on a tie
    return best if actuated(best, reads) else None


def maps(profile: str | None, intervention: str) -> bool:
    return profile is not None and profile in PROFILES and PROFILES[profile].maps(intervention)
