"""Which kind of cycle comes next (the rule), and the steps of screening and multi-arm cycles.
Prefect-free; flows/cycle_kinds.py runs them. Rule and reasoning: docs/experiments.md.

The rule (`plan_next`), with screening on (`screen_k` >= 2):
1. switches a screen advanced await confirmation (not yet tested in a confirmatory cycle, not
   in the stack)  ->  a multi-arm confirmation cycle over them, sized by multiarm.plan_arms;
2. else, if at least `screen_k` candidates never screened have an expected improvement >=
   `screen_min_ei` and the design fits the runs left  ->  a screening cycle over the top
   `screen_k` by expected improvement per unit cost;
3. else  ->  the single-switch cycle of proposal.propose (as without screening).
Screens run on their own seeds (SCREEN_SEED_OFFSET above the loop's), so a confirmation never
re-uses the runs that selected it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from causal_core import catalog
from causal_core.atomic import atomic_write_json, atomic_write_text, file_lock, locked_json_list_append
from causal_core.dag.models import Candidate, DagResult
from causal_core.experiments.config import ExperimentConfig
from causal_core.experiments.multiarm import ArmPlan, plan_arms
from causal_core.experiments.power import pooled_pair_sd
from causal_core.experiments.results import RawRuns, RunResult, log_entry, summarize
from causal_core.experiments.screening import (Factor, ScreenAnalysis, ScreenDesign, analyze_screen, make_design,
                                               min_runs, top_k)
from causal_core.experiments.stats import Analysis, analyze, holm, load_stats, write_stats
from causal_core.loop.cycle import threads_per_run
from causal_core.loop.history import experiment_rows
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.run_budget import runs_left
from causal_core.loop.seeds import MAX_TESTS, extend_seeds
from causal_core.loop.state import CyclePlan
from causal_core.loop.step_fit import note as steps_note, passed_over
from causal_core.loop.target import target

SCREEN_SEED_OFFSET = 500
DEFAULT_PAIR_SD = 0.01      # before the loop has measured its own noise (bpb, paired difference)


def ranked_candidates(dag: DagResult) -> list[Candidate]:
    """The loop's ranking of what to test next, best first: next_intervention's expected improvement
    at the loop's own scale (the transfer model's local column) per unit cost. One place to change it."""
    return list(dag.candidates or ([dag.next_intervention] if dag.next_intervention else []))


def local_prior(c: Candidate, dag: DagResult) -> tuple[float, float]:
    """(effect, sd) of a candidate at the loop's own scale (the transfer model's local column),
    else the DAG's H100 column: the screen's prior."""
    eff = dag.effect(c.intervention)
    mean = c.local_effect_bpb if c.local_effect_bpb is not None else c.expected_effect_bpb
    sd = (eff.local_sd if eff is not None and eff.local_sd is not None else eff.sd if eff is not None
          else catalog.CATALOG[c.intervention].prior_sd_bpb)
    return mean, sd


# --- what the loop has screened and measured ---------------------------------------------------

def screens(layout: LoopLayout) -> list[tuple[int, ScreenAnalysis]]:
    out = []
    for d in sorted(layout.root.glob("cycle_*"), key=lambda p: int(p.name.split("_")[1])):
        p = d / "screen" / "analysis.json"
        if p.is_file():
            out.append((int(d.name.split("_")[1]), ScreenAnalysis.model_validate_json(p.read_text())))
    return out


def awaiting_confirmation(layout: LoopLayout, stack: dict) -> list[tuple[str, float]]:
    """(switch, screened effect) advanced by a screen and not tested by any confirmatory cycle
    since, best first."""
    tested_after: dict[str, int] = {}
    for r in experiment_rows(layout):
        tested_after[r.intervention] = max(tested_after.get(r.intervention, 0), r.cycle)
    out = {}
    for n, a in screens(layout):
        for m in a.main:
            if m.term in a.advance and tested_after.get(m.term, 0) < n and m.term not in stack:
                out[m.term] = m.effect_bpb
    return sorted(out.items(), key=lambda kv: kv[1])


def loop_pair_sd(layout: LoopLayout) -> float:
    """The loop's own paired noise: pooled over its experiments, else its screens, else a default."""
    sds = []
    for stats in layout.root.glob("cycle_*/**/stats.json"):
        try:
            a = load_stats(stats)
        except (OSError, ValueError):
            continue
        sds.append((a.sd_diff, a.n_pairs))
    default = DEFAULT_PAIR_SD
    scr = screens(layout)
    if scr:
        default = scr[-1][1].sigma * math.sqrt(2)
    return pooled_pair_sd(sds, default)


