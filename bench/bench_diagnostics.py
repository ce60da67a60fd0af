"""Time every diagnostic on the default small checkpoint (cpu_small preset, embedded default corpus).

    uv run python bench/bench_diagnostics.py [--out /tmp/diag_bench] [--max-shards 16]

Trains the default checkpoint first when absent (results/causal/diagnostics/checkpoints) and
prints one line per diagnostic with its wall time (target: < 60 s each on a 2-core CPU box).
Re-execs once with the fast OpenBLAS (the trainer's bootstrap) before importing mlx.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="/tmp/causal_golf_diag_bench")
    p.add_argument("--max-shards", type=int, default=8)
    p.add_argument("--val-max-tokens", type=int, default=16384)
    p.add_argument("--only", help="comma-separated names to run (default: all)")
    a = p.parse_args()
    from causal_core.diagnostics.common import ensure_checkpoint, trainer
    trainer().bootstrap_fast_blas()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from causal_core.diagnostics import grad_attribution, influence, probe, quant_gap, token_loss
    out = Path(a.out)
    t = time.perf_counter()
    ck, prov = ensure_checkpoint(None)
    print(f"checkpoint {ck.config_path} trained_here={prov['trained_here']} ({time.perf_counter() - t:.1f} s)", flush=True)
    print(f"blas: {trainer().blas_in_use()}", flush=True)
    cfg = str(ck.config_path)
    jobs = [
        ("token-loss", lambda: token_loss.token_loss(cfg, out_dir=out)),
        ("quant-gap", lambda: quant_gap.quant_gap(cfg, out_dir=out, per_category=True, largest_effect_bpb=0.002)),
        ("quant-gap QUANT_BITS=4", lambda: quant_gap.quant_gap(cfg, out_dir=out / "q4", overrides={"QUANT_BITS": "4"},
                                                               largest_effect_bpb=0.002)),
        ("influence", lambda: influence.influence(cfg, out_dir=out, max_shards=a.max_shards,
                                                            val_max_tokens=a.val_max_tokens)),
        ("probe-direction", lambda: probe.probe_direction(cfg, pool_a="freq:top", pool_b="freq:tail", out_dir=out,
                                                          n_samples=8)),
        ("grad-attribution (trains 36 steps)", lambda: grad_attribution.grad_attribution(out_dir=out)),
    ]
    for name, fn in jobs:
        if a.only and name.split()[0] not in a.only.split(","):
            continue
        t = time.perf_counter()
        rep = fn()
        dt = time.perf_counter() - t
        from causal_core.diagnostics.cli import _summary
        print(f"{name:38s} {dt:7.1f} s  {'OK ' if dt < 60 else 'SLOW'} {_summary(rep)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
