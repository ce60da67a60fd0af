"""Two effect columns on the real records, the transfer model in the ranking, and --base."""
from __future__ import annotations

import pytest

from causal_core import catalog
from causal_core.cli import main
from causal_core.dag import estimate_dag
from causal_core.dag.next_intervention import base_conflict, rank
from causal_core.schemas import ExperimentOutcome, InterventionsFile, RecordEntry

SCALE = "cpu_small"


@pytest.fixture(scope="module")
def real(records_dir) -> InterventionsFile:
    from causal_core.records.pipeline import extract_records
    return extract_records([records_dir])


@pytest.fixture(scope="module")
def real_dag(real):
    return estimate_dag(real)


def _with(data: InterventionsFile, outcomes: list[tuple[str, str, float, float]]) -> InterventionsFile:
    """Add loop records: (intervention, decision, local effect, its se) at SCALE."""
    recs = [RecordEntry(record_id=f"loop/{n}", experiment=ExperimentOutcome(
        intervention=n, decision=d, effect_bpb=e, ci_low=e - 1.96 * se, ci_high=e + 1.96 * se, n_pairs=3,
        scale=SCALE, cycle=k + 1)) for k, (n, d, e, se) in enumerate(outcomes)]
    return InterventionsFile(records=[*data.records, *recs])


def test_real_records_plus_a_loop_experiment_give_both_columns(real, real_dag):
    assert real_dag.n_records == 45 and real_dag.local_scale is None      # no experiment: prior lambda
    dag = estimate_dag(_with(real, [("ema", "confirmed", -0.004, 0.001)]))
    assert dag.local_scale == f"mlx-cpu|{SCALE}|steps" and [t.interventions for t in dag.transfer] == [["ema"]]
    for e in dag.effects:
        assert e.group == catalog.get(e.intervention).group
        assert e.local_ci_low < e.local_effect_bpb < e.local_ci_high and e.lambda_low < e.lambda_high
        assert e.local_source == ("measured" if e.intervention == "ema" else "predicted")
    ema, before = dag.effect("ema"), real_dag.effect("ema")
    assert abs(ema.local_effect_bpb + 0.004) < 0.002              # the local column follows the measurement
    # the H100 column moves toward it only as far as one experiment pins lambda: not 1:1
    assert abs(ema.effect_bpb - before.effect_bpb) < abs(-0.004 - before.effect_bpb)


def test_next_intervention_changes_when_a_group_does_not_transfer(real):
    """On a base that already has the two big H100 wins, the top pick's group gets four other
    switches tested locally. When the group transfers (local = 2 x H100) the pick's predicted
    local effect grows with it; when it does not (local ~ 0, lambda ~ 0) the pick's expected gain
    falls to under half of that, it drops down the list and the new pick comes from another group.
    (Under transfer it need not stay first: a group with no local data yet has a wider local
    spread, so expected improvement explores it.)"""
    base = ["sliding_window_eval", "longer_train_seq"]
    before = estimate_dag(real, base=base)
    top = before.next_intervention.intervention
    group = catalog.get(top).group
    tested = [c.intervention for c in before.candidates if c.intervention != top
              and catalog.get(c.intervention).group == group][:4]
    assert len(tested) == 4
    h = {e.intervention: e.effect_bpb for e in before.effects}
    transfers = estimate_dag(_with(real, [(n, "null", 2 * h[n], 0.0003) for n in tested]), base=base)
    dead = estimate_dag(_with(real, [(n, "null", 0.0, 0.0003) for n in tested]), base=base)
    lam_t = next(g for g in transfers.transfer[0].groups if g.group == group)
    lam_d = next(g for g in dead.transfer[0].groups if g.group == group)
    # lambda: the H100 effects are barely known (|h| < its sd), so four measurements move it only
    # so far; the group's additive shift beta_g could take a common offset (transfer_model.py)
    assert lam_d.mean < 0.25 and lam_t.mean > 1.0 and lam_d.high < lam_t.high
    t_top = next(c for c in transfers.candidates if c.intervention == top)
    d_top = next(c for c in dead.candidates if c.intervention == top)
    assert t_top.local_effect_bpb < 1.3 * h[top] < 0 and abs(d_top.local_effect_bpb) < abs(h[top]) / 3
    assert catalog.get(dead.next_intervention.intervention).group != group
    assert d_top.expected_improvement_bpb < t_top.expected_improvement_bpb / 2
    assert [c.intervention for c in dead.candidates].index(top) > 3
    assert "H100 scale" in dead.next_intervention.reason and "local scale" in dead.next_intervention.reason


def test_a_scale_specific_harm_does_not_inflate_its_group(real):
    """The measured failure (docs/transfer.md): EMA over 61 CPU steps hurt by +0.53 bpb against
    -0.009 at H100. Multiplicative transfer alone explained it with lambda[optimizer_schedule]
    13.9, flipped EMA's H100 effect positive, and predicted weight_decay at -0.098 bpb locally,
    so the loop spent its next tests on that group's nulls. Now the harm is scale-specific
    (delta or beta), lambda stays ordinary, and no sibling is predicted a large local gain."""
    before = estimate_dag(real)
    dag = estimate_dag(_with(real, [("ema", "null", 0.53, 0.012)]))
    lam = next(g for g in dag.transfer[0].groups if g.group == "optimizer_schedule")
    assert lam.mean < 3.0
    ema, ema0 = dag.effect("ema"), before.effect("ema")
    assert ema.effect_bpb < ema0.effect_bpb + ema0.sd                # the H100 column barely moves
    assert abs(ema.local_effect_bpb - 0.53) < 0.03                   # the local column follows the measurement
    for c in dag.candidates:
        if catalog.get(c.intervention).group == "optimizer_schedule":
            assert c.local_effect_bpb > -0.03, c.reason


