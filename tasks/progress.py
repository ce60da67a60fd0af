"""Live progress of a cycle's seed runs: console lines and one Prefect progress artifact.

The runner (causal_core) reads each trainer's stdout and calls back every ~10 s with the
run's step, loss and ETA. Here that becomes a log line of the seed's task run (console and
UI) and a move of the cycle's progress artifact: the mean share of steps done over its runs.
Boards are looked up by key, so a task takes a plain string parameter, not an object.
"""
from __future__ import annotations

import threading
import time

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from causal_core.experiments.progress import ProgressCallback, RunProgress, report_every_s

_boards: dict[str, "ProgressBoard"] = {}
_boards_lock = threading.Lock()


class ProgressBoard:
    """One cycle's (or replication's) progress artifact over its runs."""

    def __init__(self, key: str, description: str, labels: list[str], push_every_s: float | None = None):
        self.key, self.description = key, description
        self.fractions = {label: 0.0 for label in labels}
        self.finished: set[str] = set()
        # At most one API call per ~5 s (or per report interval, when that is shorter).
        self.push_every_s, self.last_push = push_every_s or min(5.0, report_every_s()), 0.0
        self.lock = threading.Lock()
        self.artifact_id = create_progress_artifact(progress=0.0, key=key, description=self._describe())
        with _boards_lock:
            _boards[key] = self

    def _describe(self) -> str:
        return f"{self.description}: {len(self.finished)}/{len(self.fractions)} runs finished"

    def update(self, label: str, fraction: float, finished: bool = False) -> None:
        with self.lock:
            self.fractions[label] = fraction
            if finished:
                self.finished.add(label)
            now = time.monotonic()
            if not finished and now - self.last_push < self.push_every_s:
                return
            self.last_push = now
            pct = 100.0 * sum(self.fractions.values()) / max(1, len(self.fractions))
            update_progress_artifact(self.artifact_id, pct, description=self._describe())

    def finish(self, label: str) -> None:
        self.update(label, 1.0, finished=True)

    def close(self) -> None:
        with _boards_lock:
            _boards.pop(self.key, None)


def reporter(board_key: str | None, logger) -> ProgressCallback | None:
    """The runner's callback for one seed task: a log line, and the board's bar moves."""
    with _boards_lock:
        board = _boards.get(board_key) if board_key else None

    def on_progress(p: RunProgress) -> None:
        if p.phase != "finished":       # the flow announces the finished run with its score
            logger.info(p.line())
        if board is not None:
            board.update(p.label, p.fraction)
    return on_progress
