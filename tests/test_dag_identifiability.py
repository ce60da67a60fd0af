"""identifiability on hand-built records with known answers."""
from __future__ import annotations

from causal_core.dag import identifiability
from causal_core.schemas import ExperimentOutcome, InterventionMention as M, InterventionsFile, RecordEntry


def _rec(i, names, delta=None, y=1.2):
    return RecordEntry(record_id=f"r{i}", val_bpb=y, interventions=[M(name=n) for n in names],
                       delta_interventions=delta or [])


def test_counts_pairs_and_skip_rule():
    recs = [_rec(0, [])]
    recs += [_rec(i, ["ema", "swa", "qat"]) for i in range(1, 5)]        # always together, multi-variable
    recs += [_rec(5, ["ema", "swa", "qat", "more_layers"], delta=["more_layers"])]   # single via delta
    rep = identifiability(InterventionsFile(records=recs))
    assert (rep.single_variable_records, rep.multi_variable_records, rep.baseline_records) == (1, 4, 1)
    assert ["ema", "swa"] in rep.confounded_pairs and ["swa", "qat"] in rep.confounded_pairs
    edge = {e.intervention: e for e in rep.edges}
    assert edge["more_layers"].recommendation == "proceed" and edge["more_layers"].testable
    assert edge["ema"].recommendation == "skip" and not edge["ema"].testable   # aliased with swa/qat
    assert all(["ema", "swa"] != c.interventions for c in rep.unexplored_combinations)   # seen together
    assert rep.unexplored_combinations == sorted(rep.unexplored_combinations, key=lambda c: -c.score)


def test_experiment_makes_an_edge_testable():
    recs = [_rec(i, ["ema", "swa"]) for i in range(4)]
    recs.append(RecordEntry(record_id="loop", experiment=ExperimentOutcome(
        intervention="ema", decision="null", effect_bpb=0.0, ci_low=-0.001, ci_high=0.001)))
    rep = identifiability(InterventionsFile(records=recs))
    edge = {e.intervention: e for e in rep.edges}
    assert edge["ema"].testable and edge["ema"].recommendation == "proceed" and edge["ema"].experiments == 1
    assert edge["swa"].recommendation == "skip"
