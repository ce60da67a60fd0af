"""The `cycle-loop` flow: discovery, then experiment cycles with an approval pause
between them, until a stop rule fires. Orchestration only: every step is a task over
causal_core, and every step's output is a file, so a restarted run resumes."""
from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import as_completed

from causal_core.experiments.budget import BudgetError
from causal_core.experiments.progress import progress_label, set_default_reporter
from causal_core.experiments.results import RunResult
from causal_core.loop.announce import decision_line, run_line
from causal_core.loop import cycle as cyclelib
from causal_core.loop import diagnostics_step, probe_phase, run_budget, stop_rules
from causal_core.loop import report
from causal_core.loop.discovery import load_dag_result
from causal_core.loop.history import cycle_outcomes, experiment_rows
from causal_core.loop.target import target
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams, validate_params
from causal_core.loop.params_doc import with_loop_params
from causal_core.loop import online_fdr as online_fdr_state
from causal_core.loop.cycle_kinds import plan_markdown, plan_next
from causal_core.loop.proposal import propose
from causal_core.loop.approval_card import proposal_markdown
from causal_core.loop.stack import confirmed_stack, stack_for
from causal_core.loop.state import CyclePlan, drop_plan, load_plan, save_plan, started_at
from causal_core.loop.step_fit import record_unrunnable
from flows import cycle_kinds as kinds
from flows.approval import approval_form, edit_arms, wait_for_approval
from tasks import artifacts, diagnostics, discovery, experiment
from tasks import probe as probe_tasks
from tasks import cycle as cycle_tasks
from tasks.progress import ProgressBoard
from tasks.experiment import result_file

STOP = "__stop__"      # a plan the approver answered with "stop"


@flow(name="cycle-loop", log_prints=True,
      description="Discovery, then experiment cycles with an approval pause between them, until a stop rule fires.")
