"""Screening and multi-arm cycles in the real cycle-loop flow (real Prefect API, real tiny trainer runs)."""
from __future__ import annotations

import json

import pytest

from tests.loop_helpers import loop_params

pytestmark = pytest.mark.slow


def test_screening_cycle_then_the_rule_picks_the_next_kind(prefect_api, tiny_data_dir, tmp_path):
    from causal_core.experiments.screening import ScreenAnalysis, ScreenDesign
    from causal_core.loop.run_budget import runs_trained
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.state import load_plan
    from flows.cycle_loop import cycle_loop

    params = loop_params(tmp_path, tiny_data_dir, first_intervention=None, screen_k=2, max_cycles=4,
                         stop_on_confirmed=False, max_runs=10, replicate=False)
    report = cycle_loop(**params)
    layout = LoopLayout.at(tmp_path / "results")
    cyc = layout.cycle(1)
    plan = load_plan(cyc)
    assert plan.kind == "screen" and len(plan.arms) == 2 and plan.seeds == [501]      # screens use their own seeds
    design = ScreenDesign.model_validate_json(cyc.design.read_text())
    assert len(design.matrix) == 4 and "full factorial" in design.kind                   # 2^2: the 2FI is resolved
    a = ScreenAnalysis.model_validate_json(cyc.screen_analysis.read_text())
    assert a.n_runs == 4 and {m.term for m in a.main} == set(plan.arms)
    assert sorted(a.advance + a.set_aside) == sorted(plan.arms)
    # Records: one per screened switch, multi-intervention with the randomized design, read back by extraction.
    paths = json.loads(cyc.record.read_text())["paths"]
    assert len(paths) == 2
    sub = json.loads((tmp_path / "records" / "track_causal_golf" / paths[0].split("/")[-1] / "submission.json").read_text())
    assert sub["causal_golf_screening"]["assignment"].startswith("randomized") and len(sub["causal_golf_screening"]["runs"]) == 4
    extracted = json.loads(cyc.interventions.read_text())
    screened = [r for r in extracted["records"] if r.get("experiment") and r["experiment"]["cycle"] == 1]
    assert {r["experiment"]["intervention"] for r in screened} == set(plan.arms)
    assert (cyc.dag).is_file()
    # The rule: a switch the screen advanced is confirmed next (multi-arm, fresh seeds); else no multi-arm cycle.
    nxt = load_plan(layout.cycle(2))
    if nxt is not None:
        if a.advance:
            assert nxt.kind == "multiarm" and set(nxt.arms) <= set(a.advance) and 501 not in nxt.seeds
        else:
            assert nxt.kind != "multiarm"
    assert runs_trained(layout) <= 10 and "run budget" in report["stop_reason"]
    log = json.loads(layout.experiment_log.read_text())
    assert sum(1 for e in log if e.get("experiment_id", "").startswith(plan.arms[0])) >= 2       # one entry per pair


def test_multiarm_cycle_shares_the_control_holds_holm_at_the_online_level_and_resumes(prefect_api, tiny_data_dir, tmp_path):
    from causal_core.loop import online_fdr
    from causal_core.loop.history import experiment_rows
    from causal_core.loop.run_budget import runs_trained
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.state import CyclePlan, save_plan
    from causal_core.experiments.results import RunResult
    from causal_core.experiments.stats import load_stats, online_level
    from flows.cycle_loop import cycle_loop

    layout = LoopLayout.at(tmp_path / "results")
    # An approved multi-arm plan on disk (as after the approval pause): the flow runs what was approved.
    save_plan(layout.cycle(1), CyclePlan(cycle=1, intervention="ema", kind="multiarm", arms=["ema", "wider_mlp"],
                                         expected={"ema": -0.01, "wider_mlp": -0.02}, seeds=[1, 2], why="test",
                                         approved_by="auto"))
    params = loop_params(tmp_path, tiny_data_dir, first_intervention=None, max_cycles=1, stop_on_confirmed=False)
    cycle_loop(**params)
    cyc = layout.cycle(1)
    rows = experiment_rows(layout)
    assert [r.intervention for r in rows] == ["ema", "wider_mlp"] and all(r.family_size == 2 for r in rows)
    assert online_fdr.load(layout.online_ledger).horizon == 1                  # max_cycles=1: one test expected
    gate = 2 * online_level(1, [], horizon=1)
    assert all(r.alpha == pytest.approx(gate, abs=1e-4) for r in rows)              # alpha_t shown per decision
    assert runs_trained(layout) == 6                                                    # 2 seeds x (2 arms + 1 control)
    wider = RunResult.load(next((cyc.arm("wider_mlp") / "experiment" / "runs").glob("*control-seed1.result.json")))
    assert wider.reused                                                                  # the shared control, served
    led = online_fdr.load(layout.online_ledger)
    assert [(t.cycle, t.index, t.rejected is not None) for t in led.tests] == [(1, 1, True)]
    assert len(json.loads(cyc.record.read_text())["paths"]) == 2
    # Resume: a loop killed after the runs (arm stats and the record gone) retrains nothing and decides the same.
    before = {r.intervention: r.decision for r in rows}
    (cyc.arm("wider_mlp") / "experiment" / "stats.json").unlink()
    cyc.record.unlink()
    cycle_loop(**params)
    assert runs_trained(layout) == 6 and {r.intervention: r.decision for r in experiment_rows(layout)} == before
    assert load_stats(cyc.arm("ema") / "experiment" / "stats.json").alpha == pytest.approx(gate, abs=1e-6)
    assert len(online_fdr.load(layout.online_ledger).tests) == 1


