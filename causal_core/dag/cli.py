"""`causal-golf dag`: estimate the DAG, effects and next_intervention; write dag.{json,dot,png,svg}."""
from __future__ import annotations

import argparse

from causal_core.cli import CliError
from causal_core.dag.estimate import DagInputError, estimate_dag
from causal_core.dag.fci import ALPHA
from causal_core.dag.inputs import InputError, load_dag, load_interventions
from causal_core.safe_paths import check_output_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interventions", required=True, help="interventions.json (from `causal-golf extract`)")
    parser.add_argument("--out", required=True, help="output directory for dag.json, dag.dot, dag.png, dag.svg")
    parser.add_argument("--previous-dag", help="the previous cycle's dag.json (diff + edge stability)")
    parser.add_argument("--budget-mode", choices=["time", "steps"], default="time",
                        help="use the loop's experiments measured under this budget as evidence; the others are "
                             "reported apart (default time, the loop's default)")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"FCI significance level (default {ALPHA})")
    parser.add_argument("--base", default="", help="comma-separated interventions your configuration already has: "
                        "rank what to add to it (e.g. --base ema,more_layers,sliding_window_eval)")
    parser.add_argument("--local-scale", help="scale key of the local column (default: the latest experiment's)")


def parse_base(text: str) -> list[str]:
    from causal_core.catalog import CATALOG
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    bad = [n for n in names if n not in CATALOG]
    if bad:
        raise CliError(f"--base: unknown intervention(s) {', '.join(bad)} (see causal_core/catalog.py)")
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    from causal_core.dag.render import render
    if not 0 < args.alpha < 1:
        raise CliError(f"--alpha must be in (0, 1), got {args.alpha}")
    base = parse_base(args.base)
    check_output_dir(args.out)              # before the DAG is estimated, not after
    try:
        data = load_interventions(args.interventions)
        previous = load_dag(args.previous_dag) if args.previous_dag else None
        dag = estimate_dag(data, previous, alpha=args.alpha, budget_mode=args.budget_mode,
                           local_scale=args.local_scale, base=base)
    except (InputError, DagInputError) as e:
        raise CliError(str(e)) from None
    paths = render(dag, args.out)
    nxt = dag.next_intervention
    print(f"dag: {dag.n_records} records, {len(dag.edges)} edges; FCI "
          f"{'ran' if dag.fci.ran else 'skipped (' + str(dag.fci.fallback) + ')'}; "
          f"next_intervention: {nxt.intervention + ' (' + format(nxt.expected_effect_bpb, '+.4f') + ' bpb)' if nxt else 'none'}")
    if base:
        print(f"what to add to {', '.join(base)} (local scale {dag.local_scale or 'none measured: prior lambda'}):")
        for c in dag.candidates[:5]:
            print(f"  {c.intervention}: expected local improvement {c.expected_improvement_bpb:.4f} bpb; "
                  f"predicted H100 effect {c.expected_effect_bpb:+.4f} bpb")
    print(f"wrote {paths['json']}")
    return 0
