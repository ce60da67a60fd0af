"""Cycle-0 diagnostics of the loop: a short checkpoint with the loop's own trainer config,
then token-loss, quant-gap and influence on it (results in cycle_0/diagnostics/)."""
from __future__ import annotations

from pathlib import Path

from causal_core.loop.cycle import base_env
from causal_core.loop.layout import CycleLayout, LoopLayout
from causal_core.loop.params import LoopParams

DIAGNOSTICS = ("token_loss", "quant_gap", "influence")
RUN_ID = "diag_cycle0"


def checkpoint_step(cyc: CycleLayout, params: LoopParams) -> Path:
    """The trainer config of a baseline run the diagnostics read (trained once, then reused)."""
    from causal_core.diagnostics.common import train_checkpoint
    out = cyc.diagnostics_dir / "checkpoint"
    cfg = out / f"{RUN_ID}_config.json"
    if not cfg.is_file():
        train_checkpoint(out, RUN_ID, {k: str(v) for k, v in base_env(params).items()})
    return cfg


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
    else:
        raise ValueError(f"unknown diagnostic {name!r}")
    return result
