"""Which edges into val_bpb can the records actually test?

An intervention's edge(s) toward val_bpb are *testable* when a record changes it alone
(single-variable: its delta_interventions, else its whole stack, has length one), the loop
ran an experiment on it, or its presence column varies and is not aliased with the rest
of the stack (variance inflation factor below VIF_MAX, statsmodels). Everything else is
only estimable through the prior.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
from statsmodels.stats.outliers_influence import variance_inflation_factor

from causal_core.catalog import NAMES, get
from causal_core.dag import skeleton
from causal_core.dag.encode import encode
from causal_core.dag.fci import min_count
from causal_core.dag.models import Combination, DagResult, EdgeIdentifiability, IdentifiabilityReport
from causal_core.dag.tags import _downstream
from causal_core.schemas import InterventionsFile

VIF_MAX = 10.0          # the usual collinearity threshold
TOP_COMBINATIONS = 25
SAME_MEDIATOR_PRIOR = 0.5   # two routes into the same mediator: diminishing returns (e.g. two capacity buys)
INDEPENDENT_PRIOR = 1.0


def _outcome_edges() -> list[str]:
    pairs = [(s, t) for s, t, _ in skeleton.EDGES]
    observed = set(NAMES) | {skeleton.OUTCOME}
    return [n for n in NAMES if any(s == n and skeleton.OUTCOME in _downstream(t, pairs, observed) for s, t in pairs)]


def _vif(x: np.ndarray, j: int) -> float:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        v = variance_inflation_factor(np.column_stack([np.ones(len(x)), x]), j + 1)
    return float(v) if np.isfinite(v) else float("inf")


def _mediators(name: str) -> set[str]:
    return {t for s, t, _ in skeleton.EDGES if s == name and t in skeleton.MEDIATORS and t != "artifact_bytes"}


def identifiability(interventions: InterventionsFile, dag: DagResult | None = None) -> IdentifiabilityReport:
    enc = encode(interventions)
    n = enc.n
    sizes = [len(c) for c in enc.changes]
    n_single, n_multi, n_base = sum(s == 1 for s in sizes), sum(s > 1 for s in sizes), sum(s == 0 for s in sizes)
    multi_share = n_multi / n if n else 1.0
    k = min_count(n) if n else 1
    counts = enc.presence.sum(axis=0) if n else np.zeros(len(NAMES))
    varying = [j for j, c in enumerate(counts) if k <= c <= n - k]
    xv = enc.presence[:, varying] if n else np.zeros((0, 0))

    edges = []
    for name in _outcome_edges():
        j = enc.names.index(name)
        singles = sum(c == [name] for c in enc.changes)
        multis = sum(name in c and len(c) > 1 for c in enc.changes)
        # An experiment under either budget shows the switch can be tested.
        exps = sum(e.intervention == name and e.decision != "failed" for e in enc.experiments + enc.other_budget_experiments)
        vif = _vif(xv, varying.index(j)) if j in varying and n > len(varying) + 1 else float("inf")
        testable = singles + exps > 0 or vif < VIF_MAX
        skip = multi_share > 0.5 and singles + exps == 0
        why = (f"{singles} single-variable, {multis} multi-variable records, {exps} experiments; "
               f"VIF {'inf' if not np.isfinite(vif) else format(vif, '.1f')}")
        edges.append(EdgeIdentifiability(intervention=name, single_variable_records=singles,
                                         multi_variable_records=multis, experiments=exps, testable=testable,
                                         recommendation="skip" if skip else "proceed", why=why))
    score = sum(e.testable for e in edges) / len(edges)

    pairs = []
    for a, b in itertools.combinations(range(len(NAMES)), 2):
        if n and counts[a] > 0 and np.array_equal(enc.presence[:, a], enc.presence[:, b]):
            pairs.append([NAMES[a], NAMES[b]])

    proceed = [e for e in edges if e.recommendation == "proceed"]
    reason = (f"{n_multi}/{n} records change several interventions at once ({multi_share:.0%}); "
              f"{len(proceed)}/{len(edges)} edges can proceed; {sum(e.testable for e in edges)} are testable "
              f"(identifiability score {score:.2f})")
    return IdentifiabilityReport(
        n_records=n, single_variable_records=n_single, multi_variable_records=n_multi, baseline_records=n_base,
        identifiability_score=score, edges=edges, confounded_pairs=pairs,
        recommendation="proceed" if proceed else "skip", reason=reason,
        unexplored_combinations=_combinations(enc.presence, dag))


def _combinations(x: np.ndarray, dag: DagResult | None) -> list[Combination]:
    """Pairs of (expected-helpful) interventions no record has combined, by expected gain x interaction prior."""
    effect = {n: (dag.effect(n).effect_bpb if dag and dag.effect(n) else get(n).prior_effect_bpb) for n in NAMES}
    helpful = [n for n in NAMES if effect[n] < 0]
    seen = (x.T @ x) if len(x) else np.zeros((len(NAMES), len(NAMES)))
    out = []
    for a, b in itertools.combinations(helpful, 2):
        if seen[NAMES.index(a), NAMES.index(b)] > 0:
            continue
        prior = SAME_MEDIATOR_PRIOR if _mediators(a) & _mediators(b) else INDEPENDENT_PRIOR
        exp = effect[a] + effect[b]
        out.append(Combination(interventions=[a, b], expected_effect_bpb=exp, interaction_prior=prior,
                               score=-exp * prior))
    return sorted(out, key=lambda c: -c.score)[:TOP_COMBINATIONS]
