"""One experiment cycle's steps: plan the config, collect the seed runs, analyse,
write the record and the experiment_log entry, and the cycle's markdown. Prefect-free;
the flow calls these. The loop's history is history.py, its budgets run_budget.py, its
stop reasons stop_rules.py."""
from __future__ import annotations

import os
from pathlib import Path

from causal_core.atomic import atomic_write_json, locked_json_list_append
from causal_core.experiments.budget import resolve as resolve_budget
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.record_writer import write_experiment_record
from causal_core.experiments.refutation import RefutationReport, refute
from causal_core.experiments.refutation import apply as apply_refutation
from causal_core.experiments.results import LOG_IDENTITY, RawRuns, RunResult, log_entry, summarize
from causal_core.experiments.stats import Analysis, analyze, load_stats, write_stats
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.stack import stacked_sides
from causal_core.loop.target import target


def threads_per_run(params: LoopParams, n_runs: int) -> int:
    """Spread the cores over the runs that go at once (BLAS threads per trainer)."""
    cores = os.cpu_count() or 1
    parallel = params.max_parallel or min(n_runs, cores)
    return max(1, cores // max(1, parallel))


def plan_config(cyc: CycleLayout, params: LoopParams, intervention: str,
                seeds: list[int] | None = None, budget_s: float | None = None,
                stack: dict[str, dict] | None = None, alpha: float | None = None) -> ExperimentConfig:
    """The cycle's config, on top of `stack` (confirmed interventions); an existing
    config.json wins (a resumed cycle runs what it planned)."""
    if cyc.config.is_file():
        return ExperimentConfig.load(cyc.config)
    seeds = seeds or params.seeds
    n_runs = 2 * len(seeds)
    threads = threads_per_run(params, n_runs)
    tgt = target(params)
    tgt.require(intervention)       # refuses an unknown name, or one the trainer cannot switch, in its own words
    treatment, control = stacked_sides(intervention, stack or {}, tgt)
    timed = params.budget_mode == "time"
    cfg = ExperimentConfig(intervention=intervention, stack=dict(stack or {}), treatment=treatment, control=control,
                           seeds=seeds, budget_s=max(budget_s or params.budget_s, params.time_budget_s if timed else 0),
                           base_env=tgt.env(params), **tgt.config_fields(params), cycle=cyc.n, threads_per_run=threads,
                           max_parallel=params.max_parallel or max(1, (os.cpu_count() or 1) // threads),
                           budget_mode=params.budget_mode, time_budget_s=params.time_budget_s if timed else None,
                           alpha=alpha or params.alpha)     # the cycle's online level (online_fdr.py)
    cfg = resolve_budget(cfg, cyc.dir / "calibration")     # time budget: each arm's steps from its step time
    from causal_core.experiments.actuation import warn_ignored
    warn_ignored(cfg, cfg.check_runnable())   # refuses a switch the trainer never reads (actuation.py)
    cfg.save(cyc.config)
    return cfg


def cycle_finished(cyc: CycleLayout) -> bool:
    """record.json is a cycle's last output before its DAG (single, screening or multi-arm)."""
    analysed = cyc.stats.is_file() or cyc.screen_analysis.is_file() or any(cyc.arms_dir.glob("*/experiment/stats.json"))
    return analysed and cyc.record.is_file() and cyc.dag.is_file()


def seed_jobs(cfg: ExperimentConfig) -> list[tuple[str, int]]:
    """(condition, seed) pairs, control and treatment of a seed side by side."""
    return [(c, s) for s in cfg.seeds for c in ("control", "treatment")]


def analyze_experiment(cyc: CycleLayout, cfg: ExperimentConfig, runs: list[RunResult]) -> tuple[RawRuns, Analysis]:
    """raw_runs.json and the gate's analysis; the final (refuted) analysis once stats.json exists."""
    if cyc.raw_runs.is_file():
        raw = RawRuns.load(cyc.raw_runs)
    else:
        raw = summarize(cfg, runs)
        atomic_write_json(cyc.raw_runs, raw.model_dump(mode="json"))
    analysis = load_stats(cyc.stats) if cyc.stats.is_file() else analyze(raw)   # a family of one per cycle
    return raw, analysis


def needs_refutation(cyc: CycleLayout, analysis: Analysis) -> bool:
    return analysis.decision == "confirmed" and not cyc.refutation.is_file()


def replication_config(cyc: CycleLayout, cfg: ExperimentConfig) -> ExperimentConfig:
    """The same experiment on as many fresh seeds (never used by the original)."""
    if cyc.replication_config.is_file():
        return ExperimentConfig.load(cyc.replication_config)
    start = max(cfg.seeds) + 1
    rep = cfg.model_copy(update={"seeds": list(range(start, start + len(cfg.seeds)))})
    rep.save(cyc.replication_config)
    return rep


def refute_step(cyc: CycleLayout, analysis: Analysis, rep_cfg: ExperimentConfig | None = None,
                rep_runs: list[RunResult] | None = None) -> tuple[Analysis, RefutationReport]:
    rep = None
    if rep_cfg is not None:
        rep_raw = summarize(rep_cfg, rep_runs or [])
        atomic_write_json(cyc.replication_dir / "raw_runs.json", rep_raw.model_dump(mode="json"))
        rep = analyze(rep_raw)
    report = refute(analysis, rep)
    atomic_write_json(cyc.refutation, report.model_dump(mode="json"))
    return apply_refutation(analysis, report), report


def record_step(layout: LoopLayout, cyc: CycleLayout, raw: RawRuns, analysis: Analysis,
                records_out: str | Path) -> Path:
    """stats.json (final), the record folder and one experiment_log entry (idempotent)."""
    if not cyc.stats.is_file():
        write_stats(analysis, cyc.stats)
    record = write_experiment_record(cyc.experiment_dir, records_out)
    atomic_write_json(cyc.record, {"path": str(record)})
    # entry_id hashes the runs: a resumed cycle never logs the same experiment twice.
    locked_json_list_append(layout.experiment_log, log_entry(raw, cyc.experiment_dir), key="entry_id",
                            replace=LOG_IDENTITY)
    return record


def load_refutation(cyc: CycleLayout) -> RefutationReport | None:
    return RefutationReport.model_validate_json(cyc.refutation.read_text()) if cyc.refutation.is_file() else None


def cycle_markdown(cyc_n: int, analysis: Analysis, why: str, record: Path | None,
                   refutation: RefutationReport | None = None, interventions: Path | None = None,
                   dag_path: Path | None = None) -> str:
    """`dag_path`: the DAG that proposed this cycle; with it, a confirmed effect also states its
    predicted H100 effect (causal_core/dag/h100_prediction.py)."""
    lo, hi = analysis.ci_t or (None, None)
    lines = [
        f"# Cycle {cyc_n}: `{analysis.intervention}`",
        "",
        f"**Decision: {analysis.decision}**  ",
        f"Effect (treatment - control): {_fmt(analysis.effect_bpb)} val_bpb, "
        f"95% t interval [{_fmt(lo)}, {_fmt(hi)}], p = {_fmt(analysis.p_adjusted, 4)} "
        f"(Holm over {analysis.family_size}), {analysis.n_pairs} complete pairs, MDE {analysis.mde_bpb}, "
        f"gate alpha {analysis.alpha:.4g}.",
        *_h100_lines(analysis, dag_path),
        "",
        f"Why this intervention: {why}",
        "",
        "| seed | control val_bpb | treatment val_bpb | difference |",
        "|---:|---:|---:|---:|",
    ]
    for s, c, t in zip(analysis.seeds, analysis.control_bpb, analysis.treatment_bpb):
        lines.append(f"| {s} | {c:.5f} | {t:.5f} | {t - c:+.5f} |")
    from causal_core.loop.budget_view import budget_lines
    lines += ["", *budget_lines(analysis, interventions)]
    if analysis.ci_boot:
        lines += ["", f"Bootstrap interval ({analysis.boot_method}): [{_fmt(analysis.ci_boot[0])}, {_fmt(analysis.ci_boot[1])}]"]
    if refutation is not None and refutation.checked:
        lines += ["", "Refutation of the confirmed effect" + (" (failed: downgraded to suggestive)" if refutation.downgraded else " (passed)") + ":", ""]
        lines += [f"- {r.name}: {'passed' if r.passed else 'FAILED'}, {r.detail}" for r in refutation.results]
    if analysis.notes:
        lines += ["", "Notes: " + "; ".join(analysis.notes)]
    if record:
        lines += ["", f"Record: `{record}`"]
    return "\n".join(lines) + "\n"


def _h100_lines(analysis: Analysis, dag_path: Path | None) -> list[str]:
    if analysis.decision != "confirmed":
        return []
    from causal_core.dag.h100_prediction import line
    text = line(dag_path, analysis.intervention, analysis.effect_bpb, analysis.ci_t)
    return [f"The measured effect above is at this loop's scale; {text}."] if text else []


def _fmt(v, nd=5):
    return "n/a" if v is None else f"{v:+.{nd}f}" if nd == 5 else f"{v:.{nd}g}"
