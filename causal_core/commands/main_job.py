"""`causal-golf main`: the main job on the embedded default corpus.

Prepares the embedded corpus if needed, then runs the cycle-loop with auto-approve and
the CPU preset until a stop rule fires (two experiment cycles; a confirmed effect does not
stop it early, and confirmed effects are refuted by placebo and leave-one-seed-out but not
replicated, which keeps the job within 15 minutes on 2 cores); prints where everything is.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", default="results/causal")
    p.add_argument("--seeds", default="1,2,3", help="paired seeds per condition")
    p.add_argument("--budget-s", type=float, default=120.0, help="wall-clock cap of one training run")
    p.add_argument("--max-cycles", type=int, default=2)
    p.add_argument("--budget-mode", choices=["time", "steps"], default="time",
                   help="time: arms train --time-budget-s each at their own measured step time (docs/budget.md)")
    # 60 s: cpu_small's control runs ~0.38 s/step on an idle core, so ~160 steps, today's ITERATIONS.
    p.add_argument("--time-budget-s", type=float, default=60.0, help="training seconds per run in time mode")


def run(args: argparse.Namespace) -> int:
    print("causal-golf main: the cycle-loop on the embedded default corpus", flush=True)
    from causal_core.data.prepare import ensure_embedded_default
    from causal_core.ticker import ticking
    with ticking("preparing the embedded corpus data/embedded_sp1024"):
        data = ensure_embedded_default(Path("."), vocab_size=1024, log=lambda s: print(s, flush=True))
    with ticking("loading Prefect and the cycle-loop flow"):
        from deployments.local_server import start_temporary_api
        from flows.cycle_loop import cycle_loop
    start_temporary_api()       # no silent minute while a fresh temporary API creates its database
    report = cycle_loop(results_dir=args.results_dir, data_path=str(data), auto_approve=True,
                        seeds=[int(s) for s in args.seeds.split(",")], budget_s=args.budget_s,
                        max_cycles=args.max_cycles, stop_on_confirmed=False, replicate=False,
                        budget_mode=args.budget_mode, time_budget_s=args.time_budget_s)
    print(f"\nloop stopped: {report['stop_reason']}")
    print(f"final report:   {report['results_dir']}/final_report.md")
    print(f"cycle folders:  {report['results_dir']}/cycle_*/")
    print(f"DAG before:     {report['dag_before']}")
    print(f"DAG after:      {report['dag_after']}")
    for r in report["records_written"]:
        print(f"record written: {r}")
    return 0
