"""Which intervention the loop should test next.

Eligible: interventions the trainer can switch (catalog.actionable()), not already settled
by the loop's own experiments (tags.loop_status: confirmed or refuted), whose edge toward
val_bpb is still open (uncertain or expert_imposed). If every open edge is exhausted, edges
confirmed only observationally are eligible too (observational confirmation is not a
randomized test), and the reason says so.

Ranking: expected improvement E[max(0, -effect)] AT THE LOCAL SCALE the loop runs on (the
effects' local column: the H100 effect carried through the posterior of its group's
transfer coefficient lambda_g, plus the group's local shift beta_g learned from the loop's
own results in that group, or the local measurement), mu' Phi(mu'/s) + s phi(mu'/s) with
mu' = -mean, per unit of cost. It rewards a large expected gain and, among similar gains,
more remaining uncertainty; an intervention whose group has not transferred (lambda_g near
0) has a small local gain and drops down the list however large its H100 effect. Cost: one
test is the same number of runs for every intervention; `cost` takes relative costs where
they are known (e.g. step-time ratios under a time budget).

With a `base` (interventions the configuration already has): the base's own interventions
are not candidates, nor is any addition submission/compat.py refuses on top of the base
(exclusive pairs such as ema with swa, one variable set two ways, unmet requirements); an
addition that reaches val_bpb through a mediator a base intervention already uses gets the
identifiability module's diminishing-returns interaction prior; expert parents missing from
the base are named in the reason.
"""
from __future__ import annotations

from pathlib import Path

from scipy import stats

from causal_core import catalog
from causal_core.catalog import actionable
from causal_core.dag import skeleton
from causal_core.dag.identifiability import SAME_MEDIATOR_PRIOR, _mediators
from causal_core.dag.models import Candidate, DagEdge, EffectEstimate
from causal_core.dag.tags import loop_status
from causal_core.schemas import ExperimentOutcome

OPEN = ("uncertain", "expert_imposed")


def expected_improvement(mean: float, sd: float) -> float:
    m = -mean
    if sd <= 0:
        return max(m, 0.0)
    z = m / sd
    return float(m * stats.norm.cdf(z) + sd * stats.norm.pdf(z))


def _outcome_tag(name: str, edges: list[DagEdge]) -> str:
    """The weakest-evidence tag on the intervention's edges toward val_bpb (open beats confirmed)."""
    tags = [e.tag for e in edges if e.source == name and e.target != "artifact_bytes"
            and (e.target == skeleton.OUTCOME or e.target in skeleton.MEDIATORS)]
    for t in ("uncertain", "expert_imposed", "data_confirmed", "data_contradicted"):
        if t in tags:
            return t
    return "data_contradicted"


def base_conflict(name: str, base: list[str], trainer=None) -> str | None:
    """Why `name` cannot be added to a configuration that has `base` (compat.py's rules), or None."""
    from causal_core.submission import compat
    findings = [(b, dict(catalog.CATALOG[b].treatment)) for b in base] + [(name, dict(catalog.CATALOG[name].treatment))]
    env: dict = {"PRESET": "cpu_small"}
    for _, o in findings:
        env.update(o)
    trainer = trainer or (Path(__file__).resolve().parents[2] / "train_gpt_mlx.py")
    rules = compat.check(findings, compat.effective_env(env, trainer))
    return "; ".join(f"[{c.rule}] {c.message}" for c in rules) or None


def _base_notes(name: str, base: list[str]) -> tuple[float, list[str]]:
    """(interaction multiplier, notes) of adding `name` to `base`."""
    notes, mult = [], 1.0
    shared = sorted({f"{m} (with {b})" for b in base for m in _mediators(name) & _mediators(b)})
    if shared:
        mult = SAME_MEDIATOR_PRIOR
        notes.append(f"shares {', '.join(shared)}: diminishing returns, gain x {SAME_MEDIATOR_PRIOR}")
    missing = [p for p in catalog.CATALOG[name].parents if p in catalog.CATALOG and p not in base]
    if missing:
        notes.append(f"expert parent(s) {', '.join(missing)} not in the base")
    return mult, notes


def rank(effects: dict[str, EffectEstimate], edges: list[DagEdge],
         experiments: list[ExperimentOutcome], base: list[str] | None = None,
         cost: dict[str, float] | None = None) -> list[Candidate]:
    settled = loop_status(experiments)
    base = list(base or [])
    pool = []
    for entry in actionable():
        eff = effects.get(entry.name)
        if eff is None or entry.name in settled or entry.name in base or entry.requires_env:   # requires_env: needs a probe phase's inputs
            continue
        if base and base_conflict(entry.name, base):
            continue
        tag = _outcome_tag(entry.name, edges)
        if tag == "data_contradicted":
            continue
        h100_ei = expected_improvement(eff.effect_bpb, eff.sd)
        if eff.local_effect_bpb is not None and eff.local_sd is not None:
            local_mean, local_sd = eff.local_effect_bpb, eff.local_sd
        else:        # an effects list without a local column (older dag.json): the H100 column
            local_mean, local_sd = eff.effect_bpb, eff.sd
        mult, notes = _base_notes(entry.name, base) if base else (1.0, [])
        ei = mult * expected_improvement(local_mean, local_sd)
        c = (cost or {}).get(entry.name, 1.0)
        lam = (f"lambda[{eff.group}] {eff.lambda_mean:+.2f} [{eff.lambda_low:+.2f}, {eff.lambda_high:+.2f}]"
               if eff.lambda_mean is not None else "no transfer model")
        if eff.group_shift_bpb is not None:
            lam += f", local shift[{eff.group}] {eff.group_shift_bpb:+.4f} +/- {eff.group_shift_sd or 0:.4f} bpb"
        why = (f"{tag} edge to val_bpb; local scale: expected improvement {ei:.4f} bpb per test "
               f"(local effect {local_mean:+.4f} bpb, {eff.local_source or 'H100 column'}; {lam}); "
               f"H100 scale: predicted effect {eff.effect_bpb:+.4f} bpb [{eff.ci_low:+.4f}, {eff.ci_high:+.4f}] "
               f"({eff.source}, {eff.n_present} records), expected improvement {h100_ei:.4f}; cost {c:g} test"
               + "".join(f"; {n}" for n in notes))
        pool.append(Candidate(intervention=entry.name, expected_effect_bpb=eff.effect_bpb,
                              expected_improvement_bpb=ei, edge_tag=tag, reason=why, local_effect_bpb=local_mean,
                              h100_improvement_bpb=h100_ei, lambda_mean=eff.lambda_mean, cost_runs=c, score=ei / c))
    open_ = [c for c in pool if c.edge_tag in OPEN]
    if not open_:
        for c in pool:
            c.reason += "; no open edge left, so observationally confirmed edges are re-tested"
        open_ = pool
    return sorted(open_, key=lambda c: (-(c.score or 0.0), c.intervention))