# --- the rule --------------------------------------------------------------------------------

def plan_next(n: int, params: LoopParams, dag: DagResult, layout: LoopLayout, stack: dict,
              alpha_t: float) -> CyclePlan | None:
    """A screening or multi-arm plan by the rule above, or None for the single-switch path."""
    if params.screen_k < 2 or (n == 1 and params.first_intervention):
        return None
    left = runs_left(layout, params)
    waiting = awaiting_confirmation(layout, stack)
    if waiting:
        arm_plan = plan_arms(waiting, pair_sd=loop_pair_sd(layout), gate_alpha=alpha_t, max_arms=params.max_arms,
                             runs_left=left)
        if worth_confirming(arm_plan):
            return multiarm_plan(n, params, arm_plan, "awaiting confirmation after screening")
    factors = screen_factors(params, dag, layout, stack)
    if len(factors) >= params.screen_k:
        chosen = top_k(factors, params.screen_k, params.screen_min_ei)
        seeds = screen_seeds(params)
        try:
            design = make_design(chosen, seeds, params.screen_max_rows, randomization_seed=n,
                                 resolution=params.screen_resolution)
        except ValueError:      # screen_k too large for screen_max_rows: no screen
            return None
        if design.n_runs < min_runs(len(chosen)):
            # A saturated design leaves no df for the noise and could not be analysed: drop the
            # last candidates until one residual df remains (PB on 8 rows x 1 seed: 6 switches, not 7).
            chosen = chosen[:design.n_runs - 2]
            design = make_design(chosen, seeds, params.screen_max_rows, randomization_seed=n,
                                 resolution=params.screen_resolution)
        if len(chosen) >= min(params.screen_k, design.n_runs - 2) and len(chosen) >= 2 and (left is None or design.n_runs <= left):
            why = (f"screening: {len(factors)} never-screened candidates with expected improvement >= "
                   f"{params.screen_min_ei} bpb and no screened switch awaits confirmation; top {params.screen_k} by "
                   f"expected improvement per unit cost, {design.kind}, {design.n_runs} runs on seeds {seeds}"
                   + steps_note(passed_over(params, layout)))
            return CyclePlan(cycle=n, intervention=chosen[0].name, why=why, source="dag", kind="screen",
                             arms=[f.name for f in chosen], seeds=seeds,
                             expected={f.name: f.prior_effect_bpb for f in chosen})
    return None


# A confirmation whose best arm has less power than this is not run: its runs would mostly be
# wasted, and a test that fails drains the LORD++ wealth every later test is held to (a
# benchmark repeat spent 6 runs confirming a screened switch at power 0.01). The switch stays
# set aside with its screen estimate; the rule goes on to the next screen.
MIN_CONFIRM_POWER = 0.2


def worth_confirming(arm_plan: ArmPlan | None) -> bool:
    return arm_plan is not None and max(a.power for a in arm_plan.arms) >= MIN_CONFIRM_POWER


def multiarm_plan(n: int, params: LoopParams, arm_plan: ArmPlan, reason: str) -> CyclePlan:
    seeds = extend_seeds(params.seeds, arm_plan.n_seeds)
    return CyclePlan(cycle=n, intervention=arm_plan.arms[0].intervention, kind="multiarm",
                     arms=[a.intervention for a in arm_plan.arms], seeds=seeds, source="dag",
                     expected={a.intervention: a.expected_effect_bpb for a in arm_plan.arms},
                     why=f"{reason}: {arm_plan.why}")


def screen_seeds(params: LoopParams) -> list[int]:
    return [s + SCREEN_SEED_OFFSET for s in params.seeds[:params.screen_seeds]]


