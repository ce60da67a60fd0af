"""Screening and multi-arm cycles of the cycle-loop flow: orchestration over
causal_core.loop.cycle_kinds. Every step's output is a file (design.json, each pair's or arm's
config.json, runs, raw_runs.json, analysis.json / stats.json, record.json), so a killed run
resumes where it stopped."""
from __future__ import annotations

import math
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed

from causal_core.atomic import atomic_write_json
from causal_core.dag.models import DagResult
from causal_core.experiments.refutation import refute
from causal_core.experiments.refutation import apply as apply_refutation
from causal_core.experiments.results import RunResult
from causal_core.experiments.stats import write_stats
from causal_core.loop import cycle_kinds as ck
from causal_core.loop import stop_rules
from causal_core.loop.cycle import seed_jobs
from causal_core.loop.run_budget import runs_left
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.run_reuse import runs_to_train
from causal_core.loop.state import CyclePlan
from causal_core.run_key import config_key
from tasks import experiment
from tasks.experiment import result_file

Job = tuple[Path, str, int, Path]       # (config path, condition, seed, out dir)


def run_jobs(n: int, jobs: list[Job], params: LoopParams, index: Path | None, label: str) -> dict[Job, RunResult]:
    """All jobs as parallel seed tasks (retried, then kept as failed), one progress artifact."""
    if not jobs:
        return {}
    progress = create_progress_artifact(progress=0.0, key=f"cycle-{n}-{label}", description=f"cycle {n}: {label}")
    task = experiment.run_seed.with_options(retries=params.seed_retries, retry_delay_seconds=1)
    futures = {task.submit(p, c, s, out, n, params.dispatch, index): (p, c, s, out) for p, c, s, out in jobs}
    results, finished = {}, 0
    for fut in as_completed(list(futures)):
        job = futures[fut]
        finished += 1
        update_progress_artifact(progress, 100.0 * finished / len(jobs))
        if fut.state.is_completed():
            results[job] = fut.result()
        elif (path := result_file(*job)).is_file():   # the runner's failed result decides reduced_power / failed
            results[job] = RunResult.model_validate_json(path.read_text())
    return results


def _over_budget(layout: LoopLayout, params: LoopParams, n: int, need: int) -> str | None:
    left = runs_left(layout, params)
    return stop_rules.cycle_over_run_budget(n, need, left, params.max_runs) if left is not None else None


def screen_cycle(cyc: CycleLayout, plan: CyclePlan, params: LoopParams, layout: LoopLayout, dag: DagResult,
                 stack: dict, index: Path | None) -> str | None:
    """Design, runs, analysis, records. Returns a stop reason (run budget) or None."""
    design = ck.screen_design(cyc, params, plan, dag, stack)
    pairs = ck.screen_configs(cyc, params, design)
    need = sum(runs_to_train(cfg, seed_jobs(cfg), d, index) for cfg, _, d in pairs)
    if (reason := _over_budget(layout, params, cyc.n, need)):
        return reason
    jobs = [(p, c, s, d) for cfg, p, d in pairs for c, s in seed_jobs(cfg)]
    done = run_jobs(cyc.n, jobs, params, index, "screen-runs") if not cyc.screen_analysis.is_file() else {}
    runs = [[r for (p2, *_), r in done.items() if p2 == p] for _, p, _ in pairs]
    analysis = ck.screen_analysis(cyc, design, pairs, runs, noise_sd=ck.loop_pair_sd(layout) / math.sqrt(2))
    ck.screen_records(layout, cyc, design, analysis, params.records_out)
    create_markdown_artifact(markdown=ck.screen_markdown(cyc.n, design, analysis), key=f"cycle-{cyc.n}-report",
                             description=f"cycle {cyc.n}: screen -> advance {', '.join(analysis.advance) or 'none'}")
    return None


def multiarm_cycle(cyc: CycleLayout, plan: CyclePlan, params: LoopParams, layout: LoopLayout, stack: dict,
                   gate_alpha: float, index: Path | None) -> tuple[list, str | None]:
    """k arms on the same seeds; the first arm's control is trained, the others' are served from
    the run index. Returns (analyses, stop reason)."""
    arms = ck.arm_configs(cyc, params, plan, stack, gate_alpha)
    # The other arms' controls run after the first arm's (wave 2), so the run index serves them.
    later = arms[1:] if index is not None else []
    wave1 = [(p, c, s, d) for cfg, p, d in arms for c, s in seed_jobs(cfg)
             if not (c == "control" and any(p == q for _, q, _ in later))]
    wave2 = [(p, "control", s, d) for cfg, p, d in later for s in cfg.seeds]
    first_control = config_key(arms[0][0].condition_env("control"))
    need = sum(runs_to_train(cfg, [(c, s) for q, c, s, _ in wave1 if q == p], d, index) for cfg, p, d in arms)
    need += sum(runs_to_train(cfg, [("control", s) for s in cfg.seeds], d, index) for cfg, _, d in later
                if config_key(cfg.condition_env("control")) != first_control)     # a control of its own
    if (reason := _over_budget(layout, params, cyc.n, need)):
        return [], reason
    todo = not all((d / "stats.json").is_file() for _, _, d in arms)
    done = run_jobs(cyc.n, wave1, params, index, "arm-runs") if todo else {}
    done |= run_jobs(cyc.n, wave2, params, index, "shared-control") if todo else {}
    runs = [[r for (p2, *_), r in done.items() if p2 == p] for _, p, _ in arms]
    analyses = ck.arm_analyses(arms, runs)
    final = []
    for a, (_, _, d) in zip(analyses, arms):
        ref_p = d.parent / "refutation.json"
        if a.decision == "confirmed" and not ref_p.is_file():
            report = refute(a)          # placebo and leave-one-seed-out; no replication in a multi-arm cycle
            atomic_write_json(ref_p, report.model_dump(mode="json"))
            a = apply_refutation(a, report)
            write_stats(a, d / "stats.json")
        final.append(a)
    ck.arm_records(layout, cyc, arms, params.records_out)
    lines = [ck.plan_markdown(plan), "", "| arm | effect | 95% CI | p (Holm) | gate alpha | decision |",
             "|---|---:|---|---:|---:|---|"]
    for a in final:
        lo, hi = a.ci_t or (float("nan"), float("nan"))
        lines.append(f"| {a.intervention} | {a.effect_bpb if a.effect_bpb is not None else float('nan'):+.4f} | "
                     f"[{lo:+.4f}, {hi:+.4f}] | {a.p_adjusted if a.p_adjusted is not None else float('nan'):.4g} | "
                     f"{a.alpha:.4g} | {a.decision} |")
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=f"cycle-{cyc.n}-report",
                             description=f"cycle {cyc.n}: {len(final)} arms -> "
                                         + ", ".join(f"{a.intervention} {a.decision}" for a in final))
    return final, None

