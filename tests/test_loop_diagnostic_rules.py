"""Diagnostics that change what the loop does (loop/diagnostic_rules.py), on synthetic diagnostic files."""
from __future__ import annotations

import json

from causal_core.atomic import atomic_write_json
from causal_core.loop import diagnostic_rules as rules
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams


def _setup(tmp_path):
    from causal_core.dag import estimate_dag
    from causal_core.schemas import InterventionsFile
    layout = LoopLayout.at(tmp_path)
    return layout, LoopParams(seeds=[1, 2, 3]), estimate_dag(InterventionsFile(), prior_only_ok=True)


def _log_effect(layout, effect: float) -> None:
    runs = [{"seed": s, "condition": c, "status": "ok", "val_bpb": 2.0 + (effect if c == "treatment" else 0.0)}
            for s in (1, 2, 3) for c in ("control", "treatment")]
    atomic_write_json(layout.experiment_log, [{"entry_id": "e1", "experiment_id": "x", "runs": runs}])


def test_a_quant_gap_above_the_recomputed_threshold_favours_gap_lowering_interventions(tmp_path):
    from causal_core.loop.proposal import propose
    layout, params, dag = _setup(tmp_path)
    first = dag.candidates[0].intervention
    assert first not in rules.GAP_LOWERING and any(c.intervention in rules.GAP_LOWERING for c in dag.candidates)
    # cycle 0 ran before any experiment: no threshold yet, the proposal is the DAG's
    atomic_write_json(layout.cycle(0).diagnostics_dir / "quant_gap.json",
                      {"gap_bpb": 0.05, "threshold_bpb": None, "largest_effect_bpb": None, "gap_exceeds_threshold": None})
    assert propose(2, params, dag, layout).intervention == first
    # the first cycle's effect exists: threshold 3 x 0.01 = 0.03 < gap 0.05
    _log_effect(layout, -0.01)
    plan = propose(2, params, dag, layout)
    assert plan.intervention in rules.GAP_LOWERING and "quant gap +0.0500 bpb exceeds" in plan.why
    rec = json.loads((layout.cycle(0).diagnostics_dir / "quant_gap_threshold.json").read_text())
    assert abs(rec["threshold_bpb"] - 0.03) < 1e-9 and rec["exceeds"] and "recomputed" in rec["basis"]
    # a larger effect raises the threshold above the gap: back to the DAG's pick
    _log_effect(layout, -0.05)
    assert propose(2, params, dag, layout).intervention == first
    assert rules.quant_gap_verdict(layout)["exceeds"] is False


def test_mostly_multi_variable_evidence_prefers_the_randomized_test(tmp_path):
    from causal_core import catalog
    from causal_core.dag.models import EdgeIdentifiability, IdentifiabilityReport
    from causal_core.loop.proposal import propose
    layout, params, dag = _setup(tmp_path)
    first = dag.candidates[0]

    def ident(rec: str) -> None:
        edge = EdgeIdentifiability(intervention=first.intervention, single_variable_records=0, multi_variable_records=9,
                                   experiments=0, testable=False, recommendation=rec, why="")
        atomic_write_json(layout.cycle(0).identifiability, IdentifiabilityReport(
            n_records=12, single_variable_records=2, multi_variable_records=9, baseline_records=1,
            identifiability_score=0.1, edges=[edge], confounded_pairs=[], recommendation="proceed", reason="",
            unexplored_combinations=[]).model_dump())

    ident("proceed")
    plan = propose(2, params, dag, layout)
    assert "identifiability" not in plan.why and plan.expected_effect_bpb == first.expected_effect_bpb
    ident("skip")
    plan = propose(2, params, dag, layout)
    assert plan.intervention == first.intervention
    assert "observational estimate is skipped" in plan.why and "75% of all records multi-variable" in plan.why
    assert plan.expected_effect_bpb == catalog.get(first.intervention).prior_effect_bpb
    # the final report says what the diagnostics changed
    from causal_core.loop.report_diagnostics import diagnostics_markdown, diagnostics_summary
    from causal_core.loop.state import save_plan
    save_plan(layout.cycle(2), plan)
    s = diagnostics_summary(layout, [], None)
    assert s["changed"] and s["changed"][0].startswith(f"cycle 2 ({first.intervention}): identifiability:")
    assert "What they changed: cycle 2" in "\n".join(diagnostics_markdown(s))


def test_influence_is_a_documented_null_below_cv_0_1_else_a_ranking(tmp_path):
    layout = LoopLayout.at(tmp_path)
    p = layout.cycle(0).diagnostics_dir / "influence.json"
    atomic_write_json(p, {"cv": 0.05, "chunks_scored": 8, "scores_sorted": [{"chunk": "a", "score": 1.0}]})
    v = rules.influence_verdict(layout)
    assert v["null"] and "documented null: influence cannot rank training data here" in v["finding"]
    atomic_write_json(p, {"cv": 0.8, "chunks_scored": 2, "scores_sorted": [{"chunk": "a", "score": 2.0, "loss": 1},
                                                                         {"chunk": "b", "score": -1.0}]})
    v = rules.influence_verdict(layout)
    assert not v["null"] and [r["chunk"] for r in v["ranking"]] == ["a", "b"] and "artifact" in v["finding"]


def _tl(val_bpb: float, freq: dict, pos: dict) -> dict:
    cat = lambda d: {g: {"bpb_contribution": v, "mean_loss": 10 * v} for g, v in d.items()}
    return {"val_bpb": val_bpb, "categories": {"frequency": cat(freq), "position": cat(pos)}}


def test_token_loss_says_where_the_improvement_came_from():
    base = _tl(1.00, {"top": 0.5, "mid": 0.3, "tail": 0.2}, {"boundary": 0.1, "mid_sequence": 0.9})
    conf = _tl(0.95, {"top": 0.49, "mid": 0.29, "tail": 0.17}, {"boundary": 0.06, "mid_sequence": 0.89})
    c = rules.token_loss_comparison(base, conf)
    assert abs(c["delta_bpb"] + 0.05) < 1e-12
    f, p = c["partitions"]["frequency"], c["partitions"]["position"]
    assert f["improvement_from"] == "tail" and abs(f["share_of_improvement"] - 0.6) < 1e-9
    assert p["improvement_from"] == "boundary" and abs(p["sum_delta"] + 0.05) < 1e-9