@with_loop_params
def cycle_loop(**raw) -> dict:
    """The discovery-adjust loop. Its parameters are LoopParams' fields (causal_core/loop/params.py)."""
    params = validate_params(raw)     # refuse bad parameters before any work
    log = get_run_logger()
    # Runs started without a callback of their own (the final assembly's seeds) report here too.
    set_default_reporter(lambda p: log.info(p.line()) if p.phase != "finished" else None)
    layout = LoopLayout.at(params.results_dir)
    t0 = started_at(layout)
    roots = [*params.records, params.records_out]
    scale = target(params).scale_key(params)      # the DAG's local column is at the loop's own scale

    # Cycle 0: discovery.
    cyc0 = layout.cycle(0)
    discovery.extract(cyc0, roots)
    dag_path = discovery.dag(cyc0, None, params.budget_mode, scale)
    ident = discovery.identifiability.submit(cyc0)
    artifacts.publish_dag(cyc0.n, dag_path)
    ident.result()
    # The diagnostics start on cycle 1's first control checkpoint, alongside the other seeds.
    diags = _Diagnostics(cyc0, params, layout)

    n = 1
    while True:
        cyc = layout.cycle(n)
        if cyclelib.cycle_finished(cyc):      # a resumed run skips whole finished cycles
            dag_path, n = cyc.dag, n + 1
            continue
        reason = stop_rules.stop_reason(cycle_outcomes(layout), time.time() - t0, params,
                                        runs_trained=run_budget.runs_trained(layout) if params.max_runs else 0)
        if reason:
            break
        plan = load_plan(cyc) or _propose(n, params, load_dag_result(dag_path), layout)
        if plan is None:
            reason = stop_rules.NOTHING_TO_TEST
            break
        if plan.approved_by is None:
            plan = save_plan(cyc, _approve(plan, params, log, dag_path, layout))
        if plan.intervention == STOP:
            reason = stop_rules.approver_stop(plan.approved_by)
            break
        if plan.kind != "single":        # screening or multi-arm cycle (flows/cycle_kinds.py)
            reason = _other_kind(cyc, plan, params, layout, load_dag_result(dag_path), log)
            if reason:
                break
            discovery.extract(cyc, roots, refresh=not cyc.interventions.is_file())
            dag_path = discovery.dag(cyc, dag_path, params.budget_mode, scale)
            artifacts.publish_dag(n, dag_path)
            n += 1
            continue
        log.info("cycle %d: testing %s (%s)", n, plan.intervention, plan.why)
        verdict = None
        if probe_phase.wanted(plan.intervention, params):     # the cheap probe gates the expensive sweep
            verdict = probe_tasks.probe(cyc, params, layout, plan.intervention)
            artifacts.publish_probe(n, verdict)
            if not _approve_probe(cyc, verdict, params, log):
                reason = stop_rules.probe_gate_stop(plan.intervention, verdict["decision"]["why"])
                break
        stack, unstacked = stack_for(plan.intervention, layout, params)
        if unstacked and not cyc.config.is_file():
            log.warning("cycle %d: %s", n, unstacked)
        test = online_fdr_state.level_for(layout, n, [plan.intervention], params.alpha,
                                              online_fdr_state.horizon(params)) if params.online_fdr else None
        try:
            cfg = cycle_tasks.plan_config(cyc, probe_phase.sweep_params(plan.intervention, params, verdict),
                                          plan.intervention, plan.seeds, plan.budget_s, stack,
                                          test.gate_alpha if test else None)
        except BudgetError as e:        # its arms cannot run here: record why, plan the cycle again
            _unrunnable(cyc, plan, layout, str(e), log)
            continue
        index = layout.run_index if params.reuse_runs else None
        reason = run_budget.over_run_budget(layout, params, cyc, cfg, index)
        if reason:
            break
        runs = _run_sweep(cyc, cfg, params, index, diags.offer, verdict is not None, log)
        raw, analysis = cycle_tasks.decide(cyc, cfg, runs)
        log.info(decision_line(n, analysis))
        if cyclelib.needs_refutation(cyc, analysis):
            rep_cfg = rep_runs = None
            if run_budget.replication_allowed(params, time.time() - t0, runs, 2 * len(cfg.seeds),
                                              run_budget.runs_left(layout, params)):
                rep_cfg = cyclelib.replication_config(cyc, cfg)
                rep_runs = _run_seeds(cyc.n, rep_cfg, cyc.replication_config, cyc.replication_dir, params, index)
            analysis, _ = cycle_tasks.refute(cyc, analysis, rep_cfg, rep_runs)
            log.info(decision_line(n, analysis, stage="after refutation"))
        record = cyclelib.record_step(layout, cyc, raw, analysis, params.records_out)
        if test:
            online_fdr_state.record_outcome(layout, n, analysis.decision == "confirmed")
        discovery.extract(cyc, roots, refresh=not cyc.interventions.is_file())
        dag_path = discovery.dag(cyc, dag_path, params.budget_mode, scale)
        artifacts.publish_cycle(n, analysis, plan.why, record, experiment_rows(layout), dag_path,
                                cyclelib.load_refutation(cyc))
        n += 1

    diags.finish(log)
    if params.run_diagnostics:
        artifacts.publish_diagnostics(layout)
    final = report.write_final_report(layout, params, reason, assemble=params.assemble)
    log.info("loop stopped: %s; final report %s", reason, layout.final_report_md)
    return final


def _unrunnable(cyc, plan: CyclePlan, layout: LoopLayout, reason: str, log) -> None:
    """A switch whose calibration failed (no run trained): recorded in results/unrunnable.json so no
    later proposal picks it, its LORD++ test released (it spent nothing), and the cycle re-planned."""
    record_unrunnable(layout, plan.intervention, cyc.n, reason)
    online_fdr_state.release(layout, cyc.n)
    drop_plan(cyc)
    log.warning("cycle %d: %s cannot run at this configuration (%s): passed over, planning the cycle again",
                cyc.n, plan.intervention, reason)


def _propose(n: int, params: LoopParams, dag, layout: LoopLayout) -> CyclePlan | None:
    """A screening or multi-arm cycle by the documented rule (cycle_kinds.plan_next), else the single switch."""
    stack = confirmed_stack(layout) if params.stack_confirmed else {}
    alpha_t = online_fdr_state.next_gate(layout, params)
    return plan_next(n, params, dag, layout, stack, alpha_t) or propose(n, params, dag, layout)


