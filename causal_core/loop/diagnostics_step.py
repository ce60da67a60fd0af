"""Cycle-0 diagnostics of the loop (S8-S11): token-loss, quant-gap and influence on a baseline
checkpoint, and grad attribution on a short run of its own (results in cycle_0/diagnostics/).

The checkpoint is the first control seed of the loop's first experiment: that run is the
baseline trained with the loop's own config, so training a separate one (70 s on
cpu_small, 2 cores) would repeat it. The diagnostics read it while the other seeds train.
"""
from __future__ import annotations

from pathlib import Path

from causal_core.experiments.results import RESULT_SUFFIX, RunResult, runs_dir
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams

DIAGNOSTICS = ("token_loss", "quant_gap", "influence", "grad_attribution")
# Grad attribution trains its own short run with GRAD_NORM_LOG=1 while the seeds train: kept small
# (24 steps, a val point every 4 on 8k tokens) so it takes a fraction of one seed run's CPU.
GRAD_ATTR_ENV = {"ITERATIONS": "24", "WARMDOWN_ITERS": "8", "LR_WARMUP_STEPS": "4", "VAL_LOSS_EVERY": "4",
                 "VAL_MAX_TOKENS": "8192", "WARMUP_STEPS": "0", "OPENBLAS_NUM_THREADS": "1"}


def pending(cyc0: CycleLayout) -> list[str]:
    """The diagnostics not yet written (a resumed loop skips the finished ones)."""
    return [n for n in DIAGNOSTICS if not (cyc0.diagnostics_dir / f"{n}.json").is_file()]


def usable_checkpoint(result) -> Path | None:
    """The checkpoint of a finished control run, or None (treatment, failed, or no weights)."""
    if result.condition != "control" or result.status != "ok" or not result.checkpoint_path:
        return None
    p = Path(result.checkpoint_path)
    return p if p.is_file() else None


def baseline_checkpoint(layout: LoopLayout) -> Path | None:
    """The first usable control checkpoint of the earliest experiment cycle (for a resumed loop)."""
    n = 1
    while layout.cycle(n).dir.is_dir():
        runs = sorted(runs_dir(layout.cycle(n).experiment_dir).glob(f"*-control-seed*{RESULT_SUFFIX}"))
        for p in runs:
            ckpt = usable_checkpoint(RunResult.load(p))
            if ckpt:
                return ckpt
        n += 1
    return None


def diagnostic_step(name: str, cyc: CycleLayout, checkpoint: Path, params: LoopParams, layout: LoopLayout) -> Path:
    out = cyc.diagnostics_dir
    result = out / f"{name}.json"
    if result.is_file():
        return result
    if name == "token_loss":
        from causal_core.diagnostics.token_loss import token_loss
        token_loss(checkpoint, data_path=params.data_path, out_dir=out)
    elif name == "quant_gap":
        from causal_core.diagnostics.quant_gap import quant_gap
        sources = [layout.experiment_log] if layout.experiment_log.is_file() else None
        quant_gap(checkpoint, data_path=params.data_path, out_dir=out, effect_sources=sources)
    elif name == "influence":
        from causal_core.diagnostics.influence import influence
        # A bounded probe: 8 chunks of 4,096 tokens against 16k validation tokens (~30 s on 2 cores).
        influence(checkpoint, data_path=params.data_path, out_dir=out, max_shards=8, val_max_tokens=16384)
    elif name == "grad_attribution":
        from causal_core.diagnostics.grad_attribution import grad_attribution
        from causal_core.trainer import base_env
        env = {k: str(v) for k, v in base_env(params.data_path, params.trainer_env).items()}
        grad_attribution(out_dir=out, env={**env, **GRAD_ATTR_ENV}, run_id="cycle0_gradattr", log=lambda *_: None)
    else:
        raise ValueError(f"unknown diagnostic {name!r}")
    return result    # its "checkpoint" field names the run whose weights were read