def screen_factors(params: LoopParams, dag: DagResult, layout: LoopLayout, stack: dict) -> list[Factor]:
    """Candidates a screen may take: never screened, not tested twice, not in (or clashing with)
    the stack, and no two setting the same trainer variable (a row must be able to turn each on
    and off alone)."""
    from causal_core.loop.stack import conflict
    screened = {m.term for _, a in screens(layout) for m in a.main}
    tested: dict[str, int] = {}
    for r in experiment_rows(layout):
        tested[r.intervention] = tested.get(r.intervention, 0) + 1
    tgt = target(params)
    base = tgt.env(params)
    too_short = passed_over(params, layout)
    out, keys = [], set()
    for c in ranked_candidates(dag):
        if not tgt.actuates(c.intervention) or c.intervention in too_short:   # ignored / a scale artifact
            continue
        e = catalog.CATALOG[c.intervention]
        if c.intervention in screened or tested.get(c.intervention, 0) >= MAX_TESTS:
            continue
        if stack and conflict(c.intervention, stack, base):
            continue
        treatment = tgt.sides(c.intervention)[0]
        if keys & set(treatment):
            continue
        if e.requires_env:      # a switch that needs more than its overrides (e.g. a probe's direction) is not screened
            continue
        keys |= set(treatment)
        mean, sd = local_prior(c, dag)
        out.append(Factor(name=c.intervention, prior_effect_bpb=mean, prior_sd_bpb=sd,
                          expected_improvement_bpb=c.expected_improvement_bpb, cost=c.cost_runs or 1.0))
    return out


# --- configs: the same run fields and budget resolution as cycle.plan_config ---------------------

def _run_fields(params: LoopParams, budget_s: float | None = None) -> dict:
    timed = params.budget_mode == "time"
    tgt = target(params)
    return {"budget_s": max(budget_s or params.budget_s, params.time_budget_s if timed else 0),
            "base_env": tgt.env(params), **tgt.config_fields(params), "max_parallel": params.max_parallel or None,
            "budget_mode": params.budget_mode, "time_budget_s": params.time_budget_s if timed else None}


def _finish(cfg: ExperimentConfig, d: Path) -> ExperimentConfig:
    """Time budget: each arm's steps from its step time (calibration cache shared with the loop, so
    arms with the same control get the same steps); a switch the trainer never reads is refused."""
    from causal_core.experiments.actuation import warn_ignored
    from causal_core.experiments.budget import resolve as resolve_budget
    cfg = resolve_budget(cfg, d / "calibration")
    warn_ignored(cfg, cfg.check_runnable())
    return cfg


# --- screening cycle steps ---------------------------------------------------------------------

def screen_design(cyc: CycleLayout, params: LoopParams, plan: CyclePlan, dag: DagResult, stack: dict) -> ScreenDesign:
    """The design of the (approved) plan; an existing design.json wins (resume runs what it planned)."""
    if cyc.design.is_file():
        return ScreenDesign.model_validate_json(cyc.design.read_text())
    factors = []
    by_name = {c.intervention: c for c in ranked_candidates(dag)}
    for name in plan.arms:
        e = catalog.CATALOG[name]
        mean, sd = local_prior(by_name[name], dag) if name in by_name else (e.prior_effect_bpb, e.prior_sd_bpb)
        factors.append(Factor(name=name, prior_effect_bpb=plan.expected.get(name, mean), prior_sd_bpb=sd))
    from causal_core.experiments.screening import foldover
    design = make_design(factors, plan.seeds or screen_seeds(params),   # an approver's extra arm may need more rows
                         max_rows=max(params.screen_max_rows, len(foldover(len(factors)))),
                         randomization_seed=cyc.n, stack=stack, resolution=params.screen_resolution)
    if design.n_runs < min_runs(len(factors)):     # an approver's extra arm saturated a resolution III design
        design = make_design(factors, design.seeds, max_rows=len(foldover(len(factors))), randomization_seed=cyc.n,
                             stack=stack, resolution=4)
    atomic_write_json(cyc.design, design.model_dump())
    return design


