"""DAG step on synthetic records: skeleton, encoding, effects, tags, next_intervention, diff."""
from __future__ import annotations

from typing import get_args

import networkx as nx
import numpy as np
import pytest

from causal_core.catalog import CATALOG, NAMES, actionable
from causal_core.dag import estimate_dag, skeleton
from causal_core.dag.encode import encode
from causal_core.dag.models import Tag
from causal_core.dag.synthetic import generate
from causal_core.dag.tags import loop_status
from causal_core.schemas import ExperimentOutcome, InterventionsFile, RecordEntry


@pytest.fixture(scope="module")
def synth():
    return generate(45, seed=3)


@pytest.fixture(scope="module")
def dag(synth):
    return estimate_dag(synth[0])


def test_skeleton_is_a_dag_with_reasons():
    g = nx.DiGraph([(s, t) for s, t, _ in skeleton.EDGES])
    assert nx.is_directed_acyclic_graph(g)
    assert all(r.strip() for _, _, r in skeleton.EDGES)
    assert not any(s == skeleton.OUTCOME for s, _, _ in skeleton.EDGES)   # val_bpb has no children
    assert set(g) <= set(skeleton.nodes())
    for n in NAMES:   # every intervention but the compressor reaches val_bpb
        assert n == "better_compression" or nx.has_path(g, n, skeleton.OUTCOME), n


def test_catalog_priors_filled_and_parents_match_skeleton():
    for name, e in CATALOG.items():
        assert e.prior_source, name
        assert e.prior_sd_bpb > 0, name
        assert sorted(e.parents) == sorted(skeleton.adoption_parents(name)), name


def test_encoding_presence_and_attributes():
    from causal_core.schemas import InterventionMention as M
    data = InterventionsFile(records=[
        RecordEntry(record_id="a", val_bpb=1.2, interventions=[M(name="more_layers", attributes={"layers": 11})]),
        RecordEntry(record_id="b", val_bpb=float("nan")),
        RecordEntry(record_id="c", val_bpb=1.1, interventions=[M(name="ema")], delta_interventions=["ema"]),
    ])
    enc = encode(data)
    assert enc.n == 2 and enc.record_ids == ["a", "c"]
    assert enc.column("more_layers").tolist() == [1, 0]
    assert enc.attributes["more_layers.layers"][0] == 11 and np.isnan(enc.attributes["more_layers.layers"][1])
    assert any("b:" in w for w in enc.warnings)


def test_dag_schema_tags_and_effects(dag, synth):
    assert {e.tag for e in dag.edges} <= set(get_args(Tag))
    assert len(dag.edges) == len(skeleton.EDGES)
    assert {e.intervention for e in dag.effects} == set(NAMES)
    for e in dag.effects:
        assert e.ci_low < e.effect_bpb < e.ci_high
    # 45 synthetic records: FCI runs, and its evidence reaches the tags (none is left expert_imposed).
    assert dag.fci.ran and dag.fci.fallback is None
    assert "expert_imposed" not in {e.tag for e in dag.edges}
    assert any(e.tag in ("data_confirmed", "data_contradicted") for e in dag.edges)


def test_too_few_records_keep_the_expert_skeleton_and_say_why():
    few = estimate_dag(generate(4, seed=3)[0], prior_only_ok=True)
    assert not few.fci.ran and "too few to test" in few.fci.fallback
    assert {e.tag for e in few.edges} == {"expert_imposed"}


def test_next_intervention_actionable_and_ranked(dag):
    nxt = dag.next_intervention
    assert nxt is not None and nxt.intervention in {e.name for e in actionable()}
    assert nxt.reason
    ei = [c.expected_improvement_bpb for c in dag.candidates]
    assert ei == sorted(ei, reverse=True) and dag.candidates[0] == nxt


def _with_experiment(data, name, decision, effect, lo, hi):
    rec = RecordEntry(record_id=f"loop/{name}/{decision}", experiment=ExperimentOutcome(
        intervention=name, decision=decision, effect_bpb=effect, ci_low=lo, ci_high=hi, n_pairs=3))
    return InterventionsFile(records=[*data.records, rec])


def test_loop_experiments_settle_and_enter_through_lambda(synth, dag):
    """A local null does not enter 1:1: with one experiment lambda_g is barely known, so the
    H100 column stays near its observational value while the local column follows the measurement."""
    data = synth[0]
    first = dag.next_intervention.intervention
    d2 = estimate_dag(_with_experiment(data, first, "null", 0.0002, -0.0005, 0.0009))
    eff, before = d2.effect(first), dag.effect(first)
    assert eff.source == "experiment+observational" and eff.local_source == "measured"
    assert abs(eff.local_effect_bpb - 0.0002) < 0.0005
    assert abs(eff.effect_bpb - before.effect_bpb) < abs(before.effect_bpb - 0.0002) / 2
    assert d2.local_scale == "mlx-cpu|unknown-scale|steps" and d2.transfer[0].interventions == [first]
    assert d2.next_intervention.intervention != first            # refuted: never proposed again
    assert all(c.intervention != first for c in d2.candidates)
    assert any(e.source == first and e.tag == "data_contradicted" for e in d2.edges)
    d3 = estimate_dag(_with_experiment(data, "ema", "confirmed", -0.004, -0.006, -0.002))
    assert d3.edge("ema", skeleton.OUTCOME).tag == "data_confirmed"
    assert all(c.intervention != "ema" for c in d3.candidates)


def test_loop_status_definition():
    ex = lambda n, d, e: ExperimentOutcome(intervention=n, decision=d, effect_bpb=e)   # noqa: E731
    st = loop_status([ex("a", "null", 0.0), ex("b", "confirmed", -0.01), ex("c", "confirmed", 0.01),
                      ex("d", "suggestive", -0.01), ex("e", "failed", None), ex("a", "confirmed", -0.02)])
    assert st == {"a": "confirmed", "b": "confirmed", "c": "refuted"}


def test_previous_dag_diff_and_stability(synth, dag):
    again = estimate_dag(synth[0], previous=dag)
    assert again.cycle == dag.cycle + 1
    assert again.diff is not None and not again.diff.added and not again.diff.removed
    e = again.edges[0]
    assert e.stability.cycles_total == 2 and e.stability.same_tag_streak == 2
    # a loop refutation removes edges relative to the previous cycle
    name = dag.next_intervention.intervention
    d3 = estimate_dag(_with_experiment(synth[0], name, "null", 0.0, -0.001, 0.001), previous=again)
    assert any(k.startswith(name + "->") for k in d3.diff.removed)


def test_synthetic_generator_stacks():
    data, truth = generate(60, seed=5)
    sizes = [len(r.interventions) for r in data.records]
    assert sizes[0] == 0 and max(sizes) >= 5                       # stacks accumulate
    assert sum(len(r.delta_interventions) == 1 for r in data.records) >= 10
    assert set(truth.effects) == set(NAMES) and truth.effects["better_compression"] == 0
