"""Run paired seeds of an experiment: one trainer subprocess per (condition, seed).

Layout of an experiment out dir (also the RAW_RESULT that record_writer reads):
    config.json             the config that ran
    raw_runs.json           RawRuns (all runs + per-condition status)
    stats.json              Analysis (written by `causal-golf analyze` / the flow)
    runs/RUN_ID.stdout|.stderr|.pid|.result.json   per run, from the runner
    runs/RUN_ID.txt, RUN_ID_metrics.jsonl, RUN_ID_mlx_model.npz   from the trainer (OUT_DIR=runs/)
One entry per experiment (and out dir) in experiment_log.json (default: next to DIR), updated in place by a rerun.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from causal_core.atomic import atomic_write_json, atomic_write_text, check_json_list, locked_json_list_append
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.run_owner import own_run
from causal_core.logparse import final_score
from causal_core.safe_paths import check_output_dir

CONDITIONS = ("control", "treatment")
STDERR_TAIL = 4000
_BYTES_MODEL = re.compile(r"^serialized_model\w*:\s*(\d+) bytes", re.M)
# The challenge's `Total submission size...: N bytes`, or our trainer's `artifact: ... total_bytes=N`.
_BYTES_TOTAL = re.compile(r"^Total submission size[^:]*:\s*(\d+) bytes|^artifact:.*\btotal_bytes=(\d+)", re.M)
_TRAIN = re.compile(r"step:(\d+)/\d+ train_loss:([-+\d.eE]+)(?:.*?train_time:([\d.]+)ms)?")
_VAL = re.compile(r"step:(\d+)/\d+ val_loss:[-+\d.eE]+ val_bpb:([-+\d.eE]+)(?:.*?train_time:([\d.]+)ms)?")


REUSED_PREFIX = "reused:"     # score_source of a run served from an earlier one


class RunResult(BaseModel):
    run_id: str
    condition: Literal["control", "treatment"]
    seed: int
    status: Literal["ok", "failed", "timed_out"]
    returncode: int | None = None
    val_bpb: float | None = None           # the run's score (None unless status == ok)
    val_loss: float | None = None
    score_source: str | None = None         # "stdout:final_int8_zlib_roundtrip_exact", "log:..."
    last_val_bpb: float | None = None       # last score line seen at all (partial runs)
    bytes_model: int | None = None
    bytes_total: int | None = None
    error: str | None = None
    stderr_tail: str = ""
    stdout_path: str
    stderr_path: str
    log_path: str | None = None
    metrics_path: str | None = None
    checkpoint_path: str | None = None
    elapsed_s: float = 0.0
    started_at: str = ""

    @property
    def complete(self) -> bool:
        return self.status == "ok" and self.val_bpb is not None

    @property
    def reused(self) -> bool:
        """Served from an earlier run of the same resolved config and seed (loop/run_reuse.py): trained nothing."""
        return (self.score_source or "").startswith(REUSED_PREFIX)


class ConditionSummary(BaseModel):
    status: Literal["ok", "reduced_power", "failed"]
    n_runs: int
    n_ok: int
    failed_seeds: list[int] = Field(default_factory=list)


class RawRuns(BaseModel):
    experiment_id: str
    intervention: str
    platform: str
    config: ExperimentConfig
    runs: list[RunResult]
    conditions: dict[str, ConditionSummary]
    stopped_early: str | None = None        # sequential mode: why it stopped before the last seed
    finished_at: str = ""

    def scores(self, condition: str) -> dict[int, float]:
        return {r.seed: r.val_bpb for r in self.runs if r.condition == condition and r.complete}

    @classmethod
    def load(cls, path: str | Path) -> "RawRuns":
        p = Path(path)
        return cls.model_validate_json((p / "raw_runs.json" if p.is_dir() else p).read_text())


def condition_status(runs: list[RunResult]) -> ConditionSummary:
    """One failed seed: kept, reduced power. Two or more (or fewer than 2 left): failed."""
    failed = sorted(r.seed for r in runs if not r.complete)
    n_ok = len(runs) - len(failed)
    status = "failed" if len(failed) >= 2 or n_ok < 2 else "reduced_power" if failed else "ok"
    return ConditionSummary(status=status, n_runs=len(runs), n_ok=n_ok, failed_seeds=failed)


# --- one run -----------------------------------------------------------------------------

_live: set[int] = set()       # process groups still running (killed if the runner is interrupted)
_live_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def run_slot(limit: int) -> threading.BoundedSemaphore:
    """A process-wide slot for one training run among `limit`: callers that start runs from
    their own threads (one Prefect task per seed) still never oversubscribe the cores."""
    with _live_lock:
        return _slots.setdefault(limit, threading.BoundedSemaphore(limit))


def _kill_group(pgid: int, grace_s: float = 5.0) -> None:
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


def kill_live_runs() -> None:
    with _live_lock:
        groups = list(_live)
    for g in groups:
        _kill_group(g, grace_s=2.0)


def _metrics_from_stdout(text: str) -> list[dict]:
    rows: dict[int, dict] = {}
    for m in _TRAIN.finditer(text):
        row = rows.setdefault(int(m.group(1)), {"step": int(m.group(1))})
        row["train_loss"] = float(m.group(2))
        if m.group(3):
            row["elapsed_ms"] = float(m.group(3))
    for m in _VAL.finditer(text):
        row = rows.setdefault(int(m.group(1)), {"step": int(m.group(1))})
        row["val_bpb"] = float(m.group(2))
        if m.group(3):
            row["elapsed_ms"] = float(m.group(3))
    return [rows[k] for k in sorted(rows)]


def _log_candidates(cfg: ExperimentConfig, runs_dir: Path, run_id: str) -> list[Path]:
    wd = cfg.resolved_workdir()
    return [runs_dir / f"{run_id}.txt", wd / "logs" / f"{run_id}.txt", wd / "logs" / run_id / "train.log"]


def _load_result(path: Path) -> RunResult | None:
    try:
        return RunResult.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None


def run_one(config: ExperimentConfig, condition: str, seed: int, out_dir: str | Path,
            resume: bool = True) -> RunResult:
    """Run one (condition, seed); an existing complete result in out_dir is returned as is."""
    # own_run: never while an earlier attempt of this run still trains (run_owner.py).
    with run_slot(config.parallel_limit()), own_run(Path(out_dir).resolve() / "runs", config.run_id(condition, seed)):
        return _run_one(config, condition, seed, out_dir, resume)


def _run_one(config: ExperimentConfig, condition: str, seed: int, out_dir: str | Path,
             resume: bool = True) -> RunResult:
    runs_dir = Path(out_dir).resolve() / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = config.run_id(condition, seed)
    result_path = runs_dir / f"{run_id}.result.json"
    if resume and (old := _load_result(result_path)) is not None and old.complete:
        return old
    config.check_runnable()

    env = dict(os.environ)
    threads = str(config.threads_per_run)
    env.update(OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    env.update(config.condition_env(condition))
    env.update(SEED=str(seed), RUN_ID=run_id, OUT_DIR=str(runs_dir))
    out_p, err_p = runs_dir / f"{run_id}.stdout", runs_dir / f"{run_id}.stderr"
    timeout = config.budget_s + config.timeout_grace_s
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    timed_out = False
    # Files, not pipes: a chatty trainer cannot block on a full pipe, and the output survives us.
    with open(out_p, "wb") as fo, open(err_p, "wb") as fe:
        proc = subprocess.Popen(config.argv(), cwd=config.resolved_workdir(), env=env, stdin=subprocess.DEVNULL,
                                stdout=fo, stderr=fe, start_new_session=True)   # own process group
        with _live_lock:
            _live.add(proc.pid)
        try:
            atomic_write_text(runs_dir / f"{run_id}.pid", f"{proc.pid}\n")
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                rc = proc.wait()
            if rc != 0:
                _kill_group(proc.pid, grace_s=1.0)   # stragglers (torchrun workers) of a failed run
        except BaseException:
            _kill_group(proc.pid, grace_s=1.0)
            raise
        finally:
            with _live_lock:
                _live.discard(proc.pid)
    elapsed = time.monotonic() - t0

    stdout = out_p.read_text(errors="replace")
    stderr = err_p.read_text(errors="replace")
    log_path = next((p for p in _log_candidates(config, runs_dir, run_id) if p.is_file()), None)
    log_text = log_path.read_text(errors="replace") if log_path else ""
    score, source = final_score(stdout, allow_step=False), "stdout"
    if score is None and log_text:
        score, source = final_score(log_text, allow_step=False), "log"
    if score is None and rc == 0:
        # A trainer without a post-training eval: its last periodic eval is its score.
        score, source = final_score(stdout, allow_step=True) or final_score(log_text, allow_step=True), "stdout-step"
    last = final_score(stdout) or final_score(log_text)

    if timed_out:
        status, error = "timed_out", f"timed out after {timeout:.0f}s (budget + grace); process group killed"
    elif rc != 0:
        status = "failed"
        error = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
    elif score is None:
        status, error = "failed", "no val_bpb score in stdout or the run's log"
    else:
        status, error = "ok", None

    metrics_path = runs_dir / f"{run_id}_metrics.jsonl"
    if not metrics_path.is_file() and (rows := _metrics_from_stdout(stdout or log_text)):
        atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in rows))
    ckpt = runs_dir / f"{run_id}_mlx_model.npz"
    bm = _BYTES_MODEL.findall(stdout or log_text)
    bt = [a or b for a, b in _BYTES_TOTAL.findall(stdout or log_text)]
    ok = status == "ok"
    result = RunResult(
        run_id=run_id, condition=condition, seed=seed, status=status, returncode=rc,
        val_bpb=score.val_bpb if ok else None, val_loss=score.val_loss if ok else None,
        score_source=f"{source}:{score.label or 'val_bpb'}" if ok else None,
        last_val_bpb=last.val_bpb if last else None,
        bytes_model=int(bm[-1]) if bm else None, bytes_total=int(bt[-1]) if bt else None,
        error=error, stderr_tail=stderr[-STDERR_TAIL:] if not ok else "",
        stdout_path=str(out_p), stderr_path=str(err_p), log_path=str(log_path) if log_path else None,
        metrics_path=str(metrics_path) if metrics_path.is_file() else None,
        checkpoint_path=str(ckpt) if ckpt.is_file() else None,
        elapsed_s=round(elapsed, 3), started_at=started,
    )
    atomic_write_json(result_path, result.model_dump())
    return result


# --- whole experiment ---------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def summarize(config: ExperimentConfig, runs: list[RunResult], stopped_early: str | None = None) -> RawRuns:
    order = {s: i for i, s in enumerate(config.seeds)}
    runs = sorted(runs, key=lambda r: (order.get(r.seed, 1 << 30), r.condition))
    conds = {c: condition_status([r for r in runs if r.condition == c]) for c in CONDITIONS}
    return RawRuns(experiment_id=config.experiment_id, intervention=config.intervention, platform=config.platform,
                   config=config, runs=runs, conditions=conds, stopped_early=stopped_early, finished_at=_now())


def run_pairs(config: ExperimentConfig, seeds: list[int], out_dir: Path, resume: bool = True) -> list[RunResult]:
    """Both conditions of each seed, up to config.parallel_limit() at once."""
    tasks = [(c, s) for s in seeds for c in CONDITIONS]
    with ThreadPoolExecutor(max_workers=min(config.parallel_limit(), len(tasks))) as pool:
        futures = [pool.submit(run_one, config, c, s, out_dir, resume) for c, s in tasks]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            kill_live_runs()
            raise


# One experiment_log entry per experiment run in one out dir: a rerun updates it in place.
LOG_IDENTITY = ("experiment_id", "out_dir")


def log_entry(raw: RawRuns, out_dir: Path) -> dict:
    runs = [{k: getattr(r, k) for k in ("run_id", "condition", "seed", "status", "val_bpb", "error")} for r in raw.runs]
    # Same runs -> same entry_id: a resumed, already-finished experiment is not logged twice.
    digest = hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()[:12]
    return {"entry_id": f"{raw.experiment_id}:{digest}", "experiment_id": raw.experiment_id,
            "intervention": raw.intervention, "platform": raw.platform, "cycle": raw.config.cycle,
            "out_dir": str(out_dir), "conditions": {k: v.model_dump() for k, v in raw.conditions.items()},
            "stopped_early": raw.stopped_early, "runs": runs, "finished_at": raw.finished_at}


def check_executable(config: ExperimentConfig) -> None:
    """The command's program (e.g. torchrun) must start here: found now, not by the first seed's
    Popen after config.json is written (make-config does not check it: configs are made elsewhere)."""
    exe = config.argv()[0]
    if not (os.access(config.resolved_workdir() / exe, os.X_OK) if os.sep in exe else shutil.which(exe)):
        raise FileNotFoundError(f"trainer command {exe!r} is not an executable found on PATH")


def run_experiment(config: ExperimentConfig, out_dir: str | Path, experiment_log: str | Path | None = None,
                   resume: bool = True) -> RawRuns:
    """All seeds (or the sequential design), then raw_runs.json and an experiment_log.json entry."""
    out_dir = Path(out_dir).resolve()
    config.check_runnable()                       # refuse before anything runs
    check_executable(config)
    log = Path(experiment_log) if experiment_log else out_dir.parent / "experiment_log.json"
    check_output_dir(out_dir)
    check_json_list(log)                          # not after every seed has trained
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / "config.json")
    if config.sequential:
        from causal_core.experiments.sequential import run_sequential
        runs, stopped = run_sequential(config, out_dir, resume=resume)
    else:
        runs, stopped = run_pairs(config, list(config.seeds), out_dir, resume), None
    raw = summarize(config, runs, stopped)
    atomic_write_json(out_dir / "raw_runs.json", raw.model_dump(mode="json"))
    locked_json_list_append(log, log_entry(raw, out_dir), key="entry_id", replace=LOG_IDENTITY)
    return raw