def _row_env(design: ScreenDesign, row: int, tgt) -> dict:
    from causal_core.loop.stack import stacked_sides
    env: dict = {}
    for f, v in zip(design.factors, design.matrix[row]):
        treatment, control = stacked_sides(f.name, design.stack, tgt)
        env.update(treatment if v > 0 else control)
    return env


def screen_configs(cyc: CycleLayout, params: LoopParams, design: ScreenDesign) -> list[tuple[ExperimentConfig, Path, Path]]:
    """One config per mirror pair: treatment = a row, control = its mirror, the design's seeds.
    (config, config path, out dir); existing configs win."""
    threads = threads_per_run(params, design.n_runs)
    out = []
    for i, (r, m) in enumerate(design.pairs):
        d = cyc.screen_pair(i)
        path = d / "config.json"
        if path.is_file():
            cfg = ExperimentConfig.load(path)
        else:
            cfg = ExperimentConfig(intervention=design.factors[0].name, design_row=True, stack=design.stack,
                                   treatment=_row_env(design, r, target(params)),
                                   control=_row_env(design, m, target(params)), seeds=design.seeds,
                                   cycle=cyc.n, threads_per_run=threads, alpha=params.alpha, **_run_fields(params))
            _finish(cfg, d).save(path)
            cfg = ExperimentConfig.load(path)
        out.append((cfg, path, d))
    return out


def screen_analysis(cyc: CycleLayout, design: ScreenDesign, pairs: list[tuple[ExperimentConfig, Path, Path]],
                    runs: list[list[RunResult]], noise_sd: float) -> ScreenAnalysis:
    """raw_runs.json per pair, then the analysis (screen/analysis.json); an existing analysis wins."""
    if cyc.screen_analysis.is_file():
        return ScreenAnalysis.model_validate_json(cyc.screen_analysis.read_text())
    y: dict[tuple[int, int], float] = {}
    for (cfg, _, d), rr, (r, m) in zip(pairs, runs, design.pairs):
        raw_p = d / "raw_runs.json"
        raw = RawRuns.load(raw_p) if raw_p.is_file() else summarize(cfg, rr)
        atomic_write_json(raw_p, raw.model_dump(mode="json"))
        for res in raw.runs:
            if res.complete and res.val_bpb is not None:
                y[(r if res.condition == "treatment" else m, res.seed)] = res.val_bpb
    a = analyze_screen(design, y, noise_prior_sd=noise_sd)
    atomic_write_json(cyc.screen_analysis, a.model_dump())
    return a


