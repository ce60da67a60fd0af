#!/usr/bin/env python3
"""Parameter-golf GPT trainer for MLX (Apple silicon, Linux CPU/CUDA).

Self-contained: it gets copied into submission folders, so it imports nothing from
causal_core. Configuration is by environment variables with the challenge's names
(DATA_PATH, ITERATIONS, NUM_LAYERS, ...); `PRESET=cpu_small` selects a small CPU
configuration, explicit variables override the preset. Every intervention switch
defaults to baseline behaviour. See docs/trainer.md for the full variable reference.

Sections:
  1. Linux-CPU speed: optional siblings (fast-BLAS re-exec before mlx loads, fast maths)
  2. Configuration (env variables, presets, validation)
  3. Data (shards, token stream, SentencePiece byte LUTs)
  4. Model
  5. Optimizers (Muon + Adam), schedules, weight averaging
  6. Evaluation (non-overlapping and sliding-window val_bpb)
  7. Export (pruning, N-bit per-row quantization, compression, round trip)
  8. Training loop and entry point
  (diagnostic switches: train_gpt_mlx_diag.py, a sibling needed only when one is set)
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
import shutil
import sys
import tempfile
import time
import uuid
import zlib
import lzma
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# ==============================================================================
# 1. LINUX-CPU SPEED (optional sibling modules; the trainer runs without them, slower)
# ==============================================================================
# train_gpt_mlx_blas.py preloads a fast OpenBLAS by re-exec (before mlx is imported) and tunes
# malloc; train_gpt_mlx_fastmath.py holds the CPU fast maths. A copy of this file alone (a
# submission folder) runs on the reference BLAS with MLX's own maths.
try:
    import train_gpt_mlx_blas as _blas
    from train_gpt_mlx_blas import BLAS_ENV_MARKER, bootstrap_fast_blas, fast_blas_env, find_openblas  # noqa: F401
except ImportError:   # alone: no re-exec, no malloc tuning
    _blas = None
    BLAS_ENV_MARKER = "CAUSAL_GOLF_BLAS_BOOTSTRAPPED"

if __name__ == "__main__" and _blas is not None:
    bootstrap_fast_blas()
MALLOC_TUNED = _blas.tune_malloc() if _blas is not None else False


def blas_in_use() -> str:
    """Which BLAS the running process has mapped: 'openblas <path>', 'reference <path>', or a platform note."""
    if sys.platform == "darwin":
        return "accelerate"
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    paths = {line.split()[-1] for line in maps.splitlines() if "blas" in line.lower() and "/" in line}
    # numpy bundles its own libscipy_openblas64_; only a libopenblas* can stand in for MLX's libblas.
    ob = sorted(p for p in paths if os.path.basename(p).lower().startswith("libopenblas"))
    if ob:
        return f"openblas {ob[0]}"
    ref = sorted(p for p in paths if "libblas" in p.lower())
    return f"reference {ref[0]}" if ref else "unknown"

import numpy as np  # noqa: E402

import mlx.core as mx  # noqa: E402
import mlx.nn as nn  # noqa: E402
import mlx.optimizers as optim  # noqa: E402
from mlx.utils import tree_flatten, tree_unflatten  # noqa: E402

# ==============================================================================
# 2. CONFIGURATION
# ==============================================================================


class TrainerError(Exception):
    """A user-facing problem (bad config, bad data): reported as one line, exit status 2."""


@dataclass(frozen=True)
class Var:
    name: str
    kind: str                  # int | float | bool | str | choice
    default: Any
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    intervention: str = ""     # catalog entry this variable implements, if any


_I, _F, _B, _S, _C = "int", "float", "bool", "str", "choice"
VARS: list[Var] = [
    # --- data / run ---
    Var("DATA_PATH", _S, "./data/datasets/fineweb10B_sp1024", "directory with fineweb_train_*.bin and fineweb_val_*.bin"),
    Var("TOKENIZER_PATH", _S, "./data/tokenizers/fineweb_1024_bpe.model",
        "SentencePiece .model used for byte counting (falls back to $DATA_PATH/tokenizer.model when the default is absent)"),
    Var("RUN_ID", _S, "", "run name for output files; empty = <timestamp>_<random>"),
    Var("OUT_DIR", _S, "logs", "where the log, metrics, weights, config and artifact go"),
    Var("SEED", _I, 1337, "random seed (parameter init)", 0, 2**31 - 1),
    Var("COMPUTE_DTYPE", _C, "auto", "matmul dtype: auto = bfloat16 on GPU, float32 on CPU", choices=("auto", "float32", "bfloat16")),
    # --- training loop ---
    Var("ITERATIONS", _I, 20000, "optimizer steps", 1, 10**9),
    Var("MAX_WALLCLOCK_SECONDS", _F, 600.0, "stop after this much training time and warm down by remaining time; 0 = no cap", 0, 1e9),
    Var("TRAIN_BATCH_TOKENS", _I, 524288, "tokens per optimizer step", 1, 2**31 - 1, intervention="batch_size_change"),
    Var("GRAD_ACCUM_STEPS", _I, 8, "micro-batches per step (TRAIN_BATCH_TOKENS is split across them)", 1, 4096),
    Var("TRAIN_SEQ_LEN", _I, 1024, "training (and evaluation window) sequence length", 2, 1 << 20, intervention="longer_train_seq"),
    Var("VAL_BATCH_SIZE", _I, 524288, "validation tokens per batch (divided by GRAD_ACCUM_STEPS, as the baseline)", 1, 2**31 - 1),
    Var("VAL_MAX_TOKENS", _I, 0, "use only the first N validation tokens; 0 = the whole split", 0, 2**40),
    Var("VAL_LOSS_EVERY", _I, 0, "evaluate every N steps (0 = only at the end)", 0, 10**9),
    Var("TRAIN_LOG_EVERY", _I, 200, "log train loss every N steps (the first 10 are always logged)", 0, 10**9),
    Var("WARMUP_STEPS", _I, 20, "compile-priming steps: run real steps, then restore the initial model, optimizer and data state", 0, 10**6),
    Var("LR_WARMUP_STEPS", _I, 0, "linear learning-rate ramp over the first N steps (the baseline has none)", 0, 10**9),
    Var("WARMDOWN_ITERS", _I, 1200, "linear LR decay to 0 over the last N steps (by remaining wallclock when MAX_WALLCLOCK_SECONDS>0)",
        0, 10**9, intervention="warmdown_schedule"),
    # --- model ---
    Var("VOCAB_SIZE", _I, 1024, "vocabulary size; must equal the tokenizer's", 2, 65536),
    Var("NUM_LAYERS", _I, 9, "transformer blocks (unique weights)", 1, 512, intervention="more_layers"),
    Var("MODEL_DIM", _I, 512, "residual width", 8, 65536),
    Var("NUM_HEADS", _I, 8, "attention heads", 1, 1024),
    Var("NUM_KV_HEADS", _I, 4, "key/value heads (GQA); must divide NUM_HEADS", 1, 1024),
    Var("MLP_MULT", _I, 2, "MLP hidden = MLP_MULT * MODEL_DIM", 1, 64, intervention="wider_mlp"),
    Var("MLP_ACT", _C, "relu2", "MLP activation: relu2, leaky_relu2 (slope 0.5, squared), gelu, swiglu (hidden 2/3 to match params)",
        choices=("relu2", "leaky_relu2", "gelu", "swiglu"), intervention="activation_change"),
    Var("TIE_EMBEDDINGS", _B, True, "share the input embedding with the output head"),
    Var("TIED_EMBED_INIT_STD", _F, 0.005, "init std of the tied embedding", 0, 10),
    Var("LOGIT_SOFTCAP", _F, 30.0, "logits = c*tanh(logits/c)", 1e-6, 1e6),
    Var("ROPE_BASE", _F, 10000.0, "rotary base", 1, 1e9),
    Var("ROPE_DIMS", _I, 0, "rotate only the first N dims of each head (partial RoPE); 0 = all", 0, 65536, intervention="partial_rope"),
    Var("QK_GAIN_INIT", _F, 1.5, "initial per-head query gain (after q/k RMSNorm)", 0, 1e3, intervention="qk_gain"),
    Var("NUM_LOOPS", _I, 1, "run the block stack this many times with shared weights (depth recurrence)", 1, 64,
        intervention="depth_recurrence"),
    Var("PARALLEL_RESIDUAL", _B, False, "x + attn(norm x) + mlp(norm x) instead of sequential sublayers", intervention="parallel_residuals"),
    Var("UNET_SKIPS", _B, True, "U-Net skips: first half's outputs added (learned weights) into the second half",
        intervention="unet_skips"),
    Var("SMEARGATE", _B, False, "mix each token's embedding with the previous one's through a learned sigmoid gate",
        intervention="smeargate"),
    Var("BIGRAM_HASH_SIZE", _I, 0, "rows of a hashed (prev, cur) bigram embedding added to the token embedding; 0 = off",
        0, 1 << 24, intervention="bigram_hash"),
    Var("ORTHO_INIT", _B, False, "orthogonal init of block input matrices (q, k, v, fc)", intervention="ortho_init"),
    Var("VALUE_RESIDUAL", _B, False, "mix the first layer's attention values into every later layer's (learned lambdas)",
        intervention="value_residual"),
    # --- optimizer ---
    Var("TIED_EMBED_LR", _F, 0.05, "Adam LR of the (tied) embedding and the bigram table", 0, 100, intervention="lr_tuning"),
    Var("EMBED_LR", _F, 0.6, "Adam LR of the input embedding when TIE_EMBEDDINGS=0", 0, 100),
    Var("HEAD_LR", _F, 0.008, "Adam LR of the output head when TIE_EMBEDDINGS=0", 0, 100),
    Var("MATRIX_LR", _F, 0.04, "Muon LR of 2-D block matrices", 0, 100, intervention="lr_tuning"),
    Var("SCALAR_LR", _F, 0.04, "Adam LR of vectors/scalars (gains, mixes, skip weights)", 0, 100, intervention="lr_tuning"),
    Var("BETA1", _F, 0.9, "Adam beta1", 0, 1),
    Var("BETA2", _F, 0.95, "Adam beta2", 0, 1),
    Var("ADAM_EPS", _F, 1e-8, "Adam epsilon", 0, 1),
    Var("MUON_MOMENTUM", _F, 0.95, "Muon (Nesterov) momentum after its warmup", 0, 0.99999, intervention="muon_variant"),
    Var("MUON_BACKEND_STEPS", _I, 5, "Newton-Schulz iterations", 1, 50),
    Var("MUON_MOMENTUM_WARMUP_START", _F, 0.85, "Muon momentum at step 0", 0, 0.99999),
    Var("MUON_MOMENTUM_WARMUP_STEPS", _I, 500, "steps to ramp Muon momentum to MUON_MOMENTUM", 0, 10**9),
    Var("WEIGHT_DECAY", _F, 0.0, "decoupled weight decay p *= 1 - lr*wd on matrices and embeddings", 0, 10, intervention="weight_decay"),
    Var("GRAD_CLIP_NORM", _F, 0.0, "clip the global gradient norm; 0 = off", 0, 1e9, intervention="grad_clip"),
    Var("EMA_DECAY", _F, 0.0, "EMA of weights (exported and evaluated at the end); 0 = off", 0, 0.999999, intervention="ema"),
    Var("SWA_START_FRAC", _F, 0.0, "average weights from this fraction of training on (exported); 0 = off", 0, 0.999999, intervention="swa"),
    Var("SWA_EVERY", _I, 5, "steps between SWA snapshots", 1, 10**9, intervention="swa"),
    # --- evaluation ---
    Var("EVAL_STRIDE", _I, 0, "sliding-window eval: windows advance by N, each val token scored once with up to TRAIN_SEQ_LEN "
        "context; 0 = non-overlapping", 0, 1 << 20, intervention="sliding_window_eval"),
    # --- export ---
    Var("QUANT_BITS", _C, 8, "bits per weight of quantized matrices (per-row scales)", choices=(8, 6, 5, 4), intervention="low_bit_quant"),
    Var("QUANT_BITS_MLP", _C, 0, "bits of MLP matrices; 0 = QUANT_BITS", choices=(0, 8, 6, 5, 4), intervention="mixed_precision_quant"),
    Var("QUANT_BITS_ATTN", _C, 0, "bits of attention matrices; 0 = QUANT_BITS", choices=(0, 8, 6, 5, 4), intervention="mixed_precision_quant"),
    Var("INT8_KEEP_FLOAT_MAX_NUMEL", _I, 65536, "float tensors with at most this many elements are stored as fp16, not quantized",
        0, 2**40),
    Var("FP16_EMBED", _B, False, "store the token embedding as fp16 instead of quantizing it", intervention="fp16_embeddings"),
    Var("COMPRESSOR", _C, "zlib", "artifact compressor: zlib (level 9), lzma (preset 9e), zstd (Python 3.14+ stdlib only)",
        choices=("zlib", "lzma", "zstd"), intervention="better_compression"),
    Var("PRUNE_FRAC", _F, 0.0, "zero this fraction of smallest-magnitude weights of each quantized matrix before export",
        0, 0.999, intervention="pruning"),
    Var("QAT", _B, False, "straight-through fake quantization of block matrices at their export bits", intervention="qat"),
    Var("QAT_START_FRAC", _F, 0.0, "fraction of training after which QAT is on", 0, 1, intervention="qat"),
]
VAR_BY_NAME = {v.name: v for v in VARS}

# Named presets: values as an env would give them; explicit env variables win.
PRESETS: dict[str, dict[str, Any]] = {
    # ~0.5M params; ~160 steps of 4096 tokens: tens of seconds on one CPU core with OpenBLAS.
    # Deterministic length (no wallclock cap) so paired seeds compare like with like.
    "cpu_small": {
        "DATA_PATH": "data/embedded_sp1024",
        "TOKENIZER_PATH": "{DATA_PATH}/tokenizer.model",
        "VOCAB_SIZE": 1024, "NUM_LAYERS": 3, "MODEL_DIM": 128, "NUM_HEADS": 4, "NUM_KV_HEADS": 2, "MLP_MULT": 2,
        "TRAIN_SEQ_LEN": 128, "TRAIN_BATCH_TOKENS": 4096, "GRAD_ACCUM_STEPS": 1, "ITERATIONS": 160,
        "WARMDOWN_ITERS": 40, "MAX_WALLCLOCK_SECONDS": 0, "WARMUP_STEPS": 2, "MUON_MOMENTUM_WARMUP_STEPS": 40,
        "VAL_BATCH_SIZE": 16384, "VAL_MAX_TOKENS": 65536, "TRAIN_LOG_EVERY": 20, "VAL_LOSS_EVERY": 0,
        # The catalog's unet_skips control is 0: the small preset starts from a plain stack.
        "UNET_SKIPS": 0,
        # 128-wide matrices are below the baseline's 65536 keep-float threshold; quantize them like the big model's.
        "INT8_KEEP_FLOAT_MAX_NUMEL": 4096,
    },
}


class _ConfigMethods:
    """What every Config has besides its fields: the variables by name and derived quantities."""

    @property
    def values(self) -> dict[str, Any]:
        return {v.name: getattr(self, v.name.lower()) for v in VARS}

    def to_env(self) -> dict[str, Any]:
        return self.values

    def replace(self, **kw) -> "Config":
        return dataclasses.replace(self, **{k.lower(): v for k, v in kw.items()})

    @classmethod
    def from_values(cls, values: dict[str, Any], preset: str = "", explicit: frozenset[str] = frozenset(),
                    diag: dict[str, str] | None = None) -> "Config":
        """From {VARIABLE: value}; variables not given keep their defaults, unknown names are ignored."""
        known = {k.lower(): v for k, v in values.items() if k in VAR_BY_NAME}
        return cls(**known, preset=preset, explicit=explicit, diag=dict(diag or {}))

    # Derived quantities.
    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads

    @property
    def microbatch_tokens(self) -> int:
        return self.train_batch_tokens // self.grad_accum_steps

    def bits_for(self, name: str) -> int:
        if ".mlp." in name and self.quant_bits_mlp:
            return self.quant_bits_mlp
        if ".attn." in name and self.quant_bits_attn:
            return self.quant_bits_attn
        return self.quant_bits


# Resolved hyperparameters: a frozen dataclass with one field per variable (lower-case name),
# built from VARS so a new variable is one Var(...) line; plus the preset, the names set
# explicitly in the environment and the diagnostic switches (not hyperparameters).
Config = dataclasses.make_dataclass(
    "Config",
    [(v.name.lower(), Any, dataclasses.field(default=v.default)) for v in VARS]
    + [("preset", str, dataclasses.field(default="")),
       ("explicit", frozenset, dataclasses.field(default=frozenset())),
       ("diag", dict, dataclasses.field(default_factory=dict, compare=False))],
    bases=(_ConfigMethods,), frozen=True, eq=True)
Config.__module__ = __name__


def _parse_value(var: Var, raw: Any) -> Any:
    s = str(raw).strip()
    if var.kind == _S:
        return s
    if var.kind == _B:
        low = s.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise TrainerError(f"{var.name}={s!r} is not a boolean (use 0 or 1)")
    if var.kind == _C:
        for c in var.choices:
            if s.lower() == str(c).lower():
                return c
        raise TrainerError(f"{var.name}={s!r} is not one of {', '.join(str(c) for c in var.choices)}")
    try:
        if var.kind == _I:
            v: Any = int(s)
        else:
            v = float(s)
    except ValueError:
        raise TrainerError(f"{var.name}={s!r} is not {'an integer' if var.kind == _I else 'a number'}") from None
    if var.kind == _F and not math.isfinite(v):
        raise TrainerError(f"{var.name}={s!r} is not a finite number")
    if (var.lo is not None and v < var.lo) or (var.hi is not None and v > var.hi):
        raise TrainerError(f"{var.name}={s} is out of range ({var.lo:g}..{var.hi:g})")
    return v


def load_config(env: dict[str, str] | None = None) -> Config:
    """Resolve defaults < PRESET < explicit environment, then validate the combination."""
    env = dict(os.environ if env is None else env)
    preset_name = env.get("PRESET", "").strip()
    if preset_name and preset_name not in PRESETS:
        raise TrainerError(f"PRESET={preset_name!r} is unknown (known: {', '.join(PRESETS)})")
    preset = PRESETS.get(preset_name, {})
    explicit = frozenset(k for k in VAR_BY_NAME if env.get(k, "").strip() != "")
    values: dict[str, Any] = {}
    for var in VARS:
        if var.name in explicit:
            values[var.name] = _parse_value(var, env[var.name])
        elif var.name in preset:
            values[var.name] = _parse_value(var, preset[var.name]) if var.kind != _S else str(preset[var.name])
        else:
            values[var.name] = var.default
    if "{DATA_PATH}" in values["TOKENIZER_PATH"]:
        values["TOKENIZER_PATH"] = values["TOKENIZER_PATH"].replace("{DATA_PATH}", values["DATA_PATH"])
    if "TOKENIZER_PATH" not in explicit and not os.path.exists(values["TOKENIZER_PATH"]):
        alt = os.path.join(values["DATA_PATH"], "tokenizer.model")
        if os.path.exists(alt):
            values["TOKENIZER_PATH"] = alt
    if not values["RUN_ID"]:
        values["RUN_ID"] = time.strftime("%Y%m%d_%H%M%S") + "_" + uuid.uuid4().hex[:8]
    # Diagnostic switches (not hyperparameters, not in the config JSON): see train_gpt_mlx_diag.py.
    # Read one by one with literal names (not a loop): the runner's source analysis
    # (causal_core/experiments/trainer_vars.py) must see that e.g. PROJECT_DIRECTION_LOG_ONLY is read.
    diag = {"GRAD_NORM_LOG": env.get("GRAD_NORM_LOG", ""), "PROJECT_DIRECTION": env.get("PROJECT_DIRECTION", ""),
            "PROJECT_DIRECTION_LOG_ONLY": env.get("PROJECT_DIRECTION_LOG_ONLY", ""),
            "PROBE_POOL_A": env.get("PROBE_POOL_A", ""), "PROBE_POOL_B": env.get("PROBE_POOL_B", ""),
            "PROBE_MIX": env.get("PROBE_MIX", "")}
    cfg = Config.from_values(values, preset_name, explicit, {k: v.strip() for k, v in diag.items()})
    validate_config(cfg)
    return cfg


def validate_config(c: Config) -> None:
    on = [k for k, v in c.diag.items() if v and v.lower() not in ("0", "false", "no", "off")]
    if on and _diag is None:
        raise TrainerError(f"{', '.join(on)} set, but the diagnostics module train_gpt_mlx_diag.py is not next to "
                           f"the trainer; copy it there or unset {'it' if len(on) == 1 else 'them'}")
    if c.model_dim % c.num_heads:
        raise TrainerError(f"MODEL_DIM={c.model_dim} is not divisible by NUM_HEADS={c.num_heads}")
    if c.num_heads % c.num_kv_heads:
        raise TrainerError(f"NUM_HEADS={c.num_heads} is not divisible by NUM_KV_HEADS={c.num_kv_heads}")
    if c.head_dim % 2:
        raise TrainerError(f"head dim MODEL_DIM/NUM_HEADS={c.head_dim} must be even for RoPE")
    if c.rope_dims and (c.rope_dims > c.head_dim or c.rope_dims % 2):
        raise TrainerError(f"ROPE_DIMS={c.rope_dims} must be even and at most the head dim {c.head_dim}")
    step_unit = c.grad_accum_steps * c.train_seq_len
    if c.train_batch_tokens % step_unit:
        raise TrainerError(f"TRAIN_BATCH_TOKENS={c.train_batch_tokens} is not divisible by GRAD_ACCUM_STEPS*TRAIN_SEQ_LEN="
                           f"{c.grad_accum_steps}*{c.train_seq_len}={step_unit}")
    if c.eval_stride > c.train_seq_len:
        raise TrainerError(f"EVAL_STRIDE={c.eval_stride} exceeds TRAIN_SEQ_LEN={c.train_seq_len}")
    if c.bigram_hash_size == 1:
        raise TrainerError("BIGRAM_HASH_SIZE=1 is too small (0 = off, else at least 2)")
    if c.compressor == "zstd" and _zstd_module() is None:
        raise TrainerError("COMPRESSOR=zstd needs Python 3.14+ (stdlib compression.zstd); use zlib or lzma")
    if c.val_max_tokens and c.val_max_tokens < c.train_seq_len:
        raise TrainerError(f"VAL_MAX_TOKENS={c.val_max_tokens} is below TRAIN_SEQ_LEN={c.train_seq_len}")


def compute_dtype(c: Config) -> mx.Dtype:
    if c.compute_dtype == "float32":
        return mx.float32
    if c.compute_dtype == "bfloat16":
        return mx.bfloat16
    # bf16 matmuls on CPU run at a few GFLOP/s; fp32 goes through BLAS.
    return mx.bfloat16 if mx.default_device() == mx.gpu else mx.float32


# ==============================================================================
# 3. DATA
# ==============================================================================
SHARD_MAGIC, SHARD_VERSION, SHARD_HEADER_INTS = 20240520, 1, 256


def load_shard(path: Path) -> np.ndarray:
    """One challenge shard: 256 x int32 header (magic, version, count), then count uint16 tokens."""
    size = path.stat().st_size
    if size < SHARD_HEADER_INTS * 4:
        raise TrainerError(f"shard {path} is truncated: {size} bytes, shorter than the 1024-byte header")
    header = np.fromfile(path, dtype="<i4", count=SHARD_HEADER_INTS)
    if int(header[0]) != SHARD_MAGIC:
        raise TrainerError(f"shard {path} has bad magic {int(header[0])} (expected {SHARD_MAGIC})")
    if int(header[1]) != SHARD_VERSION:
        raise TrainerError(f"shard {path} has unsupported version {int(header[1])} (expected {SHARD_VERSION})")
    n = int(header[2])
    if n < 0 or size != SHARD_HEADER_INTS * 4 + 2 * n:
        raise TrainerError(f"shard {path} is truncated or padded: header says {n} tokens "
                           f"({2 * n} bytes), body has {size - SHARD_HEADER_INTS * 4} bytes")
    return np.fromfile(path, dtype="<u2", count=n, offset=SHARD_HEADER_INTS * 4).astype(np.int32)


def shard_files(data_path: str, split: str) -> list[Path]:
    d = Path(data_path)
    if not d.is_dir():
        raise TrainerError(f"DATA_PATH={data_path} does not exist or is not a directory")
    files = sorted(d.glob(f"fineweb_{split}_*.bin"))
    if not files:
        raise TrainerError(f"DATA_PATH={data_path} has no fineweb_{split}_*.bin shards")
    return files


def _check_ids(tokens: np.ndarray, vocab_size: int, where: str) -> None:
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise TrainerError(f"{where} has token id {int(tokens.max())} >= VOCAB_SIZE={vocab_size}")


class TokenStream:
    """Reads train shards in order, wrapping around; state is (file index, position) so it can be rewound."""

    def __init__(self, files: list[Path], vocab_size: int):
        self.files, self.vocab_size = files, vocab_size
        self.epoch, self.file_idx, self.pos = 1, 0, 0
        self.tokens = self._load(0)

    def _load(self, i: int) -> np.ndarray:
        t = load_shard(self.files[i])
        _check_ids(t, self.vocab_size, f"shard {self.files[i]}")
        return t

    def take(self, n: int) -> np.ndarray:
        out, left = [], n
        while left > 0:
            if self.pos >= self.tokens.size:
                self.file_idx = (self.file_idx + 1) % len(self.files)
                self.epoch += self.file_idx == 0
                self.tokens, self.pos = self._load(self.file_idx), 0
                if self.tokens.size == 0 and len(self.files) == 1:
                    raise TrainerError(f"train shard {self.files[0]} is empty")
                continue
            k = min(left, self.tokens.size - self.pos)
            out.append(self.tokens[self.pos:self.pos + k])
            self.pos += k
            left -= k
        return out[0] if len(out) == 1 else np.concatenate(out)

    def next_batch(self, tokens: int, seq_len: int) -> tuple[mx.array, mx.array]:
        chunk = self.take(tokens + 1)
        return mx.array(chunk[:-1].reshape(-1, seq_len)), mx.array(chunk[1:].reshape(-1, seq_len))


def load_val_tokens(c: Config) -> np.ndarray:
    files = shard_files(c.data_path, "val")
    tokens = np.concatenate([load_shard(f) for f in files])
    if c.val_max_tokens:
        tokens = tokens[: c.val_max_tokens + 1]
    if tokens.size < c.train_seq_len + 1:
        raise TrainerError(f"validation split under DATA_PATH={c.data_path} has {tokens.size} tokens; "
                           f"need at least TRAIN_SEQ_LEN+1={c.train_seq_len + 1}")
    _check_ids(tokens, c.vocab_size, f"validation split under DATA_PATH={c.data_path}")
    return tokens


def build_byte_luts(tokenizer_path: str, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-token UTF-8 byte counts for a tokenizer-agnostic bits-per-byte.

    base_bytes: bytes of the piece without its leading '▁' (byte-fallback tokens: 1; control/unknown/unused: 0).
    has_space: the piece starts with '▁', which is one byte (a space) unless the previous token is a boundary.
    is_boundary: control/unknown/unused tokens (BOS etc.), which stand for no text.
    """
    import sentencepiece as spm
    if not os.path.isfile(tokenizer_path):
        raise TrainerError(f"TOKENIZER_PATH={tokenizer_path} does not exist")
    try:
        sp = spm.SentencePieceProcessor(model_file=tokenizer_path)
    except Exception as e:  # sentencepiece raises plain RuntimeError/OSError on bad files
        raise TrainerError(f"TOKENIZER_PATH={tokenizer_path} is not a SentencePiece model ({e})") from None
    n = int(sp.vocab_size())
    if n != vocab_size:
        raise TrainerError(f"VOCAB_SIZE={vocab_size} does not match the tokenizer's vocab size {n} (TOKENIZER_PATH={tokenizer_path})")
    base = np.zeros(n, dtype=np.int64)
    space = np.zeros(n, dtype=bool)
    boundary = np.ones(n, dtype=bool)
    for i in range(n):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("▁"):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return base, space, boundary


