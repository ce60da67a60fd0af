"""The `cycle-loop` flow: discovery, then experiment cycles with an approval pause
between them, until a stop rule fires. Orchestration only: every step is a task over
causal_core, and every step's output is a file, so a restarted run resumes."""
from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.futures import as_completed

from causal_core.experiments.progress import progress_label, set_default_reporter
from causal_core.experiments.results import RunResult
from causal_core.loop.announce import decision_line, run_line
from causal_core.loop import cycle as cyclelib
from causal_core.loop import diagnostics_step
from causal_core.loop import report
from causal_core.loop.discovery import load_dag_result
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import TWO_DAYS_S, LoopParams, validate_params
from causal_core.loop.proposal import propose
from causal_core.loop.approval_card import proposal_markdown
from causal_core.loop.stack import confirmed_stack, stack_for
from causal_core.loop.state import CyclePlan, load_plan, save_plan, started_at
from causal_core.loop.stop_rules import stop_reason
from flows.approval import approval_form, wait_for_approval
from tasks import artifacts, diagnostics, discovery, experiment
from tasks import cycle as cycle_tasks
from tasks.progress import ProgressBoard
from tasks.experiment import result_file

STOP = "__stop__"      # a plan the approver answered with "stop"


@flow(name="cycle-loop", log_prints=True)
def cycle_loop(
    records: list[str] = ["../shared/parameter-golf-records"],  # noqa: B006 (Prefect parameter default)
    results_dir: str = "results/causal",
    records_out: str = "records",
    data_path: str = "data/embedded_sp1024",
    seeds: list[int] = [1, 2, 3],  # noqa: B006
    budget_s: float = 120.0,
    budget_mode: str = "time",
    time_budget_s: float = 60.0,
    trainer_env: dict = {},  # noqa: B006
    first_intervention: str | None = None,
    auto_approve: bool = False,
    approval_timeout_s: float = 3600.0,
    on_timeout: str = "approve",
    stop_on_confirmed: bool = True,
    max_nulls_in_a_row: int = 3,
    max_cycles: int = 4,
    wall_clock_gate_s: float = TWO_DAYS_S,
    max_runs: int = 0,
    dispatch: str = "local",
    max_parallel: int = 0,
    seed_retries: int = 1,
    reuse_runs: bool = True,
    stack_confirmed: bool = True,
    replicate: bool = True,
    run_diagnostics: bool = True,
    assemble: bool = True,
) -> dict:
    params = validate_params(dict(locals()))     # refuse bad parameters before any work
    log = get_run_logger()
    # Runs started without a callback of their own (the final assembly's seeds) report here too.
    set_default_reporter(lambda p: log.info(p.line()) if p.phase != "finished" else None)
    layout = LoopLayout.at(params.results_dir)
    t0 = started_at(layout)
    roots = [*params.records, params.records_out]

    # Cycle 0: discovery.
    cyc0 = layout.cycle(0)
    discovery.extract(cyc0, roots)
    dag_path = discovery.dag(cyc0, None, params.budget_mode)
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
        done = cyclelib.experiment_rows(layout)
        reason = stop_reason([r["decision"] for r in done], time.time() - t0, params,
                             runs_trained=cyclelib.runs_trained(layout) if params.max_runs else 0)
        if reason:
            break
        plan = load_plan(cyc) or propose(n, params, load_dag_result(dag_path), layout)
        if plan is None:
            reason = "no actionable intervention left to test"
            break
        if plan.approved_by is None:
            plan = save_plan(cyc, _approve(plan, params, log, dag_path, layout))
        if plan.intervention == STOP:
            reason = ("approval timed out: on_timeout=stop" if plan.approved_by == "timeout"
                      else "stopped by the approver")
            break
        log.info("cycle %d: testing %s (%s)", n, plan.intervention, plan.why)
        stack, unstacked = stack_for(plan.intervention, layout, params)
        if unstacked and not cyc.config.is_file():
            log.warning("cycle %d: %s", n, unstacked)
        cfg = cycle_tasks.plan_config(cyc, params, plan.intervention, plan.seeds, plan.budget_s, stack)
        index = layout.run_index if params.reuse_runs else None
        reason = cyclelib.over_run_budget(layout, params, cyc, cfg, index)
        if reason:
            break
        runs = _run_seeds(cyc.n, cfg, cyc.config, cyc.experiment_dir, params, index, diags.offer)
        raw, analysis = cycle_tasks.decide(cyc, cfg, runs)
        log.info(decision_line(n, analysis))
        if cyclelib.needs_refutation(cyc, analysis):
            rep_cfg = rep_runs = None
            if cyclelib.replication_allowed(params, time.time() - t0, runs, 2 * len(cfg.seeds),
                                            cyclelib.runs_left(layout, params)):
                rep_cfg = cyclelib.replication_config(cyc, cfg)
                rep_runs = _run_seeds(cyc.n, rep_cfg, cyc.replication_config, cyc.replication_dir, params, index)
            analysis, _ = cycle_tasks.refute(cyc, analysis, rep_cfg, rep_runs)
            log.info(decision_line(n, analysis, stage="after refutation"))
        record = cyclelib.record_step(layout, cyc, raw, analysis, params.records_out)
        discovery.extract(cyc, roots, refresh=not cyc.interventions.is_file())
        dag_path = discovery.dag(cyc, dag_path, params.budget_mode)
        artifacts.publish_cycle(n, analysis, plan.why, record, cyclelib.experiment_rows(layout), dag_path,
                                cyclelib.load_refutation(cyc))
        n += 1

    diags.finish(log)
    final = report.write_final_report(layout, params, reason, assemble=params.assemble)
    log.info("loop stopped: %s; final report %s", reason, layout.final_report_md)
    return final


def _approve(plan: CyclePlan, params: LoopParams, log, dag_path: Path, layout: LoopLayout) -> CyclePlan:
    if params.auto_approve:
        return plan.model_copy(update={"approved_by": "auto"})
    log.info("cycle %d proposes %s (expected %s): waiting up to %.0f s for approval "
             "(UI Resume, or `causal-golf approve <flow-run-id>`); on timeout: %s",
             plan.cycle, plan.intervention, plan.expected_effect_bpb, params.approval_timeout_s, params.on_timeout)
    form = approval_form(proposal_markdown(plan, params, Path(dag_path).with_name("dag.png"),
                                           artifacts.dag_url(plan.cycle - 1),
                                           list(confirmed_stack(layout)) if params.stack_confirmed else None),
                         action="approve", intervention=plan.intervention, seeds=plan.seeds or params.seeds,
                         budget_s=plan.budget_s or params.budget_s)
    answer = wait_for_approval(params.approval_timeout_s, params.on_timeout, form=form)
    if answer.action == "stop":
        return plan.model_copy(update={"intervention": STOP, "approved_by": answer.by})
    update = {"approved_by": answer.by}
    update.update({k: v for k, v in (("seeds", answer.seeds), ("budget_s", answer.budget_s)) if v is not None})
    if answer.intervention and answer.intervention != plan.intervention:
        update.update(intervention=answer.intervention, source="approver", expected_effect_bpb=None,
                      why=f"chosen by the approver instead of {plan.intervention}")
    return plan.model_copy(update=update)


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
               on_result=None) -> list[RunResult]:
    """All seed runs of a config as parallel tasks; a crashed seed is retried, then kept as failed."""
    jobs = cyclelib.seed_jobs(cfg)
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
