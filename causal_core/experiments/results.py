"""What an experiment's runs produce: the per-run result, the per-condition summary, the
raw_runs.json of an experiment, its experiment_log entry, and where a run's result lives.

Everything that reads or writes run results (the runner, the sequential design, the
statistics, the loop, run reuse, the submission) imports these from here, so the imports
read one way: results <- runner / sequential / stats <- loop.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from causal_core.experiments.budget import BudgetSummary
from causal_core.experiments.budget import summarize as budget_summary
from causal_core.experiments.config import ExperimentConfig

CONDITIONS = ("control", "treatment")
REUSED_PREFIX = "reused:"     # score_source of a run served from an earlier one
RESULT_SUFFIX = ".result.json"


def runs_dir(out_dir: str | Path) -> Path:
    """The folder of an experiment's per-run files (stdout, stderr, pid, result, trainer output)."""
    return Path(out_dir).resolve() / "runs"


def result_path(out_dir: str | Path, run_id: str) -> Path:
    """THE path of one run's RunResult json inside an experiment's out dir."""
    return runs_dir(out_dir) / f"{run_id}{RESULT_SUFFIX}"


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
    steps: int | None = None                # steps trained (last `step:N/M` line)
    step_avg_ms: float | None = None        # training ms per step the run printed (evaluation excluded)

    @property
    def complete(self) -> bool:
        return self.status == "ok" and self.val_bpb is not None

    @property
    def reused(self) -> bool:
        """Served from an earlier run of the same resolved config and seed (loop/run_reuse.py): trained nothing."""
        return (self.score_source or "").startswith(REUSED_PREFIX)

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        return cls.model_validate_json(Path(path).read_text())


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
    ignored_env: list[str] = Field(default_factory=list)   # set but never read by the trainer (actuation.py)
    finished_at: str = ""
    budget: BudgetSummary | None = None   # budget_mode, time budget, steps and ms/step per arm

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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def summarize(config: ExperimentConfig, runs: list[RunResult], stopped_early: str | None = None) -> RawRuns:
    order = {s: i for i, s in enumerate(config.seeds)}
    runs = sorted(runs, key=lambda r: (order.get(r.seed, 1 << 30), r.condition))
    conds = {c: condition_status([r for r in runs if r.condition == c]) for c in CONDITIONS}
    from causal_core.experiments.actuation import ignored_env
    return RawRuns(experiment_id=config.experiment_id, intervention=config.intervention, platform=config.platform,
                   config=config, runs=runs, conditions=conds, stopped_early=stopped_early,
                   ignored_env=ignored_env(config), finished_at=_now(), budget=budget_summary(config, runs))


# One experiment_log entry per experiment run in one out dir: a rerun updates it in place.
LOG_IDENTITY = ("experiment_id", "out_dir")


def log_entry(raw: RawRuns, out_dir: Path) -> dict:
    runs = [{k: getattr(r, k) for k in ("run_id", "condition", "seed", "status", "val_bpb", "error")} for r in raw.runs]
    # Same runs -> same entry_id: a resumed, already-finished experiment is not logged twice.
    digest = hashlib.sha256(json.dumps(runs, sort_keys=True).encode()).hexdigest()[:12]
    return {"entry_id": f"{raw.experiment_id}:{digest}", "experiment_id": raw.experiment_id,
            "intervention": raw.intervention, "platform": raw.platform, "cycle": raw.config.cycle,
            "out_dir": str(out_dir), "conditions": {k: v.model_dump() for k, v in raw.conditions.items()},
            "budget_mode": raw.config.budget_mode,
            "budget": raw.budget.model_dump() if raw.budget else None,
            "stopped_early": raw.stopped_early, "runs": runs, "finished_at": raw.finished_at}