def screen_records(layout: LoopLayout, cyc: CycleLayout, design: ScreenDesign, analysis: ScreenAnalysis,
                   records_out: str | Path) -> list[Path]:
    """One record per screened switch: a multi-intervention record of the randomized design whose
    `causal_golf_experiment` is the switch's likelihood-only main effect (so the DAG gets direct
    evidence without counting its own prior twice) and whose `causal_golf_screening` carries every
    run, the design and the interaction estimates. Then record.json and the experiment_log entries."""
    from causal_core.experiments.record_writer import TRACK
    from causal_core.schemas import ExperimentOutcome
    raws = [RawRuns.load(cyc.screen_pair(i) / "raw_runs.json") for i in range(len(design.pairs))]
    runs = []
    for raw, (r, m) in zip(raws, design.pairs):
        for res in raw.runs:
            row = r if res.condition == "treatment" else m
            runs.append({"row": row, "seed": res.seed, "on": design.row_switches(row), "val_bpb": res.val_bpb,
                         "status": res.status, "run_id": res.run_id})
    date = max((raw.finished_at or "")[:10] for raw in raws) or "undated"
    block = {"design": design.kind, "factors": design.names, "matrix": design.matrix, "seeds": design.seeds,
             "assignment": f"randomized (column permutation and signs, seed {design.randomization_seed})",
             "stack": list(design.stack), "runs": runs,
             "main": [m.model_dump() for m in analysis.main],
             "interactions": [i.model_dump() for i in analysis.interactions], "unresolved": analysis.unresolved,
             "advance": analysis.advance, "set_aside": analysis.set_aside, "sigma": analysis.sigma}
    folders = []
    with file_lock(Path(records_out) / ".causal_golf_records"):
        for m in analysis.main:
            lo, hi = m.data_ci or (m.ci_low, m.ci_high)
            decision = "suggestive" if m.term in analysis.advance or (m.data_effect_bpb or 0) < 0 else "null"
            outcome = ExperimentOutcome(intervention=m.term, decision=decision, effect_bpb=m.data_effect_bpb,
                                        ci_low=lo, ci_high=hi, n_pairs=len(runs) // 2, platform=raws[0].platform,
                                        cycle=cyc.n, stacked_on=list(design.stack))
            on = [x for x in runs if m.term in x["on"] and x["val_bpb"] is not None]
            folder = Path(records_out) / TRACK / f"{date}_screen-c{cyc.n}-{m.term}-{raws[0].experiment_id[-10:]}"
            sub = {"name": f"causal-golf screen: {m.term} (cycle {cyc.n}, {design.kind})", "author": "causal-golf",
                   "date": date, "track": TRACK, "platform": raws[0].platform,
                   "val_bpb": sum(x["val_bpb"] for x in on) / len(on) if on else None,
                   "interventions": [*design.stack, m.term], "causal_golf_experiment": outcome.model_dump(),
                   "causal_golf_screening": block}
            atomic_write_text(folder / "README.md", screen_markdown(cyc.n, design, analysis, focus=m.term))
            atomic_write_json(folder / "submission.json", sub)
            folders.append(folder)
    for raw, (cfg, _, d) in zip(raws, screen_configs_loaded(cyc, design)):
        locked_json_list_append(layout.experiment_log, log_entry(raw, d), key="entry_id")
    atomic_write_json(cyc.record, {"path": str(folders[0]), "paths": [str(f) for f in folders], "kind": "screen"})
    return folders


def screen_configs_loaded(cyc: CycleLayout, design: ScreenDesign):
    return [(ExperimentConfig.load(cyc.screen_pair(i) / "config.json"), cyc.screen_pair(i) / "config.json",
             cyc.screen_pair(i)) for i in range(len(design.pairs))]


def screen_markdown(n: int, design: ScreenDesign, a: ScreenAnalysis, focus: str | None = None) -> str:
    lines = [f"# Cycle {n}: screening {', '.join(design.names)}", "",
             f"{design.kind}; {len(design.matrix)} rows x seeds {design.seeds} = {design.n_runs} runs "
             f"(common random numbers: every row on the same seeds; randomized assignment, seed "
             f"{design.randomization_seed})" + (f"; on top of {', '.join(design.stack)}" if design.stack else ""), "",
             "Main effects (ON minus OFF, val_bpb; posterior with the DAG prior, and the data alone):", "",
             "| switch | posterior effect | 95% interval | P(improves) | data-only effect | verdict |",
             "|---|---:|---|---:|---:|---|"]
    for m in a.main:
        mark = "**" if m.term == focus else ""
        lines.append(f"| {mark}{m.term}{mark} | {m.effect_bpb:+.4f} | [{m.ci_low:+.4f}, {m.ci_high:+.4f}] | "
                     f"{m.p_improves:.2f} | {m.data_effect_bpb:+.4f} | "
                     f"{'to confirmation' if m.term in a.advance else 'set aside'} |")
    if a.interactions:
        lines += ["", "Two-factor interactions (resolved by the design):", ""]
        lines += [f"- {i.term}: {i.effect_bpb:+.4f} [{i.ci_low:+.4f}, {i.ci_high:+.4f}]" for i in a.interactions]
    if a.unresolved:
        lines += ["", "Aliased interaction chains (not separable here): " + "; ".join(" = ".join(c) for c in a.unresolved)]
    lines += ["", f"Residual SD {a.sigma:.4f} bpb ({a.df:g} df); advance when P(improves) >= {a.advance_prob}.", "",
              "| row | " + " | ".join(design.names) + " |", "|---:|" + "---|" * len(design.names)]
    lines += [f"| {i} | " + " | ".join("ON" if v > 0 else "off" for v in row) + " |" for i, row in enumerate(design.matrix)]
    lines += [*([""] + [f"Notes: {'; '.join(a.notes)}"] if a.notes else [])]
    return "\n".join(lines) + "\n"