def count_bytes(prev_ids: np.ndarray, tgt_ids: np.ndarray, luts) -> np.ndarray:
    base, space, boundary = luts
    return base[tgt_ids] + (space[tgt_ids] & ~boundary[prev_ids])


# ==============================================================================
# 4. MODEL
# ==============================================================================
# Control tensors stay fp32 in the artifact and are trained by Adam at SCALAR_LR.
CONTROL_PATTERNS = ("attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weights", "smear_gate", "bigram_scale", "vr_lambda")


def rms_norm(x: mx.array, eps: float = 1e-6) -> mx.array:
    # mx.fast.rms_norm: one kernel (fp32 accumulation), ~5x faster than the composed ops on CPU.
    return mx.fast.rms_norm(x, None, eps)


try:
    from train_gpt_mlx_fastmath import (  # noqa: F401 (poly_exp, poly_tanh, fast_softmax: for tests and diagnostics)
        causal_attention,
        fast_math_enabled,
        fast_softmax,
        poly_exp,
        poly_tanh,
        softcap_cross_entropy,
    )
except ImportError:   # alone: MLX's own attention and cross-entropy
    def fast_math_enabled() -> bool:
        return False


# The diagnostic switches (GRAD_NORM_LOG, PROJECT_DIRECTION, PROBE_POOL_A/B, ...) run in this sibling
# (imported after mlx, so not in section 1); alone the trainer refuses them (validate_config).
try:
    import train_gpt_mlx_diag as _diag
