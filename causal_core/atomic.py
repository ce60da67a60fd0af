"""Atomic file writes and locked appends: state is never half-written.

Write to a temporary file in the same directory, fsync, rename over the target
(rename is atomic on POSIX), then fsync the directory so the rename survives a crash.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive advisory lock on `path + '.lock'` (serializes read-modify-write cycles)."""
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class CorruptStateError(ValueError):
    """A state file (a JSON list such as experiment_log.json) is not what it should be."""


def check_json_list(path: str | os.PathLike) -> None:
    """Refuse, before any work, a JSON-list state file that an append would fail on later:
    a folder, a path under a file, or content that is not a JSON list."""
    from causal_core.safe_paths import check_output_file
    path = check_output_file(path, "experiment log")
    if not path.exists():
        return
    try:
        items = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptStateError(f"{path}: not valid JSON ({e}); fix or move it away") from None
    if not isinstance(items, list):
        raise CorruptStateError(f"{path}: expected a JSON list, found {type(items).__name__}")


def locked_json_list_append(path: str | os.PathLike, entry: Any, key: str | None = None) -> bool:
    """Append `entry` to the JSON list in `path` under a lock, atomically.

    With `key`, an entry whose `entry[key]` is already present is not appended again
    (idempotent re-runs); returns whether it was appended.
    """
    path = Path(path)
    with file_lock(path):
        items = json.loads(path.read_text()) if path.exists() else []
        if not isinstance(items, list):
            raise ValueError(f"{path}: expected a JSON list")
        if key is not None and any(isinstance(i, dict) and i.get(key) == entry.get(key) for i in items):
            return False
        items.append(entry)
        atomic_write_json(path, items)
        return True
