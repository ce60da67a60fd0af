"""Live progress of one training run, read from the trainer's stdout while it trains.

The runner waits on the trainer in short slices and, between them, reads the new part of
the run's stdout file for the challenge's `step:N/M train_loss:X train_time:Tms` lines.
At most every `every_s` seconds (and at least that often while the run lives, even with no
new step: "starting", "evaluating") it hands a RunProgress to the caller's callback: the
CLI prints it, the Prefect task logs it and moves the cycle's progress artifact. The
callback runs in the runner's own thread (no thread of ours, so a caller's context holds).
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

_STEP = re.compile(r"step:(\d+)/(\d+) train_loss:([-+\d.eE]+|nan|inf)(?:.*?train_time:([\d.]+)ms)?")

Phase = Literal["starting", "training", "evaluating", "finished"]


def report_every_s() -> float:
    """Seconds between two reports of one run (CAUSAL_GOLF_PROGRESS_EVERY_S; tests shorten it)."""
    return float(os.environ.get("CAUSAL_GOLF_PROGRESS_EVERY_S", "10"))


@dataclass(frozen=True)
class RunProgress:
    label: str                    # "cycle1 treatment seed2"
    phase: Phase
    step: int = 0
    total: int = 0
    train_loss: float | None = None
    elapsed_s: float = 0.0        # wall time since the process started
    eta_s: float | None = None    # training time left, from the trainer's own train_time

    @property
    def fraction(self) -> float:
        """Share of this run done, for a progress bar (evaluation counted as done training)."""
        if self.phase == "finished":
            return 1.0
        return min(1.0, self.step / self.total) if self.total else 0.0

    def line(self) -> str:
        if self.phase == "starting":
            return f"{self.label}: starting ({fmt_duration(self.elapsed_s)})"
        loss = f" loss {self.train_loss:.2f}" if self.train_loss is not None else ""
        head = f"{self.label}: step {self.step}/{self.total}{loss}"
        if self.phase == "training":
            return head + (f" ETA {fmt_duration(self.eta_s)}" if self.eta_s is not None else "")
        if self.phase == "evaluating":
            return head + f", training done, evaluating ({fmt_duration(self.elapsed_s)} so far)"
        return head + f", finished in {fmt_duration(self.elapsed_s)}"


ProgressCallback = Callable[[RunProgress], None]

_default_reporter: ProgressCallback | None = None


def set_default_reporter(callback: ProgressCallback | None) -> None:
    """The callback for runs started without one (the final assembly's seeds): the flow sets it
    to its logger, so no training run of the loop is silent."""
    global _default_reporter
    _default_reporter = callback


def default_reporter() -> ProgressCallback | None:
    return _default_reporter


def progress_label(config, condition: str, seed: int) -> str:
    """How a run is named in progress lines: `cycle1 treatment seed2` (an ExperimentConfig)."""
    head = f"cycle{config.cycle}" if config.cycle is not None else config.intervention
    return f"{head} {condition} seed{seed}"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "?"
    s = max(0, int(round(s)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class StdoutTail:
    """Reads the lines a trainer appended to its stdout file since the last call."""

    def __init__(self, path: Path, label: str):
        self.path, self.label = Path(path), label
        self.offset = 0
        self.partial = ""
        self.step = self.total = 0
        self.loss: float | None = None
        self.train_ms: float | None = None

    def read(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        self.offset += len(chunk)
        text = self.partial + chunk.decode(errors="replace")
        lines = text.split("\n")
        self.partial = lines.pop()           # an unfinished last line waits for its end
        for ln in lines:
            if m := _STEP.search(ln):
                self.step, self.total = int(m.group(1)), int(m.group(2))
                self.loss = float(m.group(3))
                self.train_ms = float(m.group(4)) if m.group(4) else None

    def snapshot(self, elapsed_s: float, finished: bool = False) -> RunProgress:
        if finished:
            phase: Phase = "finished"
        elif self.total == 0:
            phase = "starting"
        elif self.step >= self.total:
            phase = "evaluating"
        else:
            phase = "training"
        eta = None
        if phase == "training" and self.step > 0:
            per_step_s = (self.train_ms / 1000 if self.train_ms else elapsed_s) / self.step
            eta = per_step_s * (self.total - self.step)
        return RunProgress(self.label, phase, self.step, self.total, self.loss, elapsed_s, eta)


def wait_reporting(proc: subprocess.Popen, timeout: float, stdout_path: Path, label: str,
                   on_progress: ProgressCallback | None, every_s: float | None = None, poll_s: float = 1.0) -> int:
    """proc.wait(timeout) that reports progress every `every_s` seconds on the way.

    Raises subprocess.TimeoutExpired at the deadline, like proc.wait."""
    if on_progress is None:
        return proc.wait(timeout=timeout)
    every_s = every_s or report_every_s()
    tail = StdoutTail(stdout_path, label)
    t0 = time.monotonic()
    deadline, next_report = t0 + timeout, t0 + every_s
    while True:
        now = time.monotonic()
        if now >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            rc = proc.wait(timeout=min(poll_s, deadline - now, max(0.05, next_report - now)))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= next_report:
                tail.read()
                _safe(on_progress, tail.snapshot(time.monotonic() - t0))
                next_report = time.monotonic() + every_s
            continue
        tail.read()
        _safe(on_progress, tail.snapshot(time.monotonic() - t0, finished=True))
        return rc


def _safe(callback: ProgressCallback, p: RunProgress) -> None:
    # Progress is for people: a failing display (a server hiccup) must never fail the run.
    try:
        callback(p)
    except Exception:   # noqa: BLE001
        pass