def _approve(plan: CyclePlan, params: LoopParams, log, dag_path: Path, layout: LoopLayout) -> CyclePlan:
    if params.auto_approve:
        return plan.model_copy(update={"approved_by": "auto"})
    design = plan_markdown(plan)
    create_markdown_artifact(markdown=design, key=f"cycle-{plan.cycle}-proposal",
                             description=f"cycle {plan.cycle}: {plan.kind} proposal awaiting approval")
    log.info("cycle %d proposes a %s cycle: %s (expected %s): waiting up to %.0f s for approval "
             "(UI Resume, or `causal-golf approve <flow-run-id>`); on timeout: %s",
             plan.cycle, plan.kind, ", ".join(plan.arms) or plan.intervention,
             plan.expected or plan.expected_effect_bpb, params.approval_timeout_s, params.on_timeout)
    card = proposal_markdown(plan, params, Path(dag_path).with_name("dag.png"), artifacts.dag_url(plan.cycle - 1),
                             list(confirmed_stack(layout)) if params.stack_confirmed else None)
    if plan.kind != "single":       # a screen or multi-arm proposal: the design (arms, seeds, expected effects) too
        card += "\n\n" + design
    form = approval_form(card, action="approve", intervention=plan.intervention, seeds=plan.seeds or params.seeds,
                         budget_s=plan.budget_s or params.budget_s)
    answer = wait_for_approval(params.approval_timeout_s, params.on_timeout, form=form)
    if answer.action == "stop":
        return plan.model_copy(update={"intervention": STOP, "approved_by": answer.by})
    update = {"approved_by": answer.by}
    update.update({k: v for k, v in (("seeds", answer.seeds), ("budget_s", answer.budget_s)) if v is not None})
    if answer.intervention and answer.intervention != plan.intervention:
        update.update(intervention=answer.intervention, source="approver", expected_effect_bpb=None, kind="single",
                      arms=[], why=f"chosen by the approver instead of {plan.intervention}")
    elif answer.drop_arms or answer.add_arm:
        update.update(edit_arms(plan, answer.drop_arms or [], answer.add_arm))
    return plan.model_copy(update=update)


def _other_kind(cyc, plan: CyclePlan, params: LoopParams, layout: LoopLayout, dag, log) -> str | None:
    """Run a screening or multi-arm cycle; returns a stop reason (run budget) or None."""
    stack = confirmed_stack(layout) if params.stack_confirmed else {}
    index = layout.run_index if params.reuse_runs else None
    log.info("cycle %d: %s over %s (%s)", cyc.n, plan.kind, ", ".join(plan.arms), plan.why)
    if plan.kind == "screen":
        return kinds.screen_cycle(cyc, plan, params, layout, dag, stack, index)
    test = online_fdr_state.level_for(layout, cyc.n, plan.arms, params.alpha,
                                              online_fdr_state.horizon(params)) if params.online_fdr else None
    analyses, reason = kinds.multiarm_cycle(cyc, plan, params, layout, stack,
                                            test.gate_alpha if test else params.alpha, index)
    if test and not reason:
        online_fdr_state.record_outcome(layout, cyc.n, any(a.decision == "confirmed" for a in analyses))
    return reason


def _approve_probe(cyc, verdict: dict, params: LoopParams, log) -> bool:
    """The probe's own pause: approve runs the sweep, stop skips it. Unattended, the verdict decides."""
    earlier = probe_phase.load_approval(cyc)      # a resumed loop does not ask twice
    if earlier is not None:
        return earlier["run_sweep"]
    d, c = verdict["decision"], verdict["cost"]
    if params.auto_approve:
        run, by = d["action"] == "run", "auto (the probe's verdict)"
    else:
        log.info("cycle %d probe: %s (%s); the sweep costs %d runs (first phase %d): waiting up to %.0f s for "
                 "approval (approve runs it, stop skips it)", cyc.n, d["action"], d["why"], c["sweep_runs_planned"],
                 c["first_phase_runs"], params.approval_timeout_s)
        answer = wait_for_approval(params.approval_timeout_s, params.on_timeout)
        run, by = answer.action == "approve", answer.by
    return probe_phase.save_approval(cyc, run, by, d["action"])


