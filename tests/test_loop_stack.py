"""Stacking: a cycle tests its intervention on top of the interventions confirmed before it."""
from __future__ import annotations

import hashlib
import json

import pytest

from causal_core.experiments.config import ExperimentConfig, from_catalog
from causal_core.experiments.stats import Analysis, write_stats
from causal_core.loop.cycle import plan_config
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.loop.stack import confirmed_stack, conflict, stack_for
from causal_core.trainer import TRAINER, base_env

BASE = {"PRESET": "cpu_small"}


def _cycle(layout: LoopLayout, params: LoopParams, n: int, name: str, decision: str, effect: float,
           stack: dict | None = None) -> ExperimentConfig:
    """A finished cycle as the loop leaves it: config.json and the final stats.json."""
    cfg = plan_config(layout.cycle(n), params, name, stack=stack)
    write_stats(Analysis(intervention=name, n_pairs=3, decision=decision, effect_bpb=effect), layout.cycle(n).stats)
    return cfg


def test_the_stack_holds_in_both_conditions_and_cannot_be_undone():
    cfg = from_catalog("ema", base_env=BASE).model_copy(update={"stack": {"more_layers": {"NUM_LAYERS": 5}}})
    cfg = ExperimentConfig.model_validate(cfg.model_dump())
    assert cfg.condition_env("control")["NUM_LAYERS"] == cfg.condition_env("treatment")["NUM_LAYERS"] == "5"
    assert cfg.condition_env("treatment")["EMA_DECAY"] == "0.99"
    # An unstacked config keeps the id it always had; a stack changes it.
    plain = from_catalog("ema", base_env=BASE)
    payload = plain.model_dump(exclude={"max_parallel", "cycle", "timeout_grace_s", "stack", "profile", "budget_mode",
                                        "time_budget_s", "arm_steps", "arm_step_ms", "design_row"})
    assert plain.experiment_id == "ema-" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
    assert plain.experiment_id != cfg.experiment_id
    with pytest.raises(ValueError, match="undoing the stacked more_layers"):
        from_catalog("more_layers", base_env=BASE, stack={"more_layers": {"NUM_LAYERS": 5}})
    with pytest.raises(ValueError, match="stack: unknown intervention"):
        from_catalog("ema", base_env=BASE, stack={"bogus": {"X": 1}})


def test_conflicts_name_the_rule():
    assert conflict("more_layers", {"more_layers": {"NUM_LAYERS": 5}}, BASE) == "more_layers is already in the stack"
    assert "ema_vs_swa" in conflict("swa", {"ema": {"EMA_DECAY": 0.99}}, BASE)
    assert "low_bit_vs_mixed_quant" in conflict("mixed_precision_quant", {"low_bit_quant": {"QUANT_BITS": 6}}, BASE)
    # qat sets QUANT_BITS=6 too: stacking low_bit_quant after qat would change nothing.
    assert "already sets everything" in conflict("low_bit_quant", {"qat": {"QAT": 1, "QAT_START_FRAC": 0.5,
                                                                           "QUANT_BITS": 6}}, BASE)
    assert conflict("qat", {"low_bit_quant": {"QUANT_BITS": 6}}, BASE) is None
    assert conflict("wider_mlp", {"more_layers": {"NUM_LAYERS": 5}}, BASE) is None


def test_cycles_stack_what_was_confirmed_and_proposals_skip_conflicts(tmp_path):
    from causal_core.dag import estimate_dag
    from causal_core.loop.proposal import propose
    from causal_core.schemas import InterventionsFile

    layout = LoopLayout.at(tmp_path / "results")
    # Stacking, not budgets: a step budget plans without calibrating (there is no data here).
    params = LoopParams(results_dir=str(layout.root), data_path=str(tmp_path / "data"), budget_mode="steps")
    _cycle(layout, params, 1, "more_layers", "confirmed", -0.05)
    _cycle(layout, params, 2, "sliding_window_eval", "null", 0.001, stack={"more_layers": {"NUM_LAYERS": 5}})
    _cycle(layout, params, 3, "ema", "confirmed", -0.01, stack={"more_layers": {"NUM_LAYERS": 5}})
    _cycle(layout, params, 4, "wider_mlp", "suggestive", -0.01, stack=confirmed_stack(layout))
    assert confirmed_stack(layout) == {"more_layers": {"NUM_LAYERS": 5}, "ema": {"EMA_DECAY": 0.99}}

    stack, why = stack_for("depth_recurrence", layout, params)
    cfg = plan_config(layout.cycle(5), params, "depth_recurrence", stack=stack)
    assert why is None and list(cfg.stack) == ["more_layers", "ema"]
    control, treatment = cfg.condition_env("control"), cfg.condition_env("treatment")
    assert control["NUM_LAYERS"] == treatment["NUM_LAYERS"] == "5" and control["EMA_DECAY"] == "0.99"
    assert {k for k in treatment if treatment.get(k) != control.get(k)} == {"NUM_LOOPS"}
    # The previous confirmed treatment arm (cycle 3: preset + more_layers + ema) is this control, as the
    # trainer resolves it (the control spells NUM_LOOPS=1, the preset's value): its runs are reused.
    from causal_core.submission.compat import effective_env
    c3 = ExperimentConfig.load(layout.cycle(3).config)
    assert effective_env(c3.condition_env("treatment"), TRAINER) == effective_env(control, TRAINER)

    # An approver's override that cannot go on top (swa with ema confirmed) runs unstacked, with the reason.
    stack, why = stack_for("swa", layout, params)
    assert stack == {} and "ema_vs_swa" in why
    assert stack_for("swa", layout, params.model_copy(update={"stack_confirmed": False})) == ({}, None)

    # The proposal never picks a candidate that conflicts with the stack, and says what it stacks on.
    dag = estimate_dag(InterventionsFile(), prior_only_ok=True)
    plan = propose(5, params, dag, layout)
    assert plan.intervention not in ("swa", "more_layers", "ema")
    assert conflict(plan.intervention, confirmed_stack(layout), base_env(params.data_path, params.trainer_env)) is None
    assert "on top of the confirmed more_layers, ema" in plan.why
