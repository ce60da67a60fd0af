"""The loop's layout, history and budgets: cycles in numeric order, typed history rows, the
final report in cycle order, the run budget and every stop reason in stop_rules."""
from __future__ import annotations

import json

from causal_core.atomic import atomic_write_json
from causal_core.experiments.stats import Analysis, write_stats
from causal_core.loop import stop_rules
from causal_core.loop.history import ExperimentRow, experiment_rows
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.report import write_final_report
from causal_core.loop.run_budget import replication_allowed


def _finished(layout: LoopLayout, n: int, name: str, decision: str = "null") -> None:
    cyc = layout.cycle(n)
    write_stats(Analysis(intervention=name, n_pairs=3, decision=decision, effect_bpb=-0.001 * n,
                         control_bpb=[1.0, 1.2], treatment_bpb=[0.9, 1.1], ci_t=(-0.02, 0.01), p_adjusted=0.3),
                cyc.stats)
    atomic_write_json(cyc.record, {"path": f"records/{name}"})
    cyc.dag_dir.mkdir(parents=True, exist_ok=True)
    cyc.dag.write_text("{}")


def test_cycles_sort_by_number_not_by_name(tmp_path):
    layout = LoopLayout.at(tmp_path)
    for n in (10, 2, 1):
        _finished(layout, n, f"iv{n}")
    layout.cycle(0).dag_dir.mkdir(parents=True)
    layout.cycle(11).dir.mkdir()                      # started, no decision yet
    (tmp_path / "cycle_x").mkdir()                    # not a cycle folder
    assert [c.n for c in layout.cycles()] == [0, 1, 2, 10, 11]
    assert [c.n for c in layout.finished_cycles()] == [1, 2, 10]


def test_history_rows_are_typed_and_in_cycle_order(tmp_path):
    layout = LoopLayout.at(tmp_path)
    for n in (10, 2):
        _finished(layout, n, f"iv{n}", "suggestive")
    rows = experiment_rows(layout)
    assert all(isinstance(r, ExperimentRow) for r in rows)
    assert [(r.cycle, r.intervention, r.decision) for r in rows] == [(2, "iv2", "suggestive"), (10, "iv10", "suggestive")]
    assert rows[0].control_bpb == 1.1 and rows[0].treatment_bpb == 1.0 and rows[0].effect_bpb == -0.002
    assert (rows[0].ci_low, rows[0].ci_high, rows[0].p, rows[0].n_pairs) == (-0.02, 0.01, 0.3, 3)


def test_the_final_report_lists_cycles_in_cycle_order(tmp_path):
    layout = LoopLayout.at(tmp_path)
    for n in (10, 2, 1):
        _finished(layout, n, f"iv{n}", "confirmed" if n == 10 else "null")
    report = write_final_report(layout, LoopParams(results_dir=str(tmp_path)), "3 nulls in a row", assemble=False)
    assert [e["cycle"] for e in report["experiments"]] == [1, 2, 10]
    assert report["records_written"] == ["records/iv1", "records/iv2", "records/iv10"]
    assert report["confirmed"] == ["iv10"]
    assert report["dag_after"].endswith("cycle_10/dag/dag.json")
    assert json.loads(layout.final_report_json.read_text())["experiments"][2]["intervention"] == "iv10"
    md = layout.final_report_md.read_text()
    assert md.index("| 2 | iv2 |") < md.index("| 10 | iv10 |")


def test_stop_reasons_found_while_planning_live_in_stop_rules():
    assert stop_rules.approver_stop("timeout") == "approval timed out: on_timeout=stop"
    assert stop_rules.approver_stop("alice") == stop_rules.stop_reason([], 0, LoopParams(), human_stop=True)
    assert stop_rules.cycle_over_run_budget(3, need=4, left=3, max_runs=10) == \
        "run budget: cycle 3 would train 4 runs, 3 of 10 left"
    assert stop_rules.cycle_over_run_budget(3, need=3, left=3, max_runs=10) is None


def test_replication_needs_room_in_both_budgets():
    from causal_core.experiments.results import RunResult

    runs = [RunResult(run_id="r", condition="control", seed=1, status="ok", val_bpb=1.0, stdout_path="o",
                      stderr_path="e", elapsed_s=100.0)]
    p = LoopParams(max_parallel=2, wall_clock_gate_s=1000)
    assert replication_allowed(p, 700, runs, 4)                 # 2 waves of 100 s fit before 1000 s
    assert not replication_allowed(p, 850, runs, 4)             # they do not
    assert not replication_allowed(p, 0, runs, 4, runs_left=3)  # the run budget has 3 left
    assert not replication_allowed(LoopParams(replicate=False), 0, runs, 4)
