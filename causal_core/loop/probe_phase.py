"""The optional probe phase before an expensive experiment: a cheap gradient-direction probe
whose verdict gates the sweep, then the sweep under the cost ceiling.

Steps (all files under cycle_N/probe/, so a resumed loop skips what is done):
1. a baseline checkpoint: the loop's first control checkpoint if one exists, else one short
   baseline run of the loop's own config (seed = first seed);
2. the direction v = normalize(mean grad of pool A - mean grad of pool B) on that checkpoint
   (diagnostics/probe.py), saved as direction.npz;
3. two short arms from scratch, PROBE_STEPS steps each, with mixed replay pools on: vanilla
   (PROJECT_DIRECTION_LOG_ONLY=1) and projected; their projection logs;
4. the verdict (diagnostics/probe_rules.py: verification table + decision rules, plus the
   existing phase gate on the projected log) and what the sweep would cost: verdict.json.
The flow then pauses for approval with that verdict, and runs the sweep one arm x 3 seeds first
(experiments/cost_ceiling.py); ceiling.json says whether it went on and what it saved.
"""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from causal_core import catalog
from causal_core.atomic import atomic_write_json
from causal_core.experiments import cost_ceiling
from causal_core.trainer import REPO_ROOT, TRAINER, base_env
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams

PROBE_STEPS = 24          # >= 20: the gate judges the first 20 projected steps
DIRECTION_SAMPLES = 8     # per pool (even ones fit v, odd ones are held out)


class ProbeError(RuntimeError):
    """A probe step failed (trainer error, empty pool): one line naming it."""


def probe_dir(cyc: CycleLayout) -> Path:
    return cyc.dir / "probe"


def verdict_path(cyc: CycleLayout) -> Path:
    return probe_dir(cyc) / "verdict.json"


def ceiling_path(cyc: CycleLayout) -> Path:
    return probe_dir(cyc) / "ceiling.json"


def load_approval(cyc: CycleLayout) -> dict | None:
    p = probe_dir(cyc) / "approval.json"
    import json
    return json.loads(p.read_text()) if p.is_file() else None


def save_approval(cyc: CycleLayout, run_sweep: bool, by: str, probe_action: str) -> bool:
    atomic_write_json(probe_dir(cyc) / "approval.json", {"run_sweep": run_sweep, "by": by, "probe_action": probe_action})
    return run_sweep


def wanted(intervention: str, params: LoopParams) -> bool:
    """Probe before this experiment: it was chosen (probe_before), or its arms need the direction."""
    return intervention == params.probe_before or "PROJECT_DIRECTION" in catalog.get(intervention).requires_env


