"""One live owner per run: a rerun never trains a run id while an earlier attempt still runs.

Trainers run in their own sessions (so a timeout can kill a whole torchrun tree); a runner
or loop killed with -9 therefore leaves them running. Two guards, taken before a run starts:

1. runs/RUN_ID.lock, held (flock) by the runner for as long as its trainer lives. A second
   live runner waits on it, then finds the first one's result. The kernel drops the lock
   when its holder dies, and the trainer does not inherit it (Popen closes fds).
2. Holding the lock, a process group that still trains this run belongs to a dead runner:
   it is ended before the run starts again. The pid in runs/RUN_ID.pid is trusted only if
   /proc says a process of that group was started with this run's RUN_ID and OUT_DIR (a
   reused pid is not), so nothing else is ever signalled. Without /proc (macOS) nothing is
   ended; the lock still serialises live runners.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

from causal_core.atomic import file_lock

PROC = Path("/proc")


def _environ(pid: int) -> dict[bytes, bytes]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    return dict(kv.split(b"=", 1) for kv in raw.split(b"\0") if b"=" in kv)


def _pgrp(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()    # after "(comm)": state ppid pgrp ...
    return int(fields[2]) if len(fields) > 2 else None


def run_processes(pgid: int, run_id: str, runs_dir: Path) -> list[int]:
    """Live processes of group `pgid` that were started for this run (RUN_ID and OUT_DIR match)."""
    if not PROC.is_dir():
        return []
    want = {b"RUN_ID": run_id.encode(), b"OUT_DIR": str(runs_dir).encode()}
    out = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and _pgrp(int(entry.name)) == pgid:
            env = _environ(int(entry.name))
            if all(env.get(k) == v for k, v in want.items()):
                out.append(int(entry.name))
    return out


def kill_group(pgid: int, grace_s: float = 5.0) -> None:
    """SIGTERM a trainer's process group, SIGKILL it after grace_s (the runner's timeouts use it too)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def end_leftover(runs_dir: Path, run_id: str) -> int | None:
    """End the trainer group a dead runner left for this run; returns its pgid if there was one."""
    pid_file = runs_dir / f"{run_id}.pid"
    try:
        pgid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not run_processes(pgid, run_id, runs_dir):
        return None
    print(f"run {run_id}: ending trainer process group {pgid} left running by an earlier, killed runner",
          file=sys.stderr, flush=True)
    kill_group(pgid, grace_s=5.0)
    return pgid


@contextlib.contextmanager
def own_run(runs_dir: Path, run_id: str) -> Iterator[None]:
    """Hold the run's lock (waiting for a live owner) and end a dead owner's trainers first."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(runs_dir / run_id):
        end_leftover(runs_dir, run_id)
        yield