def test_a_group_that_hurts_locally_drops_down_the_list(real):
    """Three schedule changes each hurt a short local run badly (the bench_search --small
    pattern: ema +1.12, warmdown +0.69, lr_tuning +0.43): the group's shift beta_g learns it, an
    untested sibling is predicted to hurt too, and the pick comes from another group."""
    hurt = [("ema", 1.12), ("warmdown_schedule", 0.69), ("lr_tuning", 0.43)]
    dag = estimate_dag(_with(real, [(n, "null", e, 0.02) for n, e in hurt]))
    g = next(g for g in dag.transfer[0].groups if g.group == "optimizer_schedule")
    assert g.shift_mean > 0.1
    assert catalog.get(dag.next_intervention.intervention).group != "optimizer_schedule"
    sib = dag.effect("muon_variant")
    assert sib.local_source == "predicted" and sib.local_effect_bpb > 0.05
    assert "shift" in dag.next_intervention.reason


def test_base_excludes_itself_and_incompatible_additions(real_dag):
    eff = {e.intervention: e for e in real_dag.effects}
    base = ["ema", "low_bit_quant", "more_layers"]
    names = [c.intervention for c in rank(eff, real_dag.edges, [], base=base)]
    assert not set(base) & set(names)
    assert "swa" not in names and "mixed_precision_quant" not in names     # compat.EXCLUSIVE rules
    assert "ema_vs_swa" in base_conflict("swa", base)
    assert "swa" in [c.intervention for c in rank(eff, real_dag.edges, [])]
    wider = next(c for c in rank(eff, real_dag.edges, [], base=base) if c.intervention == "wider_mlp")
    assert "diminishing returns" in wider.reason                          # shares model_capacity with more_layers


def test_dag_cli_base(tmp_path, real, capsys):
    (tmp_path / "i.json").write_text(real.model_dump_json())
    assert main(["dag", "--interventions", str(tmp_path / "i.json"), "--out", str(tmp_path / "d"),
                 "--base", "ema,sliding_window_eval"]) == 0
    out = capsys.readouterr().out
    assert "what to add to ema, sliding_window_eval" in out and "swa:" not in out
    assert main(["dag", "--interventions", str(tmp_path / "i.json"), "--out", str(tmp_path / "d"),
                 "--base", "ema,bogus"]) == 2
    assert "unknown intervention(s) bogus" in capsys.readouterr().err


def test_the_loop_starts_from_the_users_base(tmp_path):
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.params import LoopParams, validate_params
    from causal_core.loop.proposal import propose
    from causal_core.loop.stack import stack_for

    with pytest.raises(ValueError, match="unknown intervention"):
        validate_params({"base": ["bogus"]})
    params = LoopParams(base=["ema", "gptq"])      # gptq: not switchable here, shapes the ranking only
    layout = LoopLayout.at(tmp_path)
    plan = propose(1, params, estimate_dag(InterventionsFile(), prior_only_ok=True), layout)
    assert plan.intervention not in ("ema", "swa", "gptq") and "on top of the base ema" in plan.why
    stack, why = stack_for(plan.intervention, layout, params)
    assert stack == {"ema": dict(catalog.get("ema").treatment)} and why is None


def test_confirmed_effects_state_their_predicted_h100_effect(tmp_path):
    """The cycle artifact and the final report say, per confirmed effect, the predicted H100
    effect with its interval, labelled a prediction."""
    from causal_core.atomic import atomic_write_json
    from causal_core.dag.h100_prediction import predict
    from causal_core.experiments.stats import Analysis, write_stats
    from causal_core.loop.cycle import cycle_markdown
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.params import LoopParams
    from causal_core.loop.report import write_final_report

    layout = LoopLayout.at(tmp_path)
    dag = estimate_dag(InterventionsFile(), prior_only_ok=True)
    cyc = layout.cycle(1)
    atomic_write_json(cyc.dag, dag.model_dump(mode="json"))
    a = Analysis(intervention="wider_mlp", n_pairs=3, decision="confirmed", effect_bpb=-0.02, ci_t=(-0.03, -0.01),
                 control_bpb=[1.5, 1.5, 1.5], treatment_bpb=[1.48, 1.48, 1.48], seeds=[1, 2, 3])
    write_stats(a, cyc.stats)
    p = predict(dag, "wider_mlp", -0.02, (-0.03, -0.01))
    assert p.low < p.mean < p.high and p.mean < 0
    md = cycle_markdown(1, a, "why", None, dag_path=cyc.dag)
    assert "predicted H100 effect (a prediction" in md and f"{p.mean:+.4f}" in md and "interval" in md
    assert "predicted H100" not in cycle_markdown(1, a.model_copy(update={"decision": "null"}), "why", None, dag_path=cyc.dag)
    write_final_report(layout, LoopParams(records=[], results_dir=str(tmp_path)), "test", assemble=False)
    assert "cycle 1 `wider_mlp`: predicted H100 effect (a prediction" in layout.final_report_md.read_text()