# --- multi-arm cycle steps ---------------------------------------------------------------------

def arm_configs(cyc: CycleLayout, params: LoopParams, plan: CyclePlan, stack: dict,
                gate_alpha: float) -> list[tuple[ExperimentConfig, Path, Path]]:
    """One config per arm, same seeds, same stack: every arm's control is the same trainer config
    (served once from the run index). (config, config path, out dir); existing configs win."""
    from causal_core.loop.stack import stacked_sides
    seeds = plan.seeds or params.seeds
    threads = threads_per_run(params, len(seeds) * (len(plan.arms) + 1))
    out = []
    for name in plan.arms:
        path = cyc.arm(name) / "config.json"
        if path.is_file():
            cfg = ExperimentConfig.load(path)
        else:
            treatment, control = stacked_sides(name, stack, target(params))    # refuses in its own words
            cfg = ExperimentConfig(intervention=name, stack=dict(stack), treatment=treatment, control=control,
                                   seeds=seeds, cycle=cyc.n, threads_per_run=threads, alpha=gate_alpha,
                                   **_run_fields(params, plan.budget_s))
            _finish(cfg, cyc.arm(name)).save(path)
            cfg = ExperimentConfig.load(path)
        out.append((cfg, path, cyc.arm(name) / "experiment"))
    return out


def arm_analyses(arms: list[tuple[ExperimentConfig, Path, Path]], runs: list[list[RunResult]]) -> list[Analysis]:
    """raw_runs.json per arm, each arm paired with the shared control on its seeds, Holm over the
    arms (at the cycle's level, the configs' alpha); stats.json written per arm. Existing stats win."""
    done = [load_stats(d / "stats.json") for _, _, d in arms if (d / "stats.json").is_file()]
    if len(done) == len(arms):
        return done
    analyses = []
    for (cfg, _, d), rr in zip(arms, runs):
        raw_p = d / "raw_runs.json"
        raw = RawRuns.load(raw_p) if raw_p.is_file() else summarize(cfg, rr)
        atomic_write_json(raw_p, raw.model_dump(mode="json"))
        analyses.append(analyze(raw))
    analyses = holm(analyses)
    for a, (_, _, d) in zip(analyses, arms):
        a.notes.append(f"multi-arm cycle: {len(arms)} arms against one shared control, Holm over the arms")
        write_stats(a, d / "stats.json")
    return analyses


def arm_records(layout: LoopLayout, cyc: CycleLayout, arms: list[tuple[ExperimentConfig, Path, Path]],
                records_out: str | Path) -> list[Path]:
    from causal_core.experiments.record_writer import write_experiment_record
    folders = []
    for _, _, d in arms:
        folders.append(write_experiment_record(d, records_out))
        locked_json_list_append(layout.experiment_log, log_entry(RawRuns.load(d / "raw_runs.json"), d), key="entry_id")
    atomic_write_json(cyc.record, {"path": str(folders[0]), "paths": [str(f) for f in folders], "kind": "multiarm"})
    return folders


def plan_markdown(plan: CyclePlan, alpha_note: str = "") -> str:
    """What the approval pause shows: the kind, the arms, the seeds and the expected effects."""
    lines = [f"# Cycle {plan.cycle} proposal: {plan.kind}", "", plan.why, "",
             "| arm | expected effect (bpb) |", "|---|---:|"]
    arms = plan.arms or [plan.intervention]
    lines += [f"| {a} | {plan.expected.get(a, plan.expected_effect_bpb or float('nan')):+.4f} |" for a in arms]
    lines += ["", f"Seeds: {plan.seeds or 'the loop default'}" + (f"; {alpha_note}" if alpha_note else ""), "",
              "Answer with drop_arms / add_arm to change the arms, seeds to change the seeds, or stop."]
    return "\n".join(lines) + "\n"


def load_record_paths(cyc: CycleLayout) -> list[str]:
    obj = json.loads(cyc.record.read_text())
    return obj.get("paths") or [obj["path"]]
