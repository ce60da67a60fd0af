"""Time-budgeted arms: each arm trains as many steps as its own step time allows.

The challenge gives every submission the same training time (600 s on 8xH100), not the
same number of steps, so an intervention that makes a step slower pays for it with fewer
steps. Under `budget_mode="time"` an experiment's budget is training time per run
(`time_budget_s`); under `budget_mode="steps"` every arm trains the configured ITERATIONS,
exactly as before.

How a time budget becomes step counts (docs/budget.md):
  * calibration: a short run of each arm (SKIP_STEPS + CAL_STEPS steps, tiny eval) on this
    machine, with the experiment's BLAS threads, the arms of a round started side by side and
    the start order alternating between rounds (control, treatment / treatment, control), so
    load on the machine hits both arms alike. ms/step = mean step increment of the trainer's
    `step:N/M ... train_time:Tms` lines after the first SKIP_STEPS (one-off compile spikes
    above 3x the median dropped), median over ROUNDS rounds. With one BLAS thread per run and
    a trainer that prints `cpu_time:Cms` (ours), the CPU time is used instead of the wall
    time: on an idle core they agree, and on a shared machine (7 jobs on 2 cores here) the wall
    time swings several-fold within seconds while CPU time does not;
  * steps = floor(time_budget_s * 1000 / ms_per_step); the runs then train that fixed step
    count with no wall-clock cap, so paired seeds stay deterministic and a noisy machine
    cannot leak into val_bpb;
  * the result is cached per resolved arm configuration (env, trainer code, argv, threads,
    runs at once) and machine (hostname, CPU model, core count) in a JSON file written
    atomically under a lock. When only one arm is cached, both arms are measured again and
    the new arm is scaled by cached/measured of the cached one: the ratio still comes from
    one measurement under one load, and the cached arm keeps its step count (its runs are
    reused across cycles). A treatment/control ratio within the rounds' relative spread (at
    least MIN_SPREAD) is treated as 1: both arms get the same steps.
  * evaluation is not charged: the challenge's 600 s cover training; evaluation has its own
    limit. Only ITERATIONS changes: the trainer's schedule (warmdown over the last
    WARMDOWN_ITERS steps, Muon momentum warmup, fractions for SWA/QAT) is in steps or
    fractions, which is what the challenge's wall-clock schedule amounts to at a constant step
    time, so nothing else is rescaled.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from statistics import fmean, median
from typing import Literal

from pydantic import BaseModel, Field

from causal_core.atomic import atomic_write_json, file_lock

BudgetMode = Literal["time", "steps"]
BUDGET_MODES = ("time", "steps")
CONDITIONS = ("control", "treatment")
SKIP_STEPS = 2          # first timed steps: lazy compilation and cache warm-up
CAL_STEPS = 8           # timed steps per calibration run
ROUNDS = 2
MIN_SPREAD = 0.02       # step-time ratios within 2% (or the rounds' spread) count as equal
CACHE_ENV = "CAUSAL_GOLF_STEP_CACHE"
# Overridden by the budget on every run: not part of an arm's calibration key.
BUDGET_VARS = ("ITERATIONS", "MAX_WALLCLOCK_SECONDS")
_STEP_LINE = re.compile(r"step:(\d+)/\d+ train_loss:\S+.*?train_time:([\d.]+)ms(?:.*?cpu_time:([\d.]+)ms)?")
_ANY_STEP = re.compile(r"step:(\d+)/\d+ (?:train_loss|val_loss):.*?train_time:([\d.]+)ms")


class BudgetError(ValueError):
    """Calibration could not measure an arm (one line, names the arm)."""


class ArmBudget(BaseModel):
    steps: int | None = None          # optimizer steps the arm trains
    step_ms: float | None = None      # calibrated ms per training step on this machine (time mode)
    run_step_ms: float | None = None  # mean step_avg its runs printed in this experiment


class BudgetSummary(BaseModel):
    """What raw_runs.json, stats.json, records and reports say about the budget."""
    budget_mode: BudgetMode = "steps"
    time_budget_s: float | None = None
    arms: dict[str, ArmBudget] = Field(default_factory=dict)
    step_time_ratio: float | None = None    # treatment / control ms per step (calibrated, else from the runs)

    def describe(self) -> str:
        c, t = self.arms.get("control", ArmBudget()), self.arms.get("treatment", ArmBudget())
        ratio = f"; step-time ratio treatment/control {self.step_time_ratio:.3f}" if self.step_time_ratio else ""
        if self.budget_mode == "time":
            return (f"a TIME budget of {self.time_budget_s:g} s training per run (evaluation not charged): "
                    f"control {c.steps} steps at {_ms(c.step_ms)}, treatment {t.steps} steps at {_ms(t.step_ms)}{ratio}")
        return f"a step budget: control {c.steps} steps, treatment {t.steps} steps{ratio}"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} ms/step"


# --- parsing -------------------------------------------------------------------------------

def step_timings(text: str, clock: str = "wall") -> list[tuple[int, float]]:
    """(step, cumulative training ms) of each training log line, in order: wall `train_time`, or
    the process's `cpu_time` (our trainer prints it) with clock="cpu"."""
    g = 3 if clock == "cpu" else 2
    return [(int(m.group(1)), float(m.group(g))) for m in _STEP_LINE.finditer(text) if m.group(g)]


