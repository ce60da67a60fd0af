"""`prepare-data --check DIR`: validate a shard directory (ours or the challenge's
fineweb10B_sp1024) without trusting any manifest."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from causal_core.errors import DataError
from causal_core.data.shards import HEADER_BYTES, ShardError, shard_token_count


def _check_shard(path: Path) -> tuple[int, int]:
    """(token count, max token id) of one shard; DataError naming the shard on any defect."""
    try:
        n = shard_token_count(path)
    except ShardError as e:
        raise DataError(f"bad shard: {e}") from None
    if n == 0:
        return 0, -1
    tokens = np.memmap(path, dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(n,))
    # Chunked max: a 100M-token shard is read once, never copied whole.
    mx = max(int(tokens[i:i + (1 << 24)].max()) for i in range(0, n, 1 << 24))
    return n, mx


def check_data_dir(data_dir: Path, tokenizer: str | Path | None = None) -> dict:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"not a directory: {data_dir}")
    counts = {}
    max_id = -1
    for split in ("train", "val"):
        files = sorted(data_dir.glob(f"fineweb_{split}_*.bin"))
        if not files:
            raise DataError(f"no fineweb_{split}_*.bin shards in {data_dir}")
        total = 0
        for f in files:
            n, mx = _check_shard(f)
            total += n
            max_id = max(max_id, mx)
        if total == 0:
            raise DataError(f"{split} shards in {data_dir} hold no tokens")
        counts[split] = (len(files), total)
    tok_path = Path(tokenizer) if tokenizer else data_dir / "tokenizer.model"
    vocab_note = "tokenizer not checked (no tokenizer.model beside the shards)"
    vocab = None
    if tokenizer or tok_path.is_file():
        if not tok_path.is_file():
            raise DataError(f"tokenizer not found: {tok_path}")
        import sentencepiece as spm

        try:
            vocab = int(spm.SentencePieceProcessor(model_file=str(tok_path)).vocab_size())
        except (RuntimeError, OSError) as e:
            raise DataError(f"not a SentencePiece model: {tok_path} ({str(e).strip().splitlines()[-1] if str(e).strip() else e})") from None
        if max_id >= vocab:
            raise DataError(f"token id {max_id} out of range for the {vocab}-piece tokenizer {tok_path}")
        vocab_note = f"max id {max_id} < vocab {vocab} ({tok_path.name})"
    (ntr, ttr), (nva, tva) = counts["train"], counts["val"]
    summary = (f"ok: {data_dir}: {ntr} train shard(s) / {ttr:,} tokens, {nva} val shard(s) / {tva:,} tokens, "
               f"{vocab_note}")
    return {"summary": summary, "train_tokens": ttr, "val_tokens": tva, "train_shards": ntr,
            "val_shards": nva, "max_id": max_id, "vocab_size": vocab}
