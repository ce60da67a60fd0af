"""What goes into the submission: the loop's confirmed findings, else the engineering fallback.

confirmed finding: a cycle whose decision is `confirmed` with a negative (improving) effect.
engineering fallback (no confirmed finding): the condition (treatment or control of any
cycle) with the lowest mean val_bpb the loop measured — labelled as such, never as a finding.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from causal_core import catalog
from causal_core.experiments.config import ExperimentConfig, env_value
from causal_core.experiments.results import RawRuns
from causal_core.experiments.stats import Analysis, analyze
from causal_core.loop.layout import LoopLayout
from causal_core.submission import compat
from causal_core.submission.compat import AssembleError, IncompatibleError  # noqa: F401  (re-exported)


@dataclass
class Cycle:
    n: int
    dir: Path
    raw: RawRuns
    analysis: Analysis

    @property
    def config(self) -> ExperimentConfig:
        return self.raw.config

    @property
    def intervention(self) -> str:
        return self.raw.intervention

    def mean(self, condition: str) -> float | None:
        s = self.raw.scores(condition)
        return fmean(s.values()) if s else None


@dataclass
class Selection:
    kind: Literal["confirmed", "engineering_fallback"]
    label: str
    findings: list[Cycle]                   # the cycles whose treatment (or control) is used
    treatment: dict[str, Any]               # combined overrides on top of base_env
    control: dict[str, Any]                 # the baseline's overrides on top of base_env
    template: ExperimentConfig              # base_env, trainer, budget... of the final runs
    interventions: list[str]                # catalog names switched on in the final configuration
    fallback_condition: str | None = None   # engineering fallback: which condition won
    notes: list[str] = field(default_factory=list)

    @property
    def baseline_only(self) -> bool:
        """The final configuration is a baseline (a control condition): nothing to compare."""
        return self.treatment == self.control

    def to_json(self) -> dict:
        return {"kind": self.kind, "label": self.label, "fallback_condition": self.fallback_condition,
                "findings": [{"cycle": c.n, "intervention": c.intervention, "decision": c.analysis.decision,
                              "effect_bpb": c.analysis.effect_bpb, "ci_t": c.analysis.ci_t,
                              "p_adjusted": c.analysis.p_adjusted, "n_pairs": c.analysis.n_pairs}
                             for c in self.findings],
                "env_overrides": {k: env_value(v) for k, v in self.treatment.items()},
                "baseline_overrides": {k: env_value(v) for k, v in self.control.items()},
                "base_env": {k: env_value(v) for k, v in self.template.base_env.items()},
                "notes": self.notes}


def _analysis(exp_dir: Path, raw: RawRuns) -> Analysis:
    p = exp_dir / "stats.json"
    if p.is_file():
        obj = json.loads(p.read_text())
        for o in obj if isinstance(obj, list) else [obj]:
            if o.get("experiment_id") == raw.experiment_id:
                return Analysis.model_validate(o)
    return analyze(raw)


def load_cycles(results: str | Path) -> list[Cycle]:
    """Every cycle of the loop with a raw_runs.json, in cycle order."""
    root = Path(results)
    if not root.is_dir():
        raise AssembleError(f"{root}: results folder not found")
    out = []
    for cyc in LoopLayout(root).cycles():
        if not cyc.raw_runs.is_file():
            continue
        raw = RawRuns.load(cyc.raw_runs)
        out.append(Cycle(cyc.n, cyc.dir, raw, _analysis(cyc.experiment_dir, raw)))
    if not out:
        raise AssembleError(f"{root}: no finished cycle (cycle_N/experiment/raw_runs.json)")
    return out


def is_confirmed(c: Cycle) -> bool:
    a = c.analysis
    return a.decision == "confirmed" and a.effect_bpb is not None and a.effect_bpb < 0


def switched_on(env: dict[str, str], trainer) -> list[str]:
    """Catalog interventions whose treatment the effective env carries (and whose control it does not)."""
    out = []
    for e in catalog.ENTRIES:
        if not e.actionable:
            continue
        t = {k: compat.norm(v) for k, v in e.treatment.items()}
        c = {k: compat.norm(v) for k, v in e.control.items()}
        if t == {k: v for k, v in c.items() if k in t}:
            continue
        if all(env.get(k) == v for k, v in t.items()):
            out.append(e.name)
    return out


def _order(names) -> list[str]:
    names = set(names)
    return [n for n in catalog.NAMES if n in names] + sorted(names - set(catalog.NAMES))


def select(cycles: list[Cycle]) -> Selection:
    """The final configuration; raises compat.IncompatibleError for an incoherent combination."""
    latest: dict[str, Cycle] = {}
    for c in cycles:
        if is_confirmed(c):
            latest[c.intervention] = c          # a later confirmation of the same switch wins
    confirmed = sorted(latest.values(), key=lambda c: c.n)
    if confirmed:
        template = confirmed[-1].config
        conflicts = []
        bases = {json.dumps(c.config.base_env, sort_keys=True) for c in confirmed}
        if len(bases) > 1:
            conflicts.append(compat.Conflict("same_base", "the findings were measured on different base "
                                             "environments: " + ", ".join(f"cycle {c.n}" for c in confirmed)))
        treatment: dict[str, Any] = {}
        for c in confirmed:
            for k, v in c.config.treatment.items():
                treatment.setdefault(k, v)
        control: dict[str, Any] = {}
        dropped = set()
        for c in confirmed:
            for k, v in c.config.control.items():
                if k in control and compat.norm(control[k]) != compat.norm(v):
                    dropped.add(k)
                control.setdefault(k, v)
        notes = []
        for k in sorted(dropped):
            control.pop(k)
            notes.append(f"the findings' controls disagree on {k}; the baseline uses the base environment's value")
        env = compat.effective_env({**template.base_env, **treatment}, template.trainer_path())
        conflicts += compat.check([(c.intervention, c.config.treatment) for c in confirmed], env)
        if conflicts:
            raise compat.IncompatibleError(conflicts)
        names = [c.intervention for c in confirmed]
        label = ("confirmed findings: " + ", ".join(f"{c.intervention} (cycle {c.n}, effect "
                                                      f"{c.analysis.effect_bpb:+.5f} val_bpb)" for c in confirmed))
        return Selection("confirmed", label, confirmed, treatment, control, template,
                         _order(names + switched_on(env, template.trainer_path())), notes=notes)

    best: tuple[float, Cycle, str] | None = None
    for c in cycles:
        for cond in ("control", "treatment"):
            m = c.mean(cond)
            if m is not None and (best is None or m < best[0]):
                best = (m, c, cond)
    if best is None:
        raise AssembleError("no confirmed finding and no completed run to fall back on")
    m, c, cond = best
    stacked = {k: v for o in c.config.stack.values() for k, v in o.items()}
    overrides = {**stacked, **getattr(c.config, cond)}       # what that condition actually ran
    template = c.config
    env = compat.effective_env({**template.base_env, **overrides}, template.trainer_path())
    conflicts = compat.check([(c.intervention, overrides)], env) if cond == "treatment" else []
    if conflicts:
        raise compat.IncompatibleError(conflicts)
    label = (f"engineering fallback: no confirmed finding; the best configuration the loop measured "
             f"(lowest mean val_bpb {m:.5f}: the {cond} condition of cycle {c.n}, `{c.intervention}`, "
             f"decision {c.analysis.decision}). Not a causal claim.")
    control = {**stacked, **c.config.control} if cond == "treatment" else overrides
    names = ([c.intervention] if cond == "treatment" else []) + switched_on(env, template.trainer_path())
    return Selection("engineering_fallback", label, [c], overrides, control, template, _order(names),
                     fallback_condition=cond)
