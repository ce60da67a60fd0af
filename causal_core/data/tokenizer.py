"""SentencePiece BPE training with the challenge's conventions.

Mirrors openai/parameter-golf's data/download_hf_docs_and_tokenize.py: BPE, byte
fallback, split digits, no dummy prefix, ids pad=0 bos=1 eos=2 unk=3. One deliberate
difference: normalization is `identity` with extra whitespace kept (the challenge
uses nmt_nfkc), so decode(encode(doc)) == doc exactly and the per-token byte counts
that train_gpt.py's build_sentencepiece_luts derives sum to the document's UTF-8
bytes -- the denominator of val_bpb and of the embedded corpus's entropy floor.
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Iterator, Sequence

import sentencepiece as spm

from causal_core.errors import DataError

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
# SentencePiece skips training "sentences" longer than max_sentence_length bytes (4192):
# feed documents in newline-aligned chunks below that, newlines kept so "\n" is learned.
_CHUNK_BYTES = 4000
# Cap on training text: BPE training cost grows with it and a few MB is plenty.
TRAIN_CHARS = 8_000_000

SETTINGS = {
    "model_type": "bpe",
    "byte_fallback": True,
    "split_digits": True,
    "normalization_rule_name": "identity",
    "remove_extra_whitespaces": False,
    "add_dummy_prefix": False,
    "character_coverage": 0.9995,
    "pad_id": PAD_ID, "bos_id": BOS_ID, "eos_id": EOS_ID, "unk_id": UNK_ID,
    "hard_vocab_limit": True,  # fail loudly rather than silently emit a smaller vocab
}


class TokenizerError(DataError, ValueError):
    """SentencePiece could not train or load the tokenizer."""


def _chunks(doc: str) -> Iterator[str]:
    if len(doc) <= _CHUNK_BYTES // 4 or len(doc.encode("utf-8")) <= _CHUNK_BYTES:
        yield doc
        return
    cur, n = [], 0
    for line in doc.split("\n"):
        b = len(line.encode("utf-8")) + 1
        if cur and n + b > _CHUNK_BYTES:
            yield "\n".join(cur)
            cur, n = [], 0
        if b > _CHUNK_BYTES:  # one huge line: hard cut by characters
            for i in range(0, len(line), _CHUNK_BYTES // 4):
                yield line[i:i + _CHUNK_BYTES // 4]
            continue
        cur.append(line)
        n += b
    if cur:
        yield "\n".join(cur)


def train_tokenizer(docs: Sequence[str], vocab_size: int, prefix: Path, *, seed: int = 0) -> spm.SentencePieceProcessor:
    """Train on (a deterministic sample of) `docs`; writes prefix.model / prefix.vocab."""
    order = list(range(len(docs)))
    random.Random(f"tokenizer-{seed}").shuffle(order)
    sample, n = [], 0
    for i in order:
        sample.append(docs[i])
        n += len(docs[i])
        if n >= TRAIN_CHARS:
            break
    sentences = [c for d in sample for c in _chunks(d)]
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_prefix=str(prefix), vocab_size=vocab_size,
            num_threads=2, minloglevel=2, **SETTINGS)
    except RuntimeError as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
        hint = ""
        if "too high" in msg:
            hint = " (the text has too few distinct pieces for this vocabulary: lower {param} or add text)"
        elif "smaller than required" in msg:
            hint = " (byte fallback needs 260 ids plus one per distinct character: raise {param})"
        raise TokenizerError(f"SentencePiece could not train a vocab_size={vocab_size} tokenizer: {msg}{hint}",
                             "vocab_size" if hint else None) from None
    sp = spm.SentencePieceProcessor(model_file=str(prefix) + ".model")
    if sp.vocab_size() != vocab_size or sp.bos_id() != BOS_ID:
        raise TokenizerError(f"tokenizer has vocab {sp.vocab_size()} / bos {sp.bos_id()}, expected {vocab_size} / {BOS_ID}")
    return sp


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def piece_byte_counts(sp: spm.SentencePieceProcessor):
    """(base_bytes, has_leading_space, is_boundary) per id, as train_gpt.py's
    build_sentencepiece_luts computes them (numpy instead of torch)."""
    import numpy as np

    n = sp.vocab_size()
    base = np.zeros(n, dtype=np.int64)
    lead = np.zeros(n, dtype=bool)
    boundary = np.ones(n, dtype=bool)
    for i in range(n):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\u2581"):
            lead[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return base, lead, boundary


def lut_byte_count(sp: spm.SentencePieceProcessor, tokens) -> int:
    """Bytes the challenge's eval attributes to tokens[1:] (targets), given tokens[0] as context."""
    import numpy as np

    base, lead, boundary = piece_byte_counts(sp)
    tokens = np.asarray(tokens, dtype=np.int64)
    prev, tgt = tokens[:-1], tokens[1:]
    return int((base[tgt] + (lead[tgt] & ~boundary[prev])).sum())