def log_clock(text: str, threads: int = 1) -> str:
    """"cpu" when the trainer prints its CPU time and runs one BLAS thread (then CPU time is the
    step's time on an idle core, and a shared machine's load does not inflate it), else "wall"."""
    return "cpu" if threads == 1 and step_timings(text, "cpu") else "wall"


def step_ms_from_log(text: str, skip: int = SKIP_STEPS, clock: str = "wall") -> float | None:
    """ms per step after the first `skip` steps: mean increment, one-off spikes (> 3x median) dropped."""
    rows = [r for r in step_timings(text, clock) if r[0] >= skip]
    incs = [(t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(rows, rows[1:]) if s1 > s0]
    if not incs:
        return None
    mid = median(incs)
    kept = [x for x in incs if x <= 3 * mid] or incs
    return fmean(kept)


def run_timing(text: str) -> tuple[int | None, float | None]:
    """(steps trained, ms per step) of a finished run: its last `step:N/M ... train_time:Tms` line."""
    last = None
    for m in _ANY_STEP.finditer(text):
        last = m
    if last is None:
        return None, None
    n, ms = int(last.group(1)), float(last.group(2))
    return n, (round(ms / n, 3) if n else None)


# --- keys and cache ------------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "cpu_model": cpu, "cpu_count": os.cpu_count() or 1}


def _trainer_digest(cfg) -> str | None:
    p = cfg.trainer_path()
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p and p.is_file() else None


def arm_key(cfg, condition: str) -> str:
    """Resolved configuration of one arm (minus what the budget sets) + trainer code + how it runs + machine."""
    env = {k: v for k, v in cfg.condition_env(condition).items() if k not in BUDGET_VARS}
    try:
        from causal_core.run_key import TRAINER, config_key
        p = cfg.trainer_path()
        conf = config_key(env) if p is not None and p.resolve() == TRAINER else None
    except Exception:       # an env our trainer refuses: key the raw env
        conf = None
    payload = {"config": conf or sorted(env.items()), "trainer": _trainer_digest(cfg),
               "argv": cfg.trainer_command, "threads": cfg.threads_per_run,
               "at_once": min(cfg.parallel_limit(), len(CONDITIONS)), "machine": machine()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def default_cache() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "causal-golf" / "step_times.json"


def load_cache(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
        return data.get("entries", {}) if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


# --- calibration ---------------------------------------------------------------------------

def _calibration_env(cfg, condition: str, out_dir: Path, run_id: str, steps: int) -> dict[str, str]:
    env = dict(os.environ)
    t = str(cfg.threads_per_run)
    env.update(OPENBLAS_NUM_THREADS=t, OMP_NUM_THREADS=t, MKL_NUM_THREADS=t)
    env.update(cfg.condition_env(condition))
    env.update(ITERATIONS=str(SKIP_STEPS + steps), MAX_WALLCLOCK_SECONDS="0", TRAIN_LOG_EVERY="1",
               VAL_LOSS_EVERY="0", SEED=str(cfg.seeds[0]), RUN_ID=run_id, OUT_DIR=str(out_dir))
    from causal_core.trainer import TRAINER
    script = cfg.trainer_path()
    if script is None or script.resolve() != TRAINER:
        return env     # a foreign script keeps its own eval settings (a tiny VAL_BATCH_SIZE made the challenge's crawl)
    try:        # our trainer: evaluate one sequence only (the score of a calibration run is not used)
        from causal_core.run_key import resolved
        r = resolved(cfg.condition_env(condition))
        env.update(VAL_MAX_TOKENS=str(r["TRAIN_SEQ_LEN"]), VAL_BATCH_SIZE=str(r["TRAIN_SEQ_LEN"] * r["GRAD_ACCUM_STEPS"]))
    except Exception:
        pass
    return env


def _measure_one(cfg, condition: str, work_dir: Path, rnd: int, steps: int) -> float:
    out = work_dir / f"{condition}-r{rnd}"
    out.mkdir(parents=True, exist_ok=True)
    env = _calibration_env(cfg, condition, out, f"calibrate-{condition}-r{rnd}", steps)
    try:
        p = subprocess.run(cfg.argv(), cwd=cfg.resolved_workdir(), env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, errors="replace",
                           timeout=cfg.budget_s + cfg.timeout_grace_s)
    except subprocess.TimeoutExpired:
        raise BudgetError(f"calibration of the {condition} arm timed out") from None
    (out / "stdout.txt").write_text(p.stdout)
    ms = step_ms_from_log(p.stdout, clock=log_clock(p.stdout, cfg.threads_per_run))
    if p.returncode != 0 or ms is None:
        tail = (p.stderr.strip().splitlines() or ["no step timings in its output"])[-1][:200]
        raise BudgetError(f"calibration of the {condition} arm failed (exit {p.returncode}): {tail}")
    return ms


def measure(cfg, work_dir: str | Path, rounds: int = ROUNDS, steps: int = CAL_STEPS) -> dict[str, list[float]]:
    """ms/step of each arm per round; arms of a round side by side, start order alternating."""
    work_dir = Path(work_dir)
    at_once = min(cfg.parallel_limit(), len(CONDITIONS))
    samples: dict[str, list[float]] = {c: [] for c in CONDITIONS}
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        for rnd in range(rounds):
            order = CONDITIONS if rnd % 2 == 0 else CONDITIONS[::-1]
            futs = [(c, pool.submit(_measure_one, cfg, c, work_dir, rnd, steps)) for c in order]
            for c, f in futs:
                samples[c].append(f.result())
    return samples


def calibrate(cfg, work_dir: str | Path, cache: str | Path | None = None, rounds: int = ROUNDS,
              steps: int = CAL_STEPS) -> dict[str, dict]:
    """{condition: {"step_ms", "source": "cache"|"measured", "key"}}; measures only when an arm is not cached."""
    cache = Path(cache) if cache else default_cache()
    keys = {c: arm_key(cfg, c) for c in CONDITIONS}
    entries = load_cache(cache)
    cached = {c: entries[k]["step_ms"] for c, k in keys.items() if k in entries}
    if len(cached) == len(CONDITIONS):
        return {c: {"step_ms": cached[c], "source": "cache", "key": keys[c]} for c in CONDITIONS}
    from causal_core.ticker import ticking     # minutes of short runs: the console says so meanwhile
    with ticking(f"calibrating the step times of {cfg.intervention}'s arms ({rounds} rounds x {steps} steps)"):
        samples = measure(cfg, work_dir, rounds, steps)
    now = {c: median(v) for c, v in samples.items()}
    # A ratio within the round-to-round spread is no measured difference (a learning-rate
    # switch must not get extra steps from noise): the treatment then gets the control's time.
    spread = max([(max(v) - min(v)) / median(v) for v in samples.values()] + [MIN_SPREAD])
    equal = abs(now["treatment"] / now["control"] - 1) <= spread
    if equal:
        now["treatment"] = now["control"]
    # Anchor to the cached arm(s): the ratio comes from this one measurement, the level from the cache.
    scale = fmean(cached[c] / now[c] for c in cached) if cached else 1.0
    out = {c: {"step_ms": cached[c], "source": "cache", "key": keys[c]} if c in cached else
           {"step_ms": now[c] * scale, "source": "measured", "key": keys[c]} for c in CONDITIONS}
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with file_lock(cache):
        current = load_cache(cache)
        for c in CONDITIONS:
            if c not in cached:
                current.setdefault(keys[c], {
                    "step_ms": round(out[c]["step_ms"], 3), "samples_ms": [round(x, 3) for x in samples[c]],
                    "anchor_scale": round(scale, 4), "intervention": cfg.intervention, "condition": c,
                    "equal_within_spread": round(spread, 4) if equal else None,
                    "measured_at": stamp, "machine": machine(), "python": sys.version.split()[0]})
        atomic_write_json(cache, {"schema_version": 1, "entries": current})
    for c in CONDITIONS:       # a concurrent writer may have stored the key first: use what the cache holds
        out[c]["step_ms"] = current.get(keys[c], {}).get("step_ms", out[c]["step_ms"])
    return out


def steps_for(time_budget_s: float, step_ms: float) -> int:
    return max(1, int(time_budget_s * 1000.0 // step_ms))


def resolve(cfg, work_dir: str | Path, cache: str | Path | None = None, **kw):
    """The config with each arm's step count set (time mode); a steps-mode or resolved config as is."""
    if cfg.budget_mode != "time" or cfg.arm_steps:
        return cfg
    cal = calibrate(cfg, work_dir, cache, **kw)
    return cfg.model_copy(update={
        "arm_steps": {c: steps_for(cfg.time_budget_s, cal[c]["step_ms"]) for c in CONDITIONS},
        "arm_step_ms": {c: round(cal[c]["step_ms"], 3) for c in CONDITIONS}})


def summarize(cfg, runs) -> BudgetSummary:
    """Budget of an experiment from its config (calibration) and its runs (what they printed)."""
    arms = {}
    for c in CONDITIONS:
        mine = [r for r in runs if r.condition == c and getattr(r, "step_avg_ms", None)]
        steps = cfg.arm_steps.get(c) or max((r.steps for r in runs if r.condition == c and r.steps), default=None)
        arms[c] = ArmBudget(steps=steps, step_ms=cfg.arm_step_ms.get(c),
                            run_step_ms=round(fmean(r.step_avg_ms for r in mine), 3) if mine else None)
    ms = {c: arms[c].step_ms or arms[c].run_step_ms for c in CONDITIONS}
    ratio = round(ms["treatment"] / ms["control"], 4) if all(ms.values()) else None
    return BudgetSummary(budget_mode=cfg.budget_mode, time_budget_s=cfg.time_budget_s, arms=arms,
                         step_time_ratio=ratio)