except ImportError:
    _diag = None


def quant_scale_rows(w: mx.array, bits: int) -> mx.array:
    qmax = 2 ** (bits - 1) - 1
    return mx.maximum(mx.max(mx.abs(w), axis=1, keepdims=True) / qmax, 1e-12)


def fake_quant_ste(w: mx.array, bits: int) -> mx.array:
    """Forward: per-row symmetric round-to-nearest at `bits`; backward: identity (straight-through)."""
    qmax = 2 ** (bits - 1) - 1
    s = mx.stop_gradient(quant_scale_rows(w, bits))
    q = mx.clip(mx.round(w / s), -qmax, qmax) * s
    return w + mx.stop_gradient(q - w)


class Linear(nn.Module):
    """Bias-free linear with an fp32 master weight cast to the compute dtype at use."""

    def __init__(self, din: int, dout: int, zero: bool = False, bits: int = 8):
        super().__init__()
        lim = 1.0 / math.sqrt(din)
        self.weight = mx.zeros((dout, din)) if zero else mx.random.uniform(-lim, lim, (dout, din))
        self.bits = bits   # export bits (QAT fake-quantizes at these)

    def __call__(self, x: mx.array, qat: bool = False) -> mx.array:
        w = fake_quant_ste(self.weight, self.bits) if qat else self.weight
        return x @ w.astype(x.dtype).T


