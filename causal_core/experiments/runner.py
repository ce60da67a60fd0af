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

import json
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from causal_core.atomic import atomic_write_json, atomic_write_text, check_json_list, locked_json_list_append
from causal_core.experiments import results
from causal_core.experiments.budget import resolve as resolve_budget, run_timing
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.progress import ProgressCallback, default_reporter, progress_label, wait_reporting
from causal_core.experiments.results import CONDITIONS, LOG_IDENTITY, RawRuns, RunResult, log_entry, summarize
from causal_core.experiments.run_owner import kill_group as _kill_group, own_run
from causal_core.experiments.sequential import run_sequential
from causal_core.logparse import final_score
from causal_core.safe_paths import check_output_dir

STDERR_TAIL = 4000
_BYTES_MODEL = re.compile(r"^serialized_model\w*:\s*(\d+) bytes", re.M)
# The challenge's `Total submission size...: N bytes`, or our trainer's `artifact: ... total_bytes=N`.
_BYTES_TOTAL = re.compile(r"^Total submission size[^:]*:\s*(\d+) bytes|^artifact:.*\btotal_bytes=(\d+)", re.M)
_TRAIN = re.compile(r"step:(\d+)/\d+ train_loss:([-+\d.eE]+)(?:.*?train_time:([\d.]+)ms)?")
_VAL = re.compile(r"step:(\d+)/\d+ val_loss:[-+\d.eE]+ val_bpb:([-+\d.eE]+)(?:.*?train_time:([\d.]+)ms)?")


# --- one run -----------------------------------------------------------------------------

_live: set[int] = set()       # process groups still running (killed if the runner is interrupted)
_live_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def run_slot(limit: int) -> threading.BoundedSemaphore:
    """A process-wide slot for one training run among `limit`: callers that start runs from
    their own threads (one Prefect task per seed) still never oversubscribe the cores."""
    with _live_lock:
        return _slots.setdefault(limit, threading.BoundedSemaphore(limit))


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
            resume: bool = True, on_progress: ProgressCallback | None = None) -> RunResult:
    """Run one (condition, seed); an existing complete result in out_dir is returned as is.
    `on_progress` gets the run's step, loss and ETA every ~10 s while it trains."""
    # own_run: never while an earlier attempt of this run still trains (run_owner.py).
    with run_slot(config.parallel_limit()), own_run(Path(out_dir).resolve() / "runs", config.run_id(condition, seed)):
        return _run_one(config, condition, seed, out_dir, resume, on_progress)


def _run_one(config: ExperimentConfig, condition: str, seed: int, out_dir: str | Path,
             resume: bool = True, on_progress: ProgressCallback | None = None) -> RunResult:
    run_id = config.run_id(condition, seed)
    runs_dir = results.runs_dir(out_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    result_p = results.result_path(out_dir, run_id)
    if resume and (old := _load_result(result_p)) is not None and old.complete:
        return old
    config.check_runnable()
    if config.budget_mode == "time" and not config.arm_steps:
        raise ValueError(f"{config.experiment_id}: time-budgeted config without calibrated arm_steps "
                         "(run experiments.budget.resolve first)")

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
                rc = wait_reporting(proc, timeout, out_p, progress_label(config, condition, seed),
                                    on_progress or default_reporter())
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
    n_steps, step_ms = run_timing(stdout or log_text)
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
        elapsed_s=round(elapsed, 3), started_at=started, steps=n_steps, step_avg_ms=step_ms,
    )
    atomic_write_json(result_p, result.model_dump())
    return result


# --- whole experiment ---------------------------------------------------------------------

def run_pairs(config: ExperimentConfig, seeds: list[int], out_dir: Path, resume: bool = True,
              on_progress: ProgressCallback | None = None) -> list[RunResult]:
    """Both conditions of each seed, up to config.parallel_limit() at once."""
    tasks = [(c, s) for s in seeds for c in CONDITIONS]
    with ThreadPoolExecutor(max_workers=min(config.parallel_limit(), len(tasks))) as pool:
        futures = [pool.submit(run_one, config, c, s, out_dir, resume, on_progress) for c, s in tasks]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            kill_live_runs()
            raise


def check_executable(config: ExperimentConfig) -> None:
    """The command's program (e.g. torchrun) must start here: found now, not by the first seed's
    Popen after config.json is written (make-config does not check it: configs are made elsewhere)."""
    exe = config.argv()[0]
    if not (os.access(config.resolved_workdir() / exe, os.X_OK) if os.sep in exe else shutil.which(exe)):
        raise FileNotFoundError(f"trainer command {exe!r} is not an executable found on PATH")


def run_experiment(config: ExperimentConfig, out_dir: str | Path, experiment_log: str | Path | None = None,
                   resume: bool = True, on_progress: ProgressCallback | None = None,
                   calibration_cache: str | Path | None = None) -> RawRuns:
    """All seeds (or the sequential design), then raw_runs.json and an experiment_log.json entry."""
    out_dir = Path(out_dir).resolve()
    ignored = config.check_runnable()             # refuse before anything runs
    check_executable(config)
    from causal_core.experiments.actuation import warn_ignored
    warn_ignored(config, ignored)
    log = Path(experiment_log) if experiment_log else out_dir.parent / "experiment_log.json"
    check_output_dir(out_dir)
    check_json_list(log)                          # not after every seed has trained
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "config.json").is_file() and resume:    # a resumed time-budget experiment keeps its steps
        saved = ExperimentConfig.load(out_dir / "config.json")
        if saved.arm_steps and saved.model_copy(update={"arm_steps": {}, "arm_step_ms": {}}).experiment_id \
                == config.model_copy(update={"arm_steps": {}, "arm_step_ms": {}}).experiment_id:
            config = config.model_copy(update={"arm_steps": saved.arm_steps, "arm_step_ms": saved.arm_step_ms})
    config = resolve_budget(config, out_dir / "calibration", calibration_cache)
    config.save(out_dir / "config.json")
    if config.sequential:
        runs, stopped = run_sequential(config, out_dir, run_pairs, resume=resume)
    else:
        runs, stopped = run_pairs(config, list(config.seeds), out_dir, resume, on_progress), None
    raw = summarize(config, runs, stopped)
    atomic_write_json(out_dir / "raw_runs.json", raw.model_dump(mode="json"))
    locked_json_list_append(log, log_entry(raw, out_dir), key="entry_id", replace=LOG_IDENTITY)
    return raw
