"""The expert skeleton: the causal structure we believe before looking at data, as data.

Nodes are the canonical interventions (catalog.NAMES), four mediators and the outcome
val_bpb. Every edge carries the reason an expert would give for it; all start tagged
`expert_imposed` and the FCI validation (fci.py) may re-tag them.

Mediators are mostly *latent*: the records report val_bpb and artifact bytes, but not
"capacity" or the number of steps reached. That is why the data check uses FCI (it
allows latent variables) and why an edge into a latent mediator is judged through the
mediator's observed descendants (see fci.py).
"""
from __future__ import annotations

from causal_core.catalog import NAMES

OUTCOME = "val_bpb"
MEDIATORS: dict[str, str] = {
    "artifact_bytes": "compressed artifact size (observed as bytes_total; the 16,000,000-byte cap)",
    "train_steps": "optimizer steps reached in the 10-minute budget (latent)",
    "eval_context": "tokens of context each scored token sees at evaluation (latent)",
    "model_capacity": "effective parameter count / expressiveness (latent)",
}
# Mediators the records measure directly (RecordEntry field that carries them).
OBSERVED_MEDIATORS: dict[str, str] = {"artifact_bytes": "bytes_total"}

_CAPACITY = ("model_capacity", "more parameters or effective depth raise what the model can fit in the budget")
_BYTES_DOWN = ("artifact_bytes", "stores weights in fewer bytes, freeing budget under the 16 MB cap")
_STEPS = ("train_steps", "changes how many optimizer steps fit in 10 minutes")

# (source, target, reason). Intervention -> val_bpb edges are *direct* mechanisms that
# do not run through a named mediator.
EDGES: list[tuple[str, str, str]] = [
    # mediators -> outcome / other mediators
    ("model_capacity", OUTCOME, "a larger effective model reaches lower loss per token at fixed data"),
    ("model_capacity", "artifact_bytes", "more parameters cost more bytes in the artifact"),
    ("model_capacity", "train_steps", "a bigger model is slower per step, so fewer steps fit in 10 minutes"),
    ("train_steps", OUTCOME, "more optimizer steps in the time budget lower the loss (undertrained regime)"),
    ("eval_context", OUTCOME, "each scored token conditioned on more context has lower surprisal"),
    # capacity
    ("more_layers", *_CAPACITY),
    ("wider_mlp", *_CAPACITY),
    ("larger_vocab", "model_capacity", "a bigger embedding table adds parameters"),
    ("bigram_hash", "model_capacity", "a hashed bigram table adds cheap token-pair parameters"),
    ("depth_recurrence", "model_capacity", "looping blocks adds effective depth without bytes"),
    ("depth_recurrence", "train_steps", "each loop costs compute, so fewer steps fit"),
    ("ssm_hybrid", "model_capacity", "state-space layers replace attention capacity"),
    # bytes
    ("low_bit_quant", *_BYTES_DOWN),
    ("mixed_precision_quant", "artifact_bytes", "spends bits only where the error matters, shrinking the artifact"),
    ("better_compression", "artifact_bytes", "a stronger compressor shrinks the same weights"),
    ("pruning", "artifact_bytes", "zeroed weights compress better"),
    ("weight_decay", "artifact_bytes", "smaller-magnitude weights quantize and compress better (records' MuonWD notes)"),
    ("fp16_embeddings", "artifact_bytes", "keeping embeddings at fp16 costs bytes"),
    # steps
    ("systems_speedup", *_STEPS),
    ("batch_size_change", *_STEPS),
    ("longer_train_seq", "train_steps", "attention over longer sequences is slower per token"),
    # evaluation context
    ("sliding_window_eval", "eval_context", "overlapping windows give every scored token near-full context"),
    ("longer_train_seq", "eval_context", "the evaluation window grows with the training sequence length"),
    # adoption: an author adds the child because the parent made it possible or needed
    ("low_bit_quant", "more_layers", "bytes freed by low-bit weights are spent on extra layers"),
    ("low_bit_quant", "wider_mlp", "bytes freed by low-bit weights are spent on a wider MLP"),
    ("low_bit_quant", "qat", "QAT exists to shrink the quantization gap of low-bit export"),
    ("low_bit_quant", "gptq", "Hessian-aware rounding matters once weights go below int8"),
    ("low_bit_quant", "mixed_precision_quant", "mixing bit widths only arises once some tensors go low-bit"),
    ("sliding_window_eval", "test_time_training", "legal score-first TTT is built on the sliding-window scorer"),
    ("larger_vocab", "tokenizer_transform", "CaseOps-style transforms were introduced on the SP8192 tokenizer"),
]

# Interventions whose mechanism (also) acts on val_bpb directly.
_DIRECT_REASONS: dict[str, str] = {
    "test_time_training": "adapts weights to the evaluation stream itself",
    "larger_vocab": "bits per byte depend on how many bytes each token covers",
    "tokenizer_transform": "a changed text transform changes what is predicted per byte",
    "low_bit_quant": "rounding error of low-bit weights raises the loss (quantization gap)",
    "mixed_precision_quant": "changes which tensors carry rounding error",
    "fp16_embeddings": "removes rounding error from the most sensitive tensor",
    "gptq": "error-aware rounding lowers the quantization gap",
    "qat": "training under fake quantization lowers the quantization gap",
    "pruning": "zeroed weights lose information",
    "alt_objective": "a different objective changes what is optimized for next-token loss",
    "data_loader": "data order and sampling change what is learned in few steps",
    "weight_decay": "regularization changes the solution the optimizer reaches",
    "batch_size_change": "tokens per step change gradient noise at a fixed step count",
}
# better_compression has no direct edge on purpose: at fixed weights a different
# compressor cannot change the loss; its value is the budget it frees (artifact_bytes).
_OPTIMIZATION = "changes optimization or architecture quality at a fixed parameter and step budget"
EDGES += [(n, OUTCOME, _DIRECT_REASONS.get(n, _OPTIMIZATION)) for n in NAMES
          if n in _DIRECT_REASONS or n != "better_compression" and not any(s == n and t in MEDIATORS for s, t, _ in EDGES)]


def nodes() -> list[str]:
    return [*NAMES, *MEDIATORS, OUTCOME]


def adoption_parents(name: str) -> list[str]:
    """Intervention parents of an intervention (mirrored in catalog.CatalogEntry.parents)."""
    return [s for s, t, _ in EDGES if t == name and s in NAMES]
