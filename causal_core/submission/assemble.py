"""Assemble the loop's result into a challenge-layout record folder.

`assemble(results, records_out, ...)` and the loop's entry point
`assemble_from_loop(layout, params)` (called by causal_core/loop/report.py):

1. findings.select: the confirmed findings (or the engineering fallback), checked for
   compatibility (compat.py; an incoherent combination raises compat.IncompatibleError);
2. the final configuration runs on the seeds (default: 3) through the experiments runner
   (ExperimentConfig: treatment = the combined overrides, control = the baseline), in
   RESULTS/submission/experiment/ — resumable; a (condition, seed) whose effective
   environment matches a run the loop already has is reused, not re-run;
3. paired statistics against the baseline, the challenge bar (0.005 nats, p < 0.01), the
   artifact limit and the time limit (checks.py);
4. RECORDS_OUT/<track>/<date>_<name>/: README.md, submission.json, train_seed<S>.log per
   seed, and the trainer script that ran (see docs/submission.md).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from causal_core.safe_paths import within
from causal_core.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    file_lock,
)
from causal_core.experiments.budget import resolve as resolve_budget
from causal_core.experiments import results
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.results import RawRuns, RunResult, summarize
from causal_core.experiments.runner import run_experiment, run_one
from causal_core.experiments.stats import Analysis, analyze, to_outcome, write_stats
from causal_core.schemas import ExperimentOutcome
from causal_core.submission import checks, compat, readme, realise
from causal_core.submission.findings import (
    AssembleError,
    Cycle,
    Selection,
    load_cycles,
    select,
)

N_SEEDS = 3
TRACKS = {  # (within the artifact limit, time limit verified) -> challenge-layout track folder
    (True, True): "track_10min_16mb",
    (True, False): "track_non_record_16mb",
    (False, True): "track_causal_golf_over_limit",
    (False, False): "track_causal_golf_over_limit",
}
DEFAULT_AUTHOR = "causal-golf"


@dataclass
class FinalRuns:
    config: ExperimentConfig
    raw: RawRuns
    condition: str                          # the condition that is the final configuration
    analysis: Analysis | None               # vs the baseline; None when the final config is the baseline
    reused: dict[str, dict] = field(default_factory=dict)   # run_id -> where it came from

    @property
    def runs(self) -> list[RunResult]:
        return [r for r in self.raw.runs if r.condition == self.condition and r.complete]


def default_seeds(seeds: list[int] | None, n: int = N_SEEDS) -> list[int]:
    """The given seeds; fewer than n are padded with the next unused integers."""
    out = list(dict.fromkeys(seeds or []))
    nxt = max(out, default=0) + 1
    while len(out) < n:
        if nxt not in out:
            out.append(nxt)
        nxt += 1
    return out


def final_config(sel: Selection, seeds: list[int], max_parallel: int | None = None) -> tuple[ExperimentConfig, str]:
    """(config, the condition that is the final configuration)."""
    data = sel.template.model_dump()
    # The selection's treatment/control already hold everything (a stacked finding's stack is
    # part of the union of confirmed treatments); the template's stack would leak into the baseline.
    # arm_steps are recalibrated for the final arms (cached arms keep their steps, so their runs are reused).
    data.update(seeds=seeds, cycle=None, sequential=False, stack={}, arm_steps={}, arm_step_ms={})
    if max_parallel:
        data["max_parallel"] = max_parallel
    if sel.baseline_only:   # best measured = a control condition: run it (stack included)
        data["control"] = sel.control
        return ExperimentConfig.model_validate(data), "control"
    data.update(intervention=sel.findings[0].intervention, treatment=sel.treatment, control=sel.control)
    return ExperimentConfig.model_validate(data), "treatment"


def _code_bytes(r: RunResult) -> int | None:
    return r.bytes_total - r.bytes_model if r.bytes_total and r.bytes_model else None


def _env_key(cfg: ExperimentConfig, condition: str) -> tuple:
    return tuple(sorted(compat.effective_env(cfg.condition_env(condition), cfg.trainer_path()).items()))


def reuse_index(cycles: list[Cycle]) -> dict[tuple, tuple[Cycle, RunResult]]:
    """(seed, trainer, effective env) -> a complete run of the loop with exactly that configuration."""
    idx: dict[tuple, tuple[Cycle, RunResult]] = {}
    for c in cycles:
        for cond in ("control", "treatment"):
            key = _env_key(c.config, cond)
            for r in c.raw.runs:
                if r.condition == cond and r.complete:
                    idx.setdefault((r.seed, str(c.config.trainer_path()), key), (c, r))
    return idx


def collect_runs(sel: Selection, cycles: list[Cycle], seeds: list[int], out_dir: Path, *,
                 reuse_only: bool = False, max_parallel: int | None = None) -> FinalRuns:
    cfg, final_cond = final_config(sel, seeds, max_parallel)
    cfg = resolve_budget(cfg, out_dir / "calibration")      # time budget: steps per arm before any key is taken
    conditions = [final_cond] if sel.baseline_only else ["control", "treatment"]
    trainer = cfg.trainer_path()
    trainer_size = trainer.stat().st_size if trainer and trainer.is_file() else None
    idx = reuse_index(cycles)
    reused_p = out_dir / "reused.json"
    reused: dict[str, dict] = {}
    if reused_p.is_file():
        import json
        reused = json.loads(reused_p.read_text())
    missing = []
    for cond in conditions:
        key = _env_key(cfg, cond)
        for s in seeds:
            rid = cfg.run_id(cond, s)
            res_p = results.result_path(out_dir, rid)
            if res_p.is_file():
                try:
                    if RunResult.model_validate_json(res_p.read_text()).complete:
                        continue
                except ValueError:
                    pass
            hit = idx.get((s, str(trainer), key))
            if hit and (trainer_size is None or _code_bytes(hit[1]) in (None, trainer_size)):
                c, r = hit
                atomic_write_json(res_p, r.model_copy(update={"run_id": rid, "condition": cond}).model_dump())
                reused[rid] = {"cycle": c.n, "run_id": r.run_id, "condition": r.condition}
            else:
                missing.append(f"{cond} seed {s}")
    if reused:
        atomic_write_json(reused_p, reused)
    if missing and reuse_only:
        raise AssembleError(f"{{param}}: no existing run for {', '.join(missing)} of the final configuration", "reuse_only")
    if sel.baseline_only:
        cfg.check_runnable()
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(out_dir / "config.json")
        raw = summarize(cfg, [run_one(cfg, final_cond, s, out_dir) for s in seeds])
        atomic_write_json(out_dir / "raw_runs.json", raw.model_dump(mode="json"))
        analysis = None
    else:
        raw = run_experiment(cfg, out_dir)
        analysis = analyze(raw)
        write_stats(analysis, out_dir / "stats.json")
    return FinalRuns(cfg, raw, final_cond, analysis, {k: v for k, v in reused.items() if k.startswith(cfg.experiment_id)})


def _slug(s: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9.+-]+", "_", s)).strip("_")[:80] or "submission"


def default_name(sel: Selection) -> str:
    if sel.kind == "confirmed":
        return "causal-golf " + " + ".join(c.intervention for c in sel.findings)
    c = sel.findings[0]
    return f"causal-golf engineering fallback ({sel.fallback_condition} of {c.intervention})"


def outcome(sel: Selection, fin: FinalRuns) -> ExperimentOutcome:
    """The record's `causal_golf_experiment`: the final comparison against the baseline.

    A single intervention enters the DAG as evidence on its coefficient (with the cycle when
    every pair is that cycle's own runs, so the repetition is recognisable); a stack of
    several is named `a+b` and the DAG leaves it out (a stacked effect is not one
    coefficient); a baseline-only fallback is `baseline`, decision failed (no comparison).
    """
    if fin.analysis is None:
        return ExperimentOutcome(intervention="baseline", decision="failed", platform=fin.config.platform)
    a = fin.analysis
    names = [c.intervention for c in sel.findings]
    cycles = {v["cycle"] for v in fin.reused.values()}
    all_reused = len(fin.reused) == 2 * a.n_pairs and len(cycles) == 1
    lo, hi = a.ci_t or (None, None)
    return ExperimentOutcome(intervention="+".join(names), decision=a.decision, effect_bpb=a.effect_bpb,
                             ci_low=lo, ci_high=hi, p_value=a.p_adjusted, n_pairs=a.n_pairs,
                             platform=a.platform, cycle=cycles.pop() if all_reused else None,
                             **{k: v for k, v in to_outcome(a).model_dump().items()
                                if k in ("budget_mode", "time_budget_s", "arm_steps", "step_time_ratio")})


def ablation_rows(cycles: list[Cycle]) -> list[dict]:
    rows = []
    for c in cycles:
        a = c.analysis
        rows.append({"cycle": c.n, "intervention": c.intervention, "decision": a.decision, "n_pairs": a.n_pairs,
                     "seeds": a.seeds, "control_bpb": a.control_bpb, "treatment_bpb": a.treatment_bpb,
                     "effect_bpb": a.effect_bpb, "ci_t": list(a.ci_t) if a.ci_t else None,
                     "p_value": a.p_value, "p_adjusted": a.p_adjusted, "family_size": a.family_size,
                     "treatment": c.config.treatment, "control": c.config.control,
                     "budget_mode": a.budget_mode, "budget": a.budget.model_dump() if a.budget else None})
    return rows


def _identity(name, author, github_id) -> tuple[str | None, str, str]:
    return (name or os.environ.get("CAUSAL_GOLF_NAME") or None,
            author or os.environ.get("CAUSAL_GOLF_AUTHOR") or DEFAULT_AUTHOR,
            github_id or os.environ.get("CAUSAL_GOLF_GITHUB_ID") or author or DEFAULT_AUTHOR)


def build_submission(sel: Selection, fin: FinalRuns, cycles: list[Cycle], *, name: str, author: str,
                     github_id: str, date: str, trainer_bytes: bytes, trainer_name: str,
                     hardware: str | None = None) -> tuple[dict, checks.SizeCheck, checks.TimeCheck]:
    runs = sorted(fin.runs, key=lambda r: fin.config.seeds.index(r.seed) if r.seed in fin.config.seeds else r.seed)
    if not runs:
        raise AssembleError("no run of the final configuration completed: "
                            + "; ".join(f"{r.condition} seed {r.seed}: {r.error}" for r in fin.raw.runs))
    models = [r.bytes_model for r in runs]
    size = checks.check_size(len(trainer_bytes), max(models) if all(m is not None for m in models) else None)
    env = compat.effective_env(fin.config.condition_env(fin.condition), fin.config.trainer_path())
    cap = compat._num(env.get("MAX_WALLCLOCK_SECONDS"))
    time_ = checks.check_time(fin.config.platform, cap, [r.elapsed_s for r in runs], hardware)
    bpbs = [r.val_bpb for r in runs]
    losses = [r.val_loss for r in runs if r.val_loss is not None]
    comparison, bar = None, None
    if fin.analysis is not None:
        a = fin.analysis
        comparison = {k: getattr(a, k) for k in ("n_pairs", "seeds", "control_bpb", "treatment_bpb", "diffs",
                                                  "effect_bpb", "sd_diff", "ci_t", "ci_boot", "p_value",
                                                  "p_adjusted", "mde_bpb", "alpha", "decision", "notes",
                                                  "budget_mode")}
        comparison["budget"] = a.budget.model_dump() if a.budget else None
        comparison["control_val_bpb"] = fmean(a.control_bpb) if a.control_bpb else None
        c_loss = {r.seed: r.val_loss for r in fin.raw.runs if r.condition == "control" and r.complete}
        t_loss = {r.seed: r.val_loss for r in fin.raw.runs if r.condition == "treatment" and r.complete}
        pairs = [s for s in fin.config.seeds if c_loss.get(s) is not None and t_loss.get(s) is not None]
        bar = checks.challenge_bar([c_loss[s] for s in pairs], [t_loss[s] for s in pairs])
    code_seen = {_code_bytes(r) for r in runs} - {None}
    notes = list(sel.notes)
    if code_seen and code_seen != {len(trainer_bytes)}:
        notes.append(f"the runs reported code_bytes {sorted(code_seen)} but the trainer copied here has "
                     f"{len(trainer_bytes)} bytes: the trainer changed since they ran")
    failed = [f"{r.condition} seed {r.seed}: {r.status} ({r.error})" for r in fin.raw.runs if not r.complete]
    if failed:
        notes.append("runs that did not complete: " + "; ".join(failed))
    blurb = (f"{sel.label}. Mean val_bpb {fmean(bpbs):.5f} over {len(runs)} seed(s) on {time_.platform_words}"
             + (f"; vs baseline {comparison['control_val_bpb']:.5f}: effect {comparison['effect_bpb']:+.5f} val_bpb, "
                f"decision {comparison['decision']}" if comparison else "")
             + f". {'Within' if size.within_limit else 'NOT within'} the 16,000,000-byte artifact limit; "
             + ("time limit verified." if time_.verified else f"time limit not verified ({checks.CHALLENGE_PLATFORM} not used)."))
    sub: dict[str, Any] = {
        "name": name, "author": author, "github_id": github_id, "date": date,
        "track": TRACKS[(size.within_limit, time_.verified)].removeprefix("track_"),
        "val_bpb": fmean(bpbs), "val_loss": fmean(losses) if losses else None,
        "val_bpb_std": stdev(bpbs) if len(bpbs) > 1 else None,
        "bytes_total": size.bytes_total, "bytes_code": size.bytes_code, "bytes_model": size.bytes_model,
        "blurb": blurb,
        "seeds": [r.seed for r in runs],
        "seed_results": {str(r.seed): {"val_bpb": r.val_bpb, "val_loss": r.val_loss, "bytes_model": r.bytes_model,
                                       "bytes_total": (len(trainer_bytes) + r.bytes_model) if r.bytes_model else None,
                                       "elapsed_s": r.elapsed_s, "log": f"train_seed{r.seed}.log",
                                       "run_id": r.run_id, "reused_from": fin.reused.get(r.run_id)}
                         for r in runs},
        "platform": {"name": fin.config.platform, "description": time_.platform_words,
                     "challenge_platform": checks.CHALLENGE_PLATFORM,
                     "is_challenge_platform": time_.is_challenge_platform},
        "limits": {"artifact": size.to_json(), "time": time_.to_json()},
        "within_artifact_limit": size.within_limit,
        "time_limit_verified": time_.verified,
        "selection": sel.to_json(),
        "interventions": sel.interventions,
        "budget_mode": fin.config.budget_mode,
        "time_budget_s": fin.config.time_budget_s,
        "arm_steps": fin.config.arm_steps or None,
        "causal_golf_experiment": outcome(sel, fin).model_dump(),
        "comparison": comparison,
        "challenge_bar": bar,
        "ablations": ablation_rows(cycles),
        "trainer": {"file": trainer_name, "bytes": len(trainer_bytes),
                    "sha256": hashlib.sha256(trainer_bytes).hexdigest(),
                    "env": fin.config.condition_env(fin.condition)},
        "final_experiment": {"experiment_id": fin.config.experiment_id, "condition": fin.condition,
                             "reused_runs": fin.reused},
        "notes": notes,
        "generator": "causal-golf assemble",
    }
    return sub, size, time_


def write_record(folder: Path, sub: dict, readme_text: str, runs: list[RunResult], trainer: Path,
                 trainer_bytes: bytes, lock_dir: Path) -> Path:
    with file_lock(lock_dir / ".causal_golf_submission"):
        folder.mkdir(parents=True, exist_ok=True)
        keep = {f"train_seed{r.seed}.log" for r in runs}
        for old in folder.glob("train_seed*.log"):
            if old.name not in keep:
                old.unlink()
        for r in runs:
            src = next((Path(p) for p in (r.log_path, r.stdout_path) if p and Path(p).is_file()), None)
            if src is None:
                raise AssembleError(f"the log of {r.run_id} is missing ({r.log_path or r.stdout_path})")
            atomic_write_bytes(folder / f"train_seed{r.seed}.log", src.read_bytes())
        atomic_write_bytes(within(folder, trainer.name, what="trainer file name"), trainer_bytes)
        atomic_write_json(folder / "submission.json", sub)
        atomic_write_text(folder / "README.md", readme_text)
    return folder


def assemble(results: str | Path, records_out: str | Path = "records", *, name: str | None = None,
             author: str | None = None, github_id: str | None = None, seeds: list[int] | None = None,
             reuse_only: bool = False, max_parallel: int | None = None, date: str | None = None,
             hardware: str | None = None) -> Path:
    """Assemble RESULTS (a loop's results/causal) into a record folder under RECORDS_OUT."""
    results = Path(results).resolve()
    cycles = load_cycles(results)
    sel = select(cycles)                       # raises compat.IncompatibleError
    seeds = default_seeds(seeds if seeds else sel.template.seeds)
    fin = collect_runs(sel, cycles, seeds, results / "submission" / "experiment",
                       reuse_only=reuse_only, max_parallel=max_parallel)
    trainer = fin.config.trainer_path()
    if trainer is None or not trainer.is_file():
        raise AssembleError(f"trainer script {trainer} not found")
    trainer_bytes = trainer.read_bytes()
    name, author, github_id = _identity(name, author, github_id)
    name = name or default_name(sel)
    date = date or datetime.now(UTC).strftime("%Y-%m-%d")
    sub, size, time_ = build_submission(sel, fin, cycles, name=name, author=author, github_id=github_id,
                                        date=date, trainer_bytes=trainer_bytes, trainer_name=trainer.name,
                                        hardware=hardware)
    sub["challenge"] = realise.for_selection(sel, results)    # how to do it in the challenge's train_gpt.py
    folder = within(records_out, TRACKS[(size.within_limit, time_.verified)], f"{date}_{_slug(name)}",
                    what="submission folder")
    text = readme.render(sub, sel, fin)
    return write_record(folder, sub, text, sorted(fin.runs, key=lambda r: r.seed), trainer, trainer_bytes,
                        Path(records_out).resolve())


def assemble_from_loop(layout, params) -> Path:
    """The loop's final-report hook: assemble layout.root into params.records_out.

    Seeds: the loop's own (padded to 3). Identity: CAUSAL_GOLF_NAME / CAUSAL_GOLF_AUTHOR /
    CAUSAL_GOLF_GITHUB_ID. Raises AssembleError / compat.IncompatibleError on refusal.
    """
    return assemble(layout.root, params.records_out, seeds=list(params.seeds),
                    max_parallel=params.max_parallel or None)
