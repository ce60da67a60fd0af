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


def run(args: argparse.Namespace) -> int:
    from causal_core.dag.render import render
    if not 0 < args.alpha < 1:
        raise CliError(f"--alpha must be in (0, 1), got {args.alpha}")
    check_output_dir(args.out)              # before the DAG is estimated, not after
    try:
        data = load_interventions(args.interventions)
        previous = load_dag(args.previous_dag) if args.previous_dag else None
        dag = estimate_dag(data, previous, alpha=args.alpha, budget_mode=args.budget_mode)
    except (InputError, DagInputError) as e:
        raise CliError(str(e)) from None
    paths = render(dag, args.out)
    nxt = dag.next_intervention
    print(f"dag: {dag.n_records} records, {len(dag.edges)} edges; FCI "
          f"{'ran' if dag.fci.ran else 'skipped (' + str(dag.fci.fallback) + ')'}; "
          f"next_intervention: {nxt.intervention + ' (' + format(nxt.expected_effect_bpb, '+.4f') + ' bpb)' if nxt else 'none'}")
    print(f"wrote {paths['json']}")
    return 0