def orthogonal(shape: tuple[int, int], gain: float = 1.0) -> mx.array:
    rows, cols = shape
    a = np.random.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return mx.array((gain * q[:rows, :cols]).astype(np.float32))


class Attention(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d, hd = c.model_dim, c.head_dim
        bits = c.quant_bits_attn or c.quant_bits
        self.num_heads, self.num_kv_heads, self.head_dim = c.num_heads, c.num_kv_heads, hd
        self.c_q = Linear(d, d, bits=bits)
        self.c_k = Linear(d, c.num_kv_heads * hd, bits=bits)
        self.c_v = Linear(d, c.num_kv_heads * hd, bits=bits)
        self.proj = Linear(d, d, zero=True, bits=bits)
        self.q_gain = mx.full((c.num_heads,), c.qk_gain_init)
        self.rope = nn.RoPE(c.rope_dims or hd, traditional=False, base=c.rope_base)
        self.value_residual = c.value_residual
        self.fast_math = fast_math_enabled()
        if c.value_residual:
            self.vr_lambda = mx.array([0.5, 0.5])

    def __call__(self, x: mx.array, v_first: mx.array | None, qat: bool = False) -> tuple[mx.array, mx.array]:
        b, t, d = x.shape
        q = self.c_q(x, qat).reshape(b, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        k = self.c_k(x, qat).reshape(b, t, self.num_kv_heads, self.head_dim).transpose(0, 2, 1, 3)
        v = self.c_v(x, qat).reshape(b, t, self.num_kv_heads, self.head_dim).transpose(0, 2, 1, 3)
        if self.value_residual and v_first is not None:
            lam = self.vr_lambda.astype(v.dtype)
            v = lam[0] * v + lam[1] * v_first
        q = self.rope(rms_norm(q)) * self.q_gain.astype(x.dtype)[None, :, None, None]
        k = self.rope(rms_norm(k))
        if self.fast_math:
            y = causal_attention(q, k, v, self.head_dim ** -0.5)
        else:
            y = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.head_dim ** -0.5, mask="causal")
        return self.proj(y.transpose(0, 2, 1, 3).reshape(b, t, d), qat), v


class MLP(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d, bits = c.model_dim, c.quant_bits_mlp or c.quant_bits
        self.act = c.mlp_act
        # SwiGLU has three matrices; 2/3 of the hidden width keeps the parameter count equal.
        hidden = c.mlp_mult * d if c.mlp_act != "swiglu" else max(8, int(round(2 * c.mlp_mult * d / 3 / 8)) * 8)
        self.fc = Linear(d, hidden, bits=bits)
        if c.mlp_act == "swiglu":
            self.gate = Linear(d, hidden, bits=bits)
        self.proj = Linear(hidden, d, zero=True, bits=bits)

    def __call__(self, x: mx.array, qat: bool = False) -> mx.array:
        h = self.fc(x, qat)
        if self.act == "relu2":
            h = mx.square(nn.relu(h))
        elif self.act == "leaky_relu2":
            h = mx.square(nn.leaky_relu(h, 0.5))
        elif self.act == "gelu":
            h = nn.gelu(h)
        else:
            h = nn.silu(self.gate(x, qat)) * h
        return self.proj(h, qat)


class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        d = c.model_dim
        self.attn = Attention(c)
        self.mlp = MLP(c)
        self.attn_scale = mx.ones((d,))
        self.mlp_scale = mx.ones((d,))
        # resid_mix[0] * x + resid_mix[1] * x0: lets each block re-read the embedding (baseline).
        self.resid_mix = mx.array(np.stack([np.ones(d), np.zeros(d)]).astype(np.float32))
        self.parallel = c.parallel_residual

    def __call__(self, x, x0, v_first, qat: bool = False):
        mix = self.resid_mix.astype(x.dtype)
        x = mix[0] * x + mix[1] * x0
        attn_out, v = self.attn(rms_norm(x), v_first, qat)
        if self.parallel:
            return x + self.attn_scale.astype(x.dtype) * attn_out + self.mlp_scale.astype(x.dtype) * self.mlp(rms_norm(x), qat), v
        x = x + self.attn_scale.astype(x.dtype) * attn_out
        return x + self.mlp_scale.astype(x.dtype) * self.mlp(rms_norm(x), qat), v


def bigram_hash(ids: mx.array, size: int) -> mx.array:
    """Bucket of (previous, current) token; position 0 (no previous) gets its own bucket size-1."""
    mod = size - 1
    cur, prev = ids[:, 1:].astype(mx.int32), ids[:, :-1].astype(mx.int32)
    h = mx.remainder(mx.bitwise_xor(36313 * cur, 27191 * prev), mod)
    first = mx.full((ids.shape[0], 1), mod, dtype=mx.int32)
    return mx.concatenate([first, h], axis=1)


class GPT(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.cfg = c
        self.dtype = compute_dtype(c)
        self.fast_math = fast_math_enabled()
        d = c.model_dim
        self.tok_emb = nn.Embedding(c.vocab_size, d)
        self.tok_emb.weight = mx.random.normal((c.vocab_size, d)) * c.tied_embed_init_std
        if not c.tie_embeddings:
            self.lm_head = Linear(d, c.vocab_size, zero=True, bits=c.quant_bits)
        if c.bigram_hash_size:
            self.bigram = nn.Embedding(c.bigram_hash_size, d)
            self.bigram.weight = mx.zeros((c.bigram_hash_size, d))
            self.bigram_scale = mx.array(0.05)
        if c.smeargate:
            self.smear_gate = mx.zeros((d,))
        self.blocks = [Block(c) for _ in range(c.num_layers)]
        if c.ortho_init:
            for blk in self.blocks:
                for lin in (blk.attn.c_q, blk.attn.c_k, blk.attn.c_v, blk.mlp.fc) + ((blk.mlp.gate,) if c.mlp_act == "swiglu" else ()):
                    lin.weight = orthogonal(lin.weight.shape)
        # Virtual depth = layers x loops; U-Net skips pair the first half with the second, mirrored.
        self.depth = c.num_layers * c.num_loops
        self.n_enc = self.depth // 2 if c.unet_skips else 0
        if c.unet_skips and self.n_enc:
            self.skip_weights = mx.ones((self.n_enc, d))

    def embed(self, ids: mx.array) -> mx.array:
        x = self.tok_emb(ids)
        if self.cfg.bigram_hash_size:
            x = x + self.bigram_scale * self.bigram(bigram_hash(ids, self.cfg.bigram_hash_size))
        x = rms_norm(x.astype(self.dtype))
        if self.cfg.smeargate:
            g = mx.sigmoid(self.smear_gate).astype(x.dtype)
            prev = mx.concatenate([mx.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
            x = (1 - g) * x + g * prev
        return x

    def hidden(self, ids: mx.array, qat: bool = False) -> mx.array:
        x = self.embed(ids)
        x0, v_first, skips = x, None, []
        L = self.cfg.num_layers
        for i in range(self.depth):
            if skips and i >= self.n_enc:
                # Baseline order: the first decoder layers take the encoder outputs, last in first out.
                x = x + self.skip_weights[i - self.n_enc].astype(x.dtype) * skips.pop()
            x, v = self.blocks[i % L](x, x0, v_first, qat)
            if v_first is None:
                v_first = v
            if i < self.n_enc:
                skips.append(x)
        return rms_norm(x)

    def raw_logits(self, ids: mx.array, qat: bool = False) -> mx.array:
        """Head output before the softcap (compute dtype)."""
        h = self.hidden(ids, qat)
        if self.cfg.tie_embeddings:
            return h @ self.tok_emb.weight.astype(h.dtype).T
        return self.lm_head(h)

    def logits(self, ids: mx.array, qat: bool = False) -> mx.array:
        z = self.raw_logits(ids, qat)
        c = self.cfg.logit_softcap
        return c * mx.tanh(z.astype(mx.float32) / c)

    def token_losses(self, ids: mx.array, targets: mx.array, qat: bool = False) -> mx.array:
        if self.fast_math:
            return softcap_cross_entropy(self.raw_logits(ids, qat).astype(mx.float32), targets, self.cfg.logit_softcap)
        return nn.losses.cross_entropy(self.logits(ids, qat), targets, reduction="none")

    def loss(self, ids: mx.array, targets: mx.array, qat: bool = False) -> mx.array:
        return mx.mean(self.token_losses(ids, targets, qat))


def flat_params(model: nn.Module) -> dict[str, mx.array]:
    return dict(tree_flatten(model.parameters()))


def count_params(model: nn.Module) -> int:
    return sum(int(p.size) for p in flat_params(model).values())


# ==============================================================================
# 5. OPTIMIZERS, SCHEDULES, WEIGHT AVERAGING
# ==============================================================================


def newton_schulz5(g: mx.array, steps: int, eps: float = 1e-7) -> mx.array:
    """Approximately orthogonalize g (push its singular values toward 1): the Muon update direction.

    g is one matrix or a stack of same-shape matrices (..., rows, cols), each normalized on its own."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g.astype(mx.float32)
    x = x / (mx.sqrt(mx.sum(x * x, axis=(-2, -1), keepdims=True)) + eps)
    transposed = x.shape[-2] > x.shape[-1]
    if transposed:
        x = mx.swapaxes(x, -1, -2)
    for _ in range(steps):
        s = x @ mx.swapaxes(x, -1, -2)
        x = a * x + (b * s + c * (s @ s)) @ x
    return mx.swapaxes(x, -1, -2) if transposed else x


class Optimizers:
    """Muon for 2-D block matrices; Adam for embeddings (TIED_EMBED_LR) and control tensors/vectors (SCALAR_LR).

    The whole update (every group, every tensor) is one mx.compile'd function of (params, grads, state,
    [lr_mul, muon momentum, adam step]); same-shape Muon matrices run Newton-Schulz as one batched stack.
    Adam is MLX's (bias-corrected) Adam, written out."""

    def __init__(self, model: GPT, c: Config):
        self.c = c
        params = flat_params(model)
        self.embed_keys = [k for k in params if k in ("tok_emb.weight", "bigram.weight")]
        self.head_keys = [k for k in params if k == "lm_head.weight"]
        self.matrix_keys = [k for k, p in params.items() if p.ndim == 2 and k not in self.embed_keys + self.head_keys
                            and not any(pat in k for pat in CONTROL_PATTERNS)]
        taken = set(self.embed_keys + self.head_keys + self.matrix_keys)
        self.scalar_keys = [k for k in params if k not in taken]
        self.keys = self.matrix_keys + self.embed_keys + self.head_keys + self.scalar_keys
        self.buffers = {k: mx.zeros_like(params[k]) for k in self.matrix_keys}
        self.embed_lr = c.tied_embed_lr if c.tie_embeddings else c.embed_lr
        # (keys, base lr, decoupled weight decay?) per Adam group
        self.adam_groups = [(keys, lr, decay) for keys, lr, decay in ((self.embed_keys, self.embed_lr, True),
                            (self.head_keys, c.head_lr, True), (self.scalar_keys, c.scalar_lr, False)) if keys]
        self.adam = {k: {"m": mx.zeros_like(params[k]), "v": mx.zeros_like(params[k])}
                     for keys, _, _ in self.adam_groups for k in keys}
        shapes: dict[tuple, list[str]] = {}
        for k in self.matrix_keys:
            shapes.setdefault(tuple(params[k].shape), []).append(k)
        self.muon_groups = list(shapes.values())
        self.adam_t = 0
        self._update = mx.compile(self._update_fn)

    def reset(self) -> None:
        """Fresh optimizer state (zero momenta, step 0), keeping the compiled update (no retrace)."""
        self.buffers = {k: mx.zeros_like(v) for k, v in self.buffers.items()}
        self.adam = {k: {"m": mx.zeros_like(s["m"]), "v": mx.zeros_like(s["v"])} for k, s in self.adam.items()}
        self.adam_t = 0

    def muon_momentum(self, step: int) -> float:
        c = self.c
        if c.muon_momentum_warmup_steps <= 0:
            return c.muon_momentum
        t = min(step / c.muon_momentum_warmup_steps, 1.0)
        return (1 - t) * c.muon_momentum_warmup_start + t * c.muon_momentum

    def _update_fn(self, params: dict, grads: dict, buffers: dict, adam: dict, scal: mx.array):
        c = self.c
        lr_mul, mom, t = scal[0], scal[1], scal[2]
        new, new_buf, new_adam = {}, {}, {}
        lr = c.matrix_lr * lr_mul
        for keys in self.muon_groups:
            g = mx.stack([grads[k] for k in keys])
            buf = mom * mx.stack([buffers[k] for k in keys]) + g
            u = newton_schulz5(g + mom * buf, c.muon_backend_steps)    # Nesterov
            rows, cols = g.shape[-2:]
            p = mx.stack([params[k] for k in keys])
            p = p * (1.0 - lr * c.weight_decay) - (lr * math.sqrt(max(1.0, rows / cols))) * u.astype(p.dtype)
            for i, k in enumerate(keys):
                new[k], new_buf[k] = p[i], buf[i]
        b1, b2, eps = c.beta1, c.beta2, c.adam_eps
        c2 = mx.rsqrt(1.0 - mx.power(b2, t))
        for keys, base_lr, decay in self.adam_groups:
            glr = base_lr * lr_mul
            c1 = glr / (1.0 - mx.power(b1, t))
            for k in keys:
                g, p = grads[k], params[k]
                if decay and c.weight_decay:
                    p = p * (1.0 - glr * c.weight_decay)
                m = b1 * adam[k]["m"] + (1.0 - b1) * g
                v = b2 * adam[k]["v"] + (1.0 - b2) * mx.square(g)
                new[k] = p - (c1 * m) / (mx.sqrt(v) * c2 + eps)
                new_adam[k] = {"m": m, "v": v}
        return new, new_buf, new_adam

    def step(self, model: GPT, grads: dict[str, mx.array], step: int, lr_mul: float) -> None:
        params = flat_params(model)
        self.adam_t += 1
        scal = mx.array([lr_mul, self.muon_momentum(step), self.adam_t], dtype=mx.float32)
        new, self.buffers, self.adam = self._update({k: params[k] for k in self.keys}, {k: grads[k] for k in self.keys},
                                                    self.buffers, self.adam, scal)
        model.update(tree_unflatten(list(new.items())))

    def state(self) -> list:
        return [self.buffers, self.adam]

def clip_grads(grads: dict[str, mx.array], max_norm: float) -> tuple[dict[str, mx.array], mx.array]:
    norm = mx.sqrt(sum(mx.sum(g.astype(mx.float32) ** 2) for g in grads.values()))
    if max_norm <= 0:
        return grads, norm
    scale = mx.minimum(1.0, max_norm / (norm + 1e-12))
    return {k: g * scale for k, g in grads.items()}, norm


def lr_multiplier(c: Config, step: int, elapsed_ms: float) -> float:
    """Baseline schedule: flat, then linear warmdown over the last WARMDOWN_ITERS steps, or with a
    wallclock cap over the last WARMDOWN_ITERS * (average step time) of the remaining time."""
    warm = min(1.0, (step + 1) / c.lr_warmup_steps) if c.lr_warmup_steps > 0 else 1.0
    if c.warmdown_iters <= 0:
        return warm
    if c.max_wallclock_seconds <= 0:
        start = max(c.iterations - c.warmdown_iters, 0)
        down = (c.iterations - step) / max(c.warmdown_iters, 1) if start <= step < c.iterations else 1.0
        return warm * max(down, 0.0)
    step_ms = elapsed_ms / max(step, 1)
    warmdown_ms = c.warmdown_iters * step_ms
    remaining_ms = max(1000.0 * c.max_wallclock_seconds - elapsed_ms, 0.0)
    return warm * (remaining_ms / max(warmdown_ms, 1e-9) if remaining_ms <= warmdown_ms else 1.0)


def progress(c: Config, step: int, elapsed_ms: float) -> float:
    """Fraction of training done: by steps, or by wallclock when the cap would end training sooner."""
    frac = step / c.iterations
    if c.max_wallclock_seconds > 0:
        frac = max(frac, elapsed_ms / (1000.0 * c.max_wallclock_seconds))
    return min(frac, 1.0)


class WeightAverager:
    """EMA (every step) and/or SWA (uniform average of snapshots late in training); fp32."""

    def __init__(self, c: Config, params: dict[str, mx.array]):
        self.c = c
        self.ema = {k: mx.array(v) for k, v in params.items()} if c.ema_decay > 0 else None
        self.swa: dict[str, mx.array] | None = None
        self.swa_count = 0

    def update(self, params: dict[str, mx.array], step: int, frac: float) -> None:
        if self.ema is not None:
            d = self.c.ema_decay
            self.ema = {k: d * self.ema[k] + (1 - d) * params[k] for k in params}
        if self.c.swa_start_frac > 0 and frac >= self.c.swa_start_frac and step % self.c.swa_every == 0:
            self.swa = dict(params) if self.swa is None else {k: self.swa[k] + params[k] for k in params}
            self.swa_count += 1

    def arrays(self) -> list:
        return [x for x in (self.ema, self.swa) if x is not None]

    def final(self, params: dict[str, mx.array]) -> tuple[dict[str, mx.array], str]:
        """Weights to export: SWA average if any snapshot was taken, else EMA, else the raw weights."""
        if self.swa is not None and self.swa_count:
            return {k: v / self.swa_count for k, v in self.swa.items()}, f"swa({self.swa_count} snapshots)"
        if self.ema is not None:
            return dict(self.ema), f"ema({self.c.ema_decay})"
        return dict(params), "raw"


# ==============================================================================
# 6. EVALUATION
# ==============================================================================


def eval_windows(n_targets: int, seq_len: int, stride: int) -> list[tuple[int, int]]:
    """(start, first_scored) windows over val targets 0..n_targets-1 (target t = token t+1).

    stride=0: non-overlapping windows, tail shorter than seq_len dropped (the baseline).
    stride>0: windows advance by `stride`; each scores only targets no earlier window scored, so every
    target is scored exactly once, each after up to seq_len-1 tokens of context. The last window is
    pulled back to end exactly at the last target.
    """
    if stride <= 0:
        return [(s, 0) for s in range(0, (n_targets // seq_len) * seq_len, seq_len)]
    out, scored_to, s = [(0, 0)], seq_len, 0
    while scored_to < n_targets:
        s = min(s + stride, n_targets - seq_len)
        out.append((s, scored_to - s))
        scored_to = s + seq_len
    return out


def evaluate(c: Config, token_loss_fn: Callable, val_tokens: np.ndarray, luts, stride: int | None = None) -> tuple[float, float, int]:
    """(val_loss in nats/token, val_bpb, scored token count) over the validation tokens."""
    L = c.train_seq_len
    stride = c.eval_stride if stride is None else stride
    windows = eval_windows(val_tokens.size - 1, L, stride)
    batch = max(1, (c.val_batch_size // c.grad_accum_steps) // L)
    total_loss = 0.0
    total_tokens = total_bytes = 0
    pos = np.arange(L)
    for i in range(0, len(windows), batch):
        chunk = windows[i:i + batch]
        starts = np.array([s for s, _ in chunk])
        idx = starts[:, None] + pos[None, :]
        x_np, y_np = val_tokens[idx], val_tokens[idx + 1]
        mask_np = pos[None, :] >= np.array([f for _, f in chunk])[:, None]
        losses = token_loss_fn(mx.array(x_np), mx.array(y_np))
        # Batch sums go to a float64 host total: an fp32 running sum drifts over millions of tokens.
        total_loss += float(mx.sum(losses.astype(mx.float32) * mx.array(mask_np)).item())
        total_tokens += int(mask_np.sum())
        total_bytes += int(count_bytes(x_np[mask_np], y_np[mask_np], luts).sum())
    val_loss = total_loss / total_tokens
    if total_bytes <= 0:
        raise TrainerError("validation tokens decode to 0 bytes; val_bpb undefined (tokenizer/data mismatch?)")
    return val_loss, val_loss / math.log(2.0) * total_tokens / total_bytes, total_tokens


# ==============================================================================
# 7. EXPORT: PRUNE, QUANTIZE, COMPRESS, ROUND TRIP
# ==============================================================================
QUANT_FORMAT = "causal_golf_quant_v1"
CLIP_QUANTILE = 0.9999984   # per-row clip at the 99.99984th percentile of |w| (baseline)


def is_control(name: str) -> bool:
    return any(p in name for p in CONTROL_PATTERNS)


def export_plan(c: Config, name: str, arr: np.ndarray) -> str:
    """'quant' (N-bit per row), 'fp32' (control tensors), 'fp16' (small or FP16_EMBED) for one tensor."""
    if is_control(name):
        return "fp32"
    if name == "tok_emb.weight" and c.fp16_embed:
        return "fp16"
    if arr.ndim == 2 and arr.size > c.int8_keep_float_max_numel:
        return "quant"
    if arr.size > c.int8_keep_float_max_numel:
        return "quant8_tensor"
    return "fp16"


def prune_matrix(w: np.ndarray, frac: float) -> np.ndarray:
    """Zero the `frac` smallest-magnitude entries (exactly floor(frac * size) of them)."""
    k = int(frac * w.size)
    if k <= 0:
        return w
    flat = w.reshape(-1).copy()
    flat[np.argpartition(np.abs(flat), k - 1)[:k]] = 0.0
    return flat.reshape(w.shape)


def pack_bits(u: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned values < 2**bits densely, `bits` bits each (little-endian bit order)."""
    b = ((u.reshape(-1, 1).astype(np.uint8) >> np.arange(bits, dtype=np.uint8)) & 1).astype(np.uint8)
    return np.packbits(b.reshape(-1), bitorder="little")


def unpack_bits(buf: np.ndarray, bits: int, n: int) -> np.ndarray:
    b = np.unpackbits(buf, bitorder="little")[: n * bits].reshape(n, bits).astype(np.uint16)
    return (b << np.arange(bits, dtype=np.uint16)).sum(axis=1).astype(np.int16)


def quantize_matrix(w: np.ndarray, bits: int) -> dict:
    qmax = 2 ** (bits - 1) - 1
    clip = np.quantile(np.abs(w), CLIP_QUANTILE, axis=1) if w.size else np.zeros(w.shape[0], np.float32)
    # Rounded to fp16 first so quantization uses exactly the scale the artifact stores.
    scale = np.maximum(clip / qmax, 1e-12).astype(np.float16).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(6e-8))
    q = np.clip(np.round(np.clip(w, -clip[:, None], clip[:, None]) / scale[:, None]), -qmax, qmax).astype(np.int8)
    entry = {"kind": "quant", "bits": bits, "shape": w.shape, "scale": scale.astype(np.float16)}
    entry["data"] = q if bits == 8 else pack_bits((q.astype(np.int16) + qmax + 1).astype(np.uint8), bits)
    return entry


def dequantize_entry(e: dict) -> np.ndarray:
    kind = e["kind"]
    if kind == "quant":
        bits, shape = e["bits"], tuple(e["shape"])
        n = int(np.prod(shape))
        if bits == 8:
            q = e["data"].astype(np.float32)
        else:
            q = (unpack_bits(e["data"], bits, n) - (2 ** (bits - 1))).astype(np.float32)
        return q.reshape(shape) * e["scale"].astype(np.float32)[:, None]
    if kind == "quant8_tensor":
        return e["data"].astype(np.float32) * np.float32(e["scale"])
    return e["data"].astype(np.float32)


def quantize_state(c: Config, state: dict[str, np.ndarray]) -> tuple[dict, dict]:
    tensors, stats = {}, {"params": 0, "quantized": 0, "pruned_zeros": 0, "payload_bytes": 0}
    for name, w in state.items():
        w = np.asarray(w, dtype=np.float32)
        stats["params"] += w.size
        plan = export_plan(c, name, w)
        if plan == "quant":
            if c.prune_frac > 0:
                w = prune_matrix(w, c.prune_frac)
                stats["pruned_zeros"] += int(c.prune_frac * w.size)
            e = quantize_matrix(w, c.bits_for(name))
            stats["quantized"] += w.size
        elif plan == "quant8_tensor":
            clip = float(np.quantile(np.abs(w), CLIP_QUANTILE)) or 1.0
            e = {"kind": plan, "scale": np.float32(clip / 127),
                 "data": np.clip(np.round(w / (clip / 127)), -127, 127).astype(np.int8)}
        elif plan == "fp32":
            e = {"kind": "fp32", "data": w}
        else:
            e = {"kind": "fp16", "data": w.astype(np.float16)}
        stats["payload_bytes"] += sum(v.nbytes for v in e.values() if isinstance(v, np.ndarray))
        tensors[name] = e
    return {"format": QUANT_FORMAT, "tensors": tensors}, stats


def dequantize_state(obj: dict) -> dict[str, np.ndarray]:
    if obj.get("format") != QUANT_FORMAT:
        raise TrainerError(f"artifact format {obj.get('format')!r} is not {QUANT_FORMAT}")
    return {k: dequantize_entry(e) for k, e in obj["tensors"].items()}


def _zstd_module():
    try:
        from compression import zstd  # Python 3.14+
        return zstd
    except ImportError:
        return None


def compress(data: bytes, method: str) -> bytes:
    if method == "zlib":
        return zlib.compress(data, 9)
    if method == "lzma":
        return lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    zstd = _zstd_module()
    if zstd is None:
        raise TrainerError("COMPRESSOR=zstd needs Python 3.14+ (stdlib compression.zstd)")
    return zstd.compress(data, level=22)


def decompress(blob: bytes) -> bytes:
    """Detect the compressor from the stream's magic bytes."""
    if blob[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        zstd = _zstd_module()
        if zstd is None:
            raise TrainerError("artifact is zstd-compressed; needs Python 3.14+")
        return zstd.decompress(blob)
    return zlib.decompress(blob)


def serialize_artifact(c: Config, state: dict[str, np.ndarray]) -> tuple[bytes, dict]:
    obj, stats = quantize_state(c, state)
    raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stats["raw_bytes"] = len(raw)
    return compress(raw, c.compressor), stats


def deserialize_artifact(blob: bytes) -> dict[str, np.ndarray]:
    return dequantize_state(pickle.loads(decompress(blob)))


def code_bytes() -> int:
    return len(Path(__file__).read_bytes())


# ==============================================================================
# 8. TRAINING LOOP AND ENTRY POINT
# ==============================================================================


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; run outputs are read by work-pool workers, so honour the umask.
        mask = os.umask(0o022)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_savez(path: Path, arrays: dict[str, mx.array]) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")   # mx.savez appends .npz unless present
    mx.savez(str(tmp), **arrays)
    os.replace(tmp, path)


def build_model(c: Config) -> GPT:
    mx.random.seed(c.seed)
    np.random.seed(c.seed)
    model = GPT(c)
    mx.eval(model.parameters())
    return model


def load_trained(config_path: str | os.PathLike, weights_path: str | os.PathLike | None = None) -> tuple[GPT, Config]:
    """Rebuild a trained model from OUT_DIR/RUN_ID_config.json (+ the _mlx_model.npz beside it)."""
    meta = json.loads(Path(config_path).read_text())
    c = Config.from_values(meta["env"], meta.get("preset", ""))
    model = build_model(c)
    weights_path = weights_path or meta["weights"]
    model.update(tree_unflatten(list(mx.load(str(weights_path)).items())))
    return model, c


class RunLog:
    """Log lines to stdout and OUT_DIR/RUN_ID.txt, metrics to OUT_DIR/RUN_ID_metrics.jsonl; flushed per line."""

    def __init__(self, c: Config, echo: bool = True):
        self.dir = Path(c.out_dir)
        # What this run creates, so that a run refused before its first step leaves nothing (discard).
        self.new_dir = next((p for p in (self.dir, *self.dir.parents) if p.parent.exists() and not p.exists()), None)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{c.run_id}.txt"
        self.metrics_path = self.dir / f"{c.run_id}_metrics.jsonl"
        self.new_files = [p for p in (self.path, self.metrics_path) if not p.exists()]
        self.f = open(self.path, "a", encoding="utf-8")
        self.m = open(self.metrics_path, "a", encoding="utf-8")
        self.echo = echo
        self.trained = False              # set by the first metric: the run did some work

    def discard(self) -> None:
        """Remove what this run created (a refused run: nothing was trained)."""
        self.close()
        for p in self.new_files:
            p.unlink(missing_ok=True)
        if self.new_dir is not None:
            shutil.rmtree(self.new_dir, ignore_errors=True)

    def __call__(self, msg: str) -> None:
        if self.echo:
            print(msg, flush=True)
        self.f.write(msg + "\n")
        self.f.flush()

    def metric(self, **kw) -> None:
        self.trained = True
        self.m.write(json.dumps(kw) + "\n")
        self.m.flush()

    def close(self) -> None:
        self.f.close()
        self.m.close()


@dataclass
class TrainResult:
    val_loss: float
    val_bpb: float
    artifact_bytes: int
    total_bytes: int
    steps: int
    train_time_ms: float
    exported_from: str
    raw_params: dict[str, mx.array] = field(repr=False, default_factory=dict)
    exported_params: dict[str, mx.array] = field(repr=False, default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)


@dataclass
class _Run:
    """What the phases of a training run share."""
    c: Config
    log: RunLog
    dtype: Any
    train_files: list[Path]
    luts: Any
    val_tokens: np.ndarray
    stream: TokenStream
    model: GPT
    opt: Optimizers
    n_params: int
    blas: str
    grad_fn: dict = field(default_factory=dict)
    token_loss_fn: Callable | None = None
    hooks: Any = None   # train_gpt_mlx_diag.DiagHooks behind the diagnostic switches; set after warmup (off: no cost)

    def step(self, step: int, lr_mul: float, qat: bool) -> mx.array:
        """One optimizer step over GRAD_ACCUM_STEPS microbatches; returns the mean loss."""
        c = self.c
        seq, micro = c.train_seq_len, c.microbatch_tokens
        loss_sum, acc = mx.array(0.0), None
        if self.hooks is not None:
            self.hooks.begin(self.stream)
        if self.hooks is not None and self.hooks.pools is not None:     # probe: mixed replay pools, per-sample records
            loss, acc, self.hooks.samples = self.hooks.pools.grads(micro, seq, c.grad_accum_steps, qat, self.hooks.dirs)
            acc, _ = clip_grads(self.hooks.apply(step, lr_mul, acc, loss), c.grad_clip_norm)
            self.opt.step(self.model, acc, step, lr_mul)
            return loss
        for _ in range(c.grad_accum_steps):
            x, y = self.stream.next_batch(micro, seq)
            loss, grads = self.grad_fn[qat](x, y)
            g = dict(tree_flatten(grads))
            acc = g if acc is None else {k: acc[k] + g[k] for k in g}
            loss_sum = loss_sum + loss
        if c.grad_accum_steps > 1:
            acc = {k: v / c.grad_accum_steps for k, v in acc.items()}
        if self.hooks is not None:
            acc = self.hooks.apply(step, lr_mul, acc, loss_sum / c.grad_accum_steps)
        acc, _ = clip_grads(acc, c.grad_clip_norm)
        self.opt.step(self.model, acc, step, lr_mul)
        return loss_sum / c.grad_accum_steps


def setup_run(c: Config, log: RunLog) -> _Run:
    """Data, model, optimizers and the compiled step functions; the run's header lines."""
    dtype = compute_dtype(c)
    train_files = shard_files(c.data_path, "train")   # a missing DATA_PATH is named before its tokenizer
    luts = build_byte_luts(c.tokenizer_path, c.vocab_size)
    val_tokens = load_val_tokens(c)
    stream = TokenStream(train_files, c.vocab_size)

    model = build_model(c)
    opt = Optimizers(model, c)
    run = _Run(c, log, dtype, train_files, luts, val_tokens, stream, model, opt, count_params(model), blas_in_use())
    _log_header(run)

    # Bind the compiled functions to the whole model state: parameters are replaced each step.
    state = model.state
    run.grad_fn = {q: mx.compile(nn.value_and_grad(model, lambda x, y, q=q: model.loss(x, y, qat=q)), inputs=state,
                                 outputs=state)
                   for q in (False, True)}
    run.token_loss_fn = mx.compile(lambda x, y: model.token_losses(x, y), inputs=state, outputs=state)
    return run


def _log_header(run: _Run) -> None:
    c, log, blas, opt = run.c, run.log, run.blas, run.opt
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    log(f"run_id:{c.run_id} preset:{c.preset or 'none'} mlx_version:{mx.__version__} device:{mx.default_device()}")
    log(f"blas:{blas} openblas_threads:{threads} compute_dtype:{str(run.dtype).split('.')[-1]} "
        f"fast_math:{int(run.model.fast_math)} malloc_tuned:{int(MALLOC_TUNED)}")
    if blas.startswith("reference"):
        warn = ("WARNING: running on the REFERENCE BLAS (30-40x slower fp32 matmuls); "
                f"fast-BLAS bootstrap: {os.environ.get(BLAS_ENV_MARKER, 'not run (imported, not executed)')}")
        log(warn)
        print(warn, file=sys.stderr, flush=True)
    log(f"data_path:{c.data_path} train_shards:{len(run.train_files)} val_tokens:{run.val_tokens.size - 1} "
        f"tokenizer:{c.tokenizer_path}")
    log(f"model_params:{run.n_params} vocab_size:{c.vocab_size} layers:{c.num_layers} loops:{c.num_loops} dim:{c.model_dim} "
        f"heads:{c.num_heads} kv_heads:{c.num_kv_heads} mlp_mult:{c.mlp_mult} mlp_act:{c.mlp_act} seq_len:{c.train_seq_len}")
    log(f"iterations:{c.iterations} train_batch_tokens:{c.train_batch_tokens} grad_accum_steps:{c.grad_accum_steps} "
        f"warmup_steps:{c.warmup_steps} warmdown_iters:{c.warmdown_iters} max_wallclock_seconds:{c.max_wallclock_seconds:.1f}")
    log(f"optimizer:muon+adam matrices:{len(opt.matrix_keys)} scalars:{len(opt.scalar_keys)} matrix_lr:{c.matrix_lr} "
        f"scalar_lr:{c.scalar_lr} tied_embed_lr:{c.tied_embed_lr} muon_momentum:{c.muon_momentum} weight_decay:{c.weight_decay}")
    switches = " ".join(f"{v.name}={c.values[v.name]}" for v in VARS if v.intervention and c.values[v.name] != v.default)
    log(f"non_default_switches:{switches or 'none'}")


def warmup(run: _Run) -> None:
    """Prime compilation with real steps, then restore the exact initial state (weights,
    optimizer, data position), so warmup changes timing only, never the result."""
    c, model = run.c, run.model
    if c.warmup_steps > 0:
        seq = c.train_seq_len
        init_params = {k: mx.array(v) for k, v in flat_params(model).items()}
        for w in range(c.warmup_steps):
            loss = run.step(0, 1.0, c.qat and c.qat_start_frac <= 0)
            mx.eval(loss, model.parameters(), run.opt.state())
        x = mx.array(run.val_tokens[: seq].reshape(1, seq))
        mx.eval(run.token_loss_fn(x, x))
        model.update(tree_unflatten(list(init_params.items())))
        run.opt.reset()
        run.stream = TokenStream(run.train_files, c.vocab_size)
        run.log(f"warmup_steps:{c.warmup_steps} done (state restored)")
    if _diag is not None:
        run.hooks = _diag.DiagHooks.create(sys.modules[__name__], c, flat_params(model),
                                           (model, run.stream, run.train_files, run.luts))


def train_loop(run: _Run, averager: WeightAverager) -> tuple[int, float]:
    """Steps until ITERATIONS (or the wall-clock cap), with periodic and final validation;
    returns (steps taken, training time in ms)."""
    c, log, model = run.c, run.log, run.model
    train_ms, step, stop_after = 0.0, 0, None
    t0 = time.perf_counter()
    cpu_ms, p0 = 0.0, time.process_time()    # CPU time of training (calibration under a time budget)
    while True:
        last = step == c.iterations or (stop_after is not None and step >= stop_after)
        if last or (c.val_loss_every > 0 and step % c.val_loss_every == 0 and step > 0):
            train_ms += 1000 * (time.perf_counter() - t0)
            cpu_ms += 1000 * (time.process_time() - p0)
            vl, vb, _ = evaluate(c, run.token_loss_fn, run.val_tokens, run.luts)
            log(f"step:{step}/{c.iterations} val_loss:{vl:.4f} val_bpb:{vb:.4f} train_time:{train_ms:.0f}ms "
                f"step_avg:{train_ms / max(step, 1):.2f}ms")
            log.metric(event="val", step=step, val_loss=vl, val_bpb=vb, elapsed_ms=round(train_ms, 1))
            t0, p0 = time.perf_counter(), time.process_time()
        if last:
            if stop_after is not None and step < c.iterations:
                log(f"stopping_early: wallclock_cap train_time:{train_ms:.0f}ms step:{step}/{c.iterations}")
            return step, train_ms
        elapsed = train_ms + 1000 * (time.perf_counter() - t0)
        lr_mul = lr_multiplier(c, step, elapsed)
        frac = progress(c, step, elapsed)
        qat = c.qat and frac >= c.qat_start_frac
        loss = run.step(step, lr_mul, qat)
        step += 1
        averager.update(flat_params(model), step, progress(c, step, elapsed))
        mx.eval(loss, model.parameters(), run.opt.state(), averager.arrays())
        loss_v = float(loss.item())
        if not math.isfinite(loss_v):
            raise TrainerError(f"train loss became {loss_v} at step {step}; lower the learning rates")
        elapsed = train_ms + 1000 * (time.perf_counter() - t0)
        log.metric(event="train", step=step, train_loss=loss_v, elapsed_ms=round(elapsed, 1), lr_mul=round(lr_mul, 6),
                   qat=bool(qat))
        if c.train_log_every > 0 and (step <= 10 or step % c.train_log_every == 0 or step == c.iterations):
            log(f"step:{step}/{c.iterations} train_loss:{loss_v:.4f} train_time:{elapsed:.0f}ms step_avg:{elapsed / step:.2f}ms "
                f"tok_s:{c.train_batch_tokens * step / max(elapsed / 1000, 1e-9):.0f} lr_mul:{lr_mul:.4f} "
                f"cpu_time:{cpu_ms + 1000 * (time.process_time() - p0):.1f}ms")
        if c.max_wallclock_seconds > 0 and stop_after is None and elapsed >= 1000 * c.max_wallclock_seconds:
            stop_after = step


def export_and_score(run: _Run, averager: WeightAverager, step: int, train_ms: float) -> TrainResult:
    """Averaged weights replace the raw ones; they are saved, quantized, compressed, read
    back and scored (the round-trip val_bpb is the run's score)."""
    c, log, model = run.c, run.log, run.model
    raw = flat_params(model)
    final, source = averager.final(raw)
    model.update(tree_unflatten(list(final.items())))
    mx.eval(model.parameters())
    out = Path(c.out_dir)
    npz_path = out / f"{c.run_id}_mlx_model.npz"
    cfg_path = out / f"{c.run_id}_config.json"
    atomic_savez(npz_path, final)
    meta = {"env": c.to_env(), "preset": c.preset, "weights": str(npz_path), "exported_from": source,
            "model_params": run.n_params, "mlx_version": mx.__version__, "blas": run.blas,
            "compute_dtype": str(run.dtype).split(".")[-1], "steps": step}
    _atomic_write_text(cfg_path, json.dumps(meta, indent=2, default=str) + "\n")
    log(f"saved_model:{npz_path} bytes:{npz_path.stat().st_size} exported_weights:{source}")

    state_np = {k: np.array(v.astype(mx.float32)) for k, v in final.items()}
    blob, stats = serialize_artifact(c, state_np)
    ptz_path = out / f"{c.run_id}_mlx_model.ptz"
    tmp = ptz_path.with_name(f".{ptz_path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, ptz_path)
    n_code = code_bytes()
    art = ptz_path.stat().st_size
    log(f"serialized_model_int8_zlib:{art} bytes (payload:{stats['payload_bytes']} raw_pickle:{stats['raw_bytes']})")
    bits_desc = f"{c.quant_bits}" + (f" mlp={c.quant_bits_mlp}" if c.quant_bits_mlp else "") + \
        (f" attn={c.quant_bits_attn}" if c.quant_bits_attn else "")
    log(f"artifact: quant_bits={bits_desc} compressor={c.compressor} fp16_embed={int(c.fp16_embed)} prune_frac={c.prune_frac} "
        f"model_bytes={art} code_bytes={n_code} total_bytes={art + n_code}")

    roundtrip = deserialize_artifact(ptz_path.read_bytes())
    model.update(tree_unflatten([(k, mx.array(v)) for k, v in roundtrip.items()]))
    mx.eval(model.parameters())
    q0 = time.perf_counter()
    ql, qb, n_scored = evaluate(c, run.token_loss_fn, run.val_tokens, run.luts)
    q_ms = 1000 * (time.perf_counter() - q0)
    log(f"final_int8_zlib_roundtrip val_loss:{ql:.4f} val_bpb:{qb:.4f} eval_time:{q_ms:.0f}ms "
        f"eval_stride:{c.eval_stride} scored_tokens:{n_scored}")
    log(f"final_int8_zlib_roundtrip_exact val_loss:{ql:.8f} val_bpb:{qb:.8f}")
    log.metric(event="final", step=step, val_loss=ql, val_bpb=qb, elapsed_ms=round(train_ms, 1),
               artifact_bytes=art, total_bytes=art + n_code)
    return TrainResult(ql, qb, art, art + n_code, step, train_ms, source, raw, final,
                       {"log": str(log.path), "metrics": str(log.metrics_path), "weights": str(npz_path),
                        "config": str(cfg_path), "artifact": str(ptz_path)})


def train(c: Config, log: RunLog) -> TrainResult:
    """The whole run, phase by phase."""
    run = setup_run(c, log)
    warmup(run)
    averager = WeightAverager(c, flat_params(run.model))
    step, train_ms = train_loop(run, averager)
    return export_and_score(run, averager, step, train_ms)


def main(env: dict[str, str] | None = None) -> int:
    try:
        c = load_config(env)
        log = RunLog(c)
    except TrainerError as e:
        print(f"train_gpt_mlx: error: {e}", file=sys.stderr, flush=True)
        return 2
    try:
        train(c, log)
        return 0
    except TrainerError as e:
        print(f"train_gpt_mlx: error: {e}", file=sys.stderr, flush=True)
        if not log.trained:         # refused before any work: no log, no empty metrics file
            log.discard()
        else:
            log.f.write(f"error: {e}\n")
        return 2
    except KeyboardInterrupt:
        print("train_gpt_mlx: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