def _train(out: Path, run_id: str, env: dict, seed: int, timeout_s: float) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            **{k: str(v) for k, v in env.items()}, "SEED": str(seed), "RUN_ID": run_id, "OUT_DIR": str(out)}
    with open(out / f"{run_id}.stdout", "wb") as fo:
        try:
            rc = subprocess.run([sys.executable, str(TRAINER)], cwd=REPO_ROOT, env=full, stdout=fo,
                                stderr=subprocess.STDOUT, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            raise ProbeError(f"probe run {run_id} timed out after {timeout_s:.0f} s") from None
    if rc != 0:
        tail = (out / f"{run_id}.stdout").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ProbeError(f"probe run {run_id} failed (exit {rc}): {tail[0]}")
    return out / f"{run_id}_config.json"


def run_probe(cyc: CycleLayout, params: LoopParams, layout: LoopLayout, intervention: str) -> dict:
    """The probe's verdict (verdict.json), computed once per cycle."""
    from causal_core.diagnostics import probe, probe_rules
    from causal_core.diagnostics.grad_attribution import read_jsonl
    from causal_core.loop.diagnostics_step import baseline_checkpoint
    path = verdict_path(cyc)
    if path.is_file():
        import json
        return json.loads(path.read_text())
    d = probe_dir(cyc)
    base = base_env(params.data_path, params.trainer_env)
    seed, timeout = params.seeds[0], params.budget_s + 120
    ckpt = baseline_checkpoint(layout)
    trained = []
    if ckpt is None:
        ckpt = _train(d / "runs", "probe-baseline", base, seed, timeout)
        trained.append("probe-baseline")
    pool_a, pool_b = params.probe_pools
    try:
        v = probe.probe_direction(ckpt, pool_a=pool_a, pool_b=pool_b, data_path=params.data_path, out_dir=d,
                                  n_samples=DIRECTION_SAMPLES, direction_file=d / "direction.npz", log=lambda *_: None)
    except Exception as e:          # DiagnosticError: an empty pool, a bad spec
        raise ProbeError(f"probe direction: {e}") from None
    arm_env = {**base, "PROJECT_DIRECTION": v["direction_file"], "PROBE_POOL_A": pool_a, "PROBE_POOL_B": pool_b,
               "ITERATIONS": PROBE_STEPS, "VAL_LOSS_EVERY": 0}
    arms = {"vanilla": {**arm_env, "PROJECT_DIRECTION_LOG_ONLY": 1}, "projected": {**arm_env, "PROJECT_DIRECTION_LOG_ONLY": 0}}
    with ThreadPoolExecutor(max_workers=2) as pool:       # the two arms side by side
        futs = {a: pool.submit(_train, d / "runs", f"probe-{a}", env, seed, timeout) for a, env in arms.items()}
        for f in futs.values():
            f.result()
    trained += [f"probe-{a}" for a in arms]
    logs = {a: read_jsonl(d / "runs" / f"probe-{a}_projection.jsonl") for a in arms}
    res = probe_rules.evaluate(logs["vanilla"], logs["projected"])
    gate = probe.check_gate(logs["projected"])
    n_seeds = len(params.seeds)
    first = len(cost_ceiling.first_phase_seeds(params.seeds))
    verdict = {
        "intervention": intervention, "pools": [pool_a, pool_b], "direction_file": v["direction_file"],
        "direction_separation": v["separation"], "checkpoint": str(ckpt), "probe_steps": PROBE_STEPS,
        "probe_runs": trained, "logs": {a: str(d / "runs" / f"probe-{a}_projection.jsonl") for a in arms},
        **res, "gate": {"verdict": gate["verdict"], "metrics": gate["metrics"]},
        "cost": {"probe_runs": len(trained), "sweep_runs_planned": cost_ceiling.planned_runs(n_seeds),
                 "first_phase_runs": cost_ceiling.planned_runs(first),
                 "ceiling_applies": first < n_seeds},
    }
    atomic_write_json(path, verdict)
    return verdict


def sweep_params(intervention: str, params: LoopParams, verdict: dict | None) -> LoopParams:
    """The loop parameters the sweep's config is planned with: the probe's direction in the base env."""
    if verdict is None or "PROJECT_DIRECTION" not in catalog.get(intervention).requires_env:
        return params
    return params.model_copy(update={"trainer_env": {**params.trainer_env, "PROJECT_DIRECTION": verdict["direction_file"]}})


def ceiling_step(cyc: CycleLayout, runs, n_seeds: int, threshold: float) -> dict:
    """Whether the sweep goes on after its first phase (ceiling.json)."""
    control = {r.seed: r.val_bpb for r in runs if r.condition == "control" and r.complete}
    treatment = {r.seed: r.val_bpb for r in runs if r.condition == "treatment" and r.complete}
    out = cost_ceiling.ceiling_verdict(control, treatment, n_seeds, threshold=threshold)
    atomic_write_json(ceiling_path(cyc), out)
    return out


def verdict_markdown(n: int, v: dict) -> str:
    d = v["decision"]
    c = v["cost"]
    lines = [f"# Cycle {n}: probe before `{v['intervention']}`", "",
             f"**Probe decision: {d['action']}** ({d['why']})  ", f"Phase gate on the projected arm: {v['gate']['verdict']}",
             "", f"Pools A=`{v['pools'][0]}`, B=`{v['pools'][1]}`; direction separation {v['direction_separation']:+.4f}; "
             f"{v['probe_steps']} steps per arm; probe runs: {', '.join(v['probe_runs'])}.", "",
             f"The sweep would cost {c['sweep_runs_planned']} runs"
             + (f"; under the cost ceiling its first phase is {c['first_phase_runs']} runs" if c["ceiling_applies"] else "")
             + ".", "", "| check | value | outcome |", "|---|---:|---|"]
    for r in v["verification"]:
        val = r["value"]
        lines.append(f"| {r['check']} | {'n/a' if val is None else f'{val:.4g}'} | {r['outcome']} |")
    if d["findings"]:
        lines += ["", "Findings: " + "; ".join(d["findings"])]
    if d["alternatives"]:
        lines += ["", "Cheaper alternatives:", *[f"- {a}" for a in d["alternatives"]]]
    return "\n".join(lines) + "\n"
