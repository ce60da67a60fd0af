"""Scores and settings from a record's training logs (via causal_core.logparse)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from causal_core.logparse import ScoreLine, StepTime, final_score, step_time
from causal_core.records.guard import RootGuard

_SEED = re.compile(r"seed[_-]?(\d+)", re.I)
# Logs echo the training script: its defaults say how a README-less run was configured.
_ENV_DEFAULT = re.compile(r"os\.environ\.get\(\s*[\"'](\w+)[\"']\s*,\s*[\"']?([\w.+-]+)[\"']?\s*\)")


@dataclass
class LogScore:
    file: str               # relative to the record folder
    seed: int | None
    score: ScoreLine


def read_text(path: Path, guard: RootGuard, warnings: list[str] | None = None) -> str | None:
    data = guard.read(path, warnings)
    if data is None or b"\x00" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


def log_files(folder: Path, guard: RootGuard) -> list[Path]:
    return guard.files_under(folder, ".log")


def scores(folder: Path, guard: RootGuard) -> tuple[list[LogScore], list[str]]:
    out, warnings = [], []
    for p in log_files(folder, guard):
        rel = p.relative_to(folder).as_posix()
        text = read_text(p, guard, warnings)
        if text is None:
            warnings.append(f"{rel}: binary or unreadable file; ignored")
            continue
        s = final_score(text)
        if s is None:
            continue
        m = _SEED.search(p.name)
        out.append(LogScore(rel, int(m.group(1)) if m else None, s))
    return out, warnings


def main_step_time(folder: Path, guard: RootGuard) -> tuple[str, StepTime] | None:
    """(log, its step time) of the record's main run: train.log, else the first log that has one."""
    files = log_files(folder, guard)
    for p in sorted(files, key=lambda p: p.name != "train.log"):
        text = read_text(p, guard)
        st = step_time(text) if text else None
        if st is not None:
            return p.relative_to(folder).as_posix(), st
    return None


def script_defaults(folder: Path, guard: RootGuard) -> str:
    """`VAR=default` lines from the script source echoed at the top of the first log."""
    for p in log_files(folder, guard):
        text = read_text(p, guard)
        if text:
            return "\n".join(f"{k}={v}" for k, v in _ENV_DEFAULT.findall(text))
    return ""
