"""Ground-truth generator: records from a known DAG with known effects, adopted in stacks.

The truth is a perturbation of the expert skeleton (an expert is right about most edges,
not all): each intervention's effect on val_bpb is dropped to exactly zero with
probability `p_zero`, each adoption edge survives with probability 0.75 and `n_extra`
adoption edges the expert did not list are added. Effects are drawn around the catalog
prior with `sd_scale` times its sd (1.0 = the prior is calibrated; >1 = overconfident
expert), plus optional interactions (diminishing returns between capacity interventions)
that the additive estimator does not model.

Records arrive like the real ones: a chronological chain where each new record inherits a
good earlier record's stack (parent chosen by score) and adds one to three interventions
(adoption parents make their children likelier), sometimes dropping one; some start afresh
from the baseline. delta_interventions holds what was added.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from causal_core.catalog import NAMES, get
from causal_core.dag import skeleton
from causal_core.schemas import InterventionMention, InterventionsFile, RecordEntry

BASELINE_BPB = 1.2244
CAPACITY = [s for s, t, _ in skeleton.EDGES if t == "model_capacity"]
BYTES_DIRECT = {s: (-1.5e6 if s != "fp16_embeddings" else 0.5e6)
                for s, t, _ in skeleton.EDGES if t == "artifact_bytes" and s in NAMES}


@dataclass
class Truth:
    effects: dict[str, float]
    adoption: set[tuple[str, str]]
    bytes_coef: dict[str, float]
    interactions: dict[tuple[str, str], float] = field(default_factory=dict)

    def pairs(self, observed: set[str]) -> set[frozenset[str]]:
        """True adjacencies among observed variables (the generating DAG's direct edges)."""
        out = {frozenset((x, skeleton.OUTCOME)) for x, b in self.effects.items() if b != 0}
        out |= {frozenset(e) for e in self.adoption}
        out |= {frozenset((x, "artifact_bytes")) for x, c in self.bytes_coef.items() if c != 0}
        out |= {frozenset((a, skeleton.OUTCOME)) for (a, b), v in self.interactions.items() if v} | \
               {frozenset((b, skeleton.OUTCOME)) for (a, b), v in self.interactions.items() if v}
        return {p for p in out if p <= observed}


def draw_truth(rng: np.random.Generator, p_zero: float = 0.15, sd_scale: float = 1.0,
               n_extra: int = 2, interaction: float = 0.0) -> Truth:
    reach = {s for s, t, _ in skeleton.EDGES if t == skeleton.OUTCOME or t in ("model_capacity", "train_steps", "eval_context")}
    effects = {}
    for n in NAMES:
        e = get(n)
        zero = n not in reach or rng.random() < p_zero
        effects[n] = 0.0 if zero else float(e.prior_effect_bpb + sd_scale * e.prior_sd_bpb * rng.standard_normal())
    adoption = {(s, t) for s, t, _ in skeleton.EDGES if s in NAMES and t in NAMES and rng.random() < 0.75}
    while n_extra > 0:
        a, b = rng.choice(len(NAMES), 2, replace=False)
        if (NAMES[b], NAMES[a]) not in adoption:
            adoption.add((NAMES[a], NAMES[b]))
            n_extra -= 1
    bytes_coef = dict(BYTES_DIRECT) | {c: 1.0e6 for c in CAPACITY if c != "depth_recurrence"}
    inter = {}
    if interaction:
        for i, a in enumerate(CAPACITY):
            for b in CAPACITY[i + 1:]:
                inter[(a, b)] = interaction * (abs(effects[a]) + abs(effects[b])) / 2   # diminishing returns
    return Truth(effects, adoption, bytes_coef, inter)


def _outcome(stack: set[str], truth: Truth, rng, noise: float) -> float:
    y = BASELINE_BPB + sum(truth.effects[n] for n in stack)
    y += sum(v for (a, b), v in truth.interactions.items() if a in stack and b in stack)
    return float(y + noise * rng.standard_normal())


def generate(n_records: int, seed: int = 0, noise: float = 0.002, truth: Truth | None = None,
             **truth_kw) -> tuple[InterventionsFile, Truth]:
    rng = np.random.default_rng(seed)
    truth = truth or draw_truth(rng, **truth_kw)
    # popularity: authors favour what helps (by the community's belief, i.e. the prior)
    pop = {n: np.exp(-get(n).prior_effect_bpb / 0.01) * rng.uniform(0.3, 1.0) for n in NAMES}
    children = {}
    for a, b in truth.adoption:
        children.setdefault(a, []).append(b)
    stacks: list[set[str]] = [set()]
    scores = [_outcome(set(), truth, rng, noise)]
    parents: list[int | None] = [None]
    deltas: list[list[str]] = [[]]
    for _ in range(n_records - 1):
        if rng.random() < 0.15:
            p = 0
        else:   # parents chosen among the better records, as authors build on the leaderboard
            s = np.array(scores)
            w = np.exp(-(s - s.min()) / 0.01)
            p = int(rng.choice(len(s), p=w / w.sum()))
        stack = set(stacks[p])
        if stack and rng.random() < 0.1:
            stack.discard(sorted(stack)[rng.integers(len(stack))])
        k = min(1 + rng.poisson(0.7), len(NAMES) - len(stack))
        added = []
        for _ in range(k):
            pool = [n for n in NAMES if n not in stack]
            w = np.array([pop[n] * (4.0 if any(n in children.get(a, []) for a in stack) else 1.0) for n in pool])
            pick = pool[int(rng.choice(len(pool), p=w / w.sum()))]
            stack.add(pick)
            added.append(pick)
        stacks.append(stack)
        scores.append(_outcome(stack, truth, rng, noise))
        parents.append(p)
        deltas.append(sorted(added))
    records = []
    for i, (stack, y, p, d) in enumerate(zip(stacks, scores, parents, deltas)):
        b = 15.0e6 + sum(truth.bytes_coef.get(n, 0.0) for n in stack) + rng.normal(0, 2e5)
        records.append(RecordEntry(
            record_id=f"synthetic/{i:03d}", val_bpb=y, bytes_total=int(b),
            interventions=[InterventionMention(name=n) for n in sorted(stack)], delta_interventions=d,
            parent=f"synthetic/{p:03d}" if p is not None else None, source_format="json_only"))
    return InterventionsFile(records_roots=["synthetic"], records=records), truth
