"""`causal-golf identifiability`: which edges into val_bpb the records can test; proceed or skip."""
from __future__ import annotations

import argparse

from causal_core.atomic import atomic_write_text
from causal_core.safe_paths import check_output_file
from causal_core.cli import CliError
from causal_core.dag.identifiability import identifiability
from causal_core.dag.inputs import InputError, load_dag, load_interventions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interventions", required=True, help="interventions.json")
    parser.add_argument("--dag", help="dag.json from `causal-golf dag` (posterior effects rank combinations)")
    parser.add_argument("--out", required=True, help="output JSON file")


def run(args: argparse.Namespace) -> int:
    try:
        data = load_interventions(args.interventions)
        dag = load_dag(args.dag) if args.dag else None
    except InputError as e:
        raise CliError(str(e)) from None
    rep = identifiability(data, dag)
    atomic_write_text(check_output_file(args.out), rep.model_dump_json(indent=2) + "\n")
    print(f"identifiability: score {rep.identifiability_score:.2f}, {rep.single_variable_records} single- / "
          f"{rep.multi_variable_records} multi-variable records; recommendation: {rep.recommendation}")
    print(f"wrote {args.out}")
    return 0
