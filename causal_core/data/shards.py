"""The challenge's token shard format: 256 x int32 header (magic 20240520, version 1,
token count, zeros), then `count` uint16 tokens. Same layout as fineweb10B_sp1024."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from causal_core.atomic import atomic_write_bytes

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4


class ShardError(ValueError):
    pass


def write_shard(path: str | os.PathLike, tokens: np.ndarray) -> Path:
    tokens = np.asarray(tokens)
    if tokens.size and (tokens.min() < 0 or tokens.max() > 0xFFFF):
        raise ShardError(f"{path}: token ids must fit in uint16 (got {tokens.min()}..{tokens.max()})")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, tokens.size
    return atomic_write_bytes(path, header.tobytes() + tokens.astype("<u2").tobytes())


def shard_token_count(path: str | os.PathLike) -> int:
    """Validate a shard's header and size against each other; its token count. ShardError otherwise."""
    path = Path(path)
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(f"{path}: truncated header ({size} bytes < {HEADER_BYTES})")
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if header[0] != MAGIC:
        raise ShardError(f"{path}: bad magic {int(header[0])} (expected {MAGIC})")
    if header[1] != VERSION:
        raise ShardError(f"{path}: unsupported version {int(header[1])} (expected {VERSION})")
    n = int(header[2])
    if size != HEADER_BYTES + 2 * n:
        raise ShardError(f"{path}: size mismatch: body has {size - HEADER_BYTES} bytes, header says {n} tokens ({2 * n} bytes)")
    return n


def read_shard(path: str | os.PathLike) -> np.ndarray:
    n = shard_token_count(path)
    return np.fromfile(path, dtype="<u2", count=n, offset=HEADER_BYTES)