def test_screening_and_multiarm_cycles_resume_after_a_real_kill(prefect_api, tiny_data_dir, tmp_path):
    """SIGKILL the loop process mid-confirmation (a multi-arm cycle), then mid-screen; a restarted
    loop keeps every finished run, the plan, the design and the online ledger as they were, and
    finishes both cycles."""
    import os
    import signal

    from causal_core.loop import online_fdr
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.state import CyclePlan, load_plan, save_plan
    from flows.cycle_loop import cycle_loop
    from tests.loop_helpers import start_loop, wait_for

    results = tmp_path / "results"
    layout = LoopLayout.at(results)
    # Cycle 1: an approved 2-arm confirmation (as after the pause); cycle 2: a screen (nothing awaits confirmation).
    save_plan(layout.cycle(1), CyclePlan(cycle=1, intervention="ema", kind="multiarm", arms=["ema", "wider_mlp"],
                                         expected={"ema": -0.01, "wider_mlp": -0.02}, seeds=[1, 2], why="test",
                                         approved_by="auto"))
    params = loop_params(tmp_path, tiny_data_dir, first_intervention=None, screen_k=2, max_cycles=2,
                         stop_on_confirmed=False, replicate=False, screen_min_ei=0.0)

    def finished_runs(pattern: str = "cycle_*/**/*.result.json") -> dict:
        return {str(p): json.loads(p.read_text())["started_at"] for p in results.glob(pattern)
                if json.loads(p.read_text())["status"] == "ok"}

    def run_and_kill(pred, what: str, n: int) -> dict:
        proc = start_loop(params, prefect_api.env, tmp_path / f"loop{n}.log")
        try:
            wait_for(pred, 300, what)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)       # a real crash: no clean-up
            proc.wait()
        return finished_runs()

    killed1 = run_and_kill(lambda: finished_runs("cycle_1/arms/*/**/*.result.json"), "a finished multi-arm run", 1)
    assert not (layout.cycle(1).record.is_file() and layout.cycle(2).dir.is_dir())
    killed2 = run_and_kill(lambda: finished_runs("cycle_2/screen/**/*.result.json"), "a finished screening run", 2)
    design = layout.cycle(2).design.read_text()
    assert not layout.cycle(2).screen_analysis.is_file()

    report = cycle_loop(**params)     # resume in this process to the end

    after = finished_runs()
    for before in (killed1, killed2):
        assert all(after[k] == v for k, v in before.items()), "a finished run was re-run"
    assert report["cycles"] == 2
    assert load_plan(layout.cycle(1)).kind == "multiarm" and load_plan(layout.cycle(2)).kind == "screen"
    assert layout.cycle(2).design.read_text() == design                 # the design it planned, not a new one
    assert layout.cycle(2).screen_analysis.is_file() and layout.cycle(1).record.is_file()
    tests = online_fdr.load(layout.online_ledger).tests
    assert [t.cycle for t in tests] == [1]                               # one test for the multi-arm cycle; the screen spends none
    log = json.loads(layout.experiment_log.read_text())
    assert len({e["entry_id"] for e in log}) == len(log)                 # no duplicated decision