def _run_sweep(cyc, cfg, params: LoopParams, index, on_result, probed: bool, log) -> list[RunResult]:
    """All seeds; after a probe, under the cost ceiling: one arm x 3 seeds first, the rest only on separation."""
    from causal_core.experiments.cost_ceiling import first_phase_seeds
    first = first_phase_seeds(cfg.seeds) if probed else cfg.seeds
    runs = _run_seeds(cyc.n, cfg, cyc.config, cyc.experiment_dir, params, index, on_result, seeds=first)
    if len(first) < len(cfg.seeds):
        ceiling = probe_phase.ceiling_step(cyc, runs, len(cfg.seeds), params.probe_separation_t)
        log.info("cycle %d cost ceiling: %s", cyc.n, ceiling["why"])
        if ceiling["action"] == "continue":
            runs += _run_seeds(cyc.n, cfg, cyc.config, cyc.experiment_dir, params, index, on_result,
                               seeds=cfg.seeds[len(first):])
    return runs


class _Diagnostics:
    """Cycle 0's diagnostics, started on the first finished control checkpoint of the loop's
    first experiment, so they overlap its other seed runs instead of delaying them."""

    def __init__(self, cyc0, params: LoopParams, layout: LoopLayout):
        self.cyc0, self.params, self.layout = cyc0, params, layout
        self.todo = diagnostics_step.pending(cyc0) if params.run_diagnostics else []
        self.futures: list = []

    def offer(self, result: RunResult) -> None:
        ckpt = diagnostics_step.usable_checkpoint(result)
        if ckpt and self.todo and not self.futures:
            self.futures = [diagnostics.diagnostic.submit(name, self.cyc0, ckpt, self.params, self.layout)
                            for name in self.todo]

    def finish(self, log) -> None:
        if self.todo and not self.futures:      # a resumed loop: cycle 1's checkpoint is on disk
            ckpt = diagnostics_step.baseline_checkpoint(self.layout)
            if ckpt is None:
                log.warning("diagnostics not run: no experiment produced a baseline checkpoint")
                return
            self.futures = [diagnostics.diagnostic.submit(name, self.cyc0, ckpt, self.params, self.layout)
                            for name in self.todo]
        for fut in self.futures:    # diagnostics inform the user; a failed one does not stop the loop
            fut.wait()
            if not fut.state.is_completed():
                log.warning("diagnostic failed: %s", fut.state.message)


def _run_seeds(n: int, cfg, config_path: Path, out: Path, params: LoopParams, index: Path | None,
               on_result=None, seeds: list[int] | None = None) -> list[RunResult]:
    """All seed runs of a config (or of `seeds`) as parallel tasks; a crashed seed is retried, then kept as failed."""
    jobs = [j for j in cyclelib.seed_jobs(cfg) if seeds is None or j[1] in seeds]
    kind = "replication" if out.name == "replication" else "seed-runs"
    board = ProgressBoard(f"cycle-{n}-{kind}", f"cycle {n}: {kind} of {cfg.intervention}",
                          [progress_label(cfg, c, s) for c, s in jobs])
    task = experiment.run_seed.with_options(retries=params.seed_retries, retry_delay_seconds=1)
    futures = {task.submit(config_path, c, s, out, n, params.dispatch, index, board.key): (c, s) for c, s in jobs}
    results = []
    log = get_run_logger()
    for fut in as_completed(list(futures)):
        c, s = futures[fut]
        board.finish(progress_label(cfg, c, s))
        state = fut.state
        if state.is_completed():
            results.append(fut.result())
            log.info(run_line(progress_label(cfg, c, s), results[-1]))
            if on_result:
                on_result(results[-1])
        else:   # retries exhausted: the runner's own failed result decides reduced_power / failed
            path = result_file(config_path, c, s, out)
            if path.is_file():
                results.append(RunResult.model_validate_json(path.read_text()))
    board.close()
    return results
