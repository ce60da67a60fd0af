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
import threading
import time
from pathlib import Path
from typing import Any, Iterator

_umask_lock = threading.Lock()


TMP_SUFFIX = ".cgtmp"        # our temporaries, recognisable: `.<name>.<random>.cgtmp`
STALE_TMP_S = 3600.0         # a temporary this old belongs to a writer that was killed


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def sweep_stale_temps(folder: Path, name: str | None = None, older_than_s: float = STALE_TMP_S) -> list[Path]:
    """Remove temporaries left in `folder` by atomic writes that were killed mid-way (of `name` only,
    when given). Fresh ones are left alone: they may belong to a writer still running."""
    removed = []
    now = time.time()
    pattern = f".{name}.*{TMP_SUFFIX}" if name else f".*{TMP_SUFFIX}"
    for p in folder.glob(pattern):
        with contextlib.suppress(OSError):
            if now - p.lstat().st_mtime > older_than_s:
                p.unlink()
                removed.append(p)
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        # mkstemp creates 0600; results are shared with work-pool workers, so honour the umask.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp):
            e.filename = str(path)     # name the file the user asked for, not our temporary
        raise
    sweep_stale_temps(path.parent)       # a killed writer's temporaries, here or of other files
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


def locked_json_list_append(path: str | os.PathLike, entry: Any, key: str | None = None,
                            replace: tuple[str, ...] = ()) -> bool:
    """Append `entry` to the JSON list in `path` under a lock, atomically.

    With `key`, an entry whose `entry[key]` is already present is not appended again
    (idempotent re-runs); returns whether it was appended. With `replace`, an entry that
    agrees with `entry` on all those fields is updated in place instead (one entry per
    thing: a rerun that finishes a failed seed updates its experiment's entry).
    """
    path = Path(path)
    with file_lock(path):
        items = json.loads(path.read_text()) if path.exists() else []
        if not isinstance(items, list):
            raise CorruptStateError(f"{path}: expected a JSON list")
        if key is not None and any(isinstance(i, dict) and i.get(key) == entry.get(key) for i in items):
            return False
        same = [n for n, i in enumerate(items)
                if replace and isinstance(i, dict) and all(i.get(k) == entry.get(k) for k in replace)]
        if same:
            items[same[0]] = entry
            atomic_write_json(path, items)
            return False
        items.append(entry)
        atomic_write_json(path, items)
        return True
