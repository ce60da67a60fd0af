"""`causal-golf assemble`: build the submission record folder from a loop's results."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from causal_core.cli import CliError


def _seeds(s: str) -> list[int]:
    try:
        out = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {s!r}") from None
    if not out or len(set(out)) != len(out) or any(x < 0 for x in out):
        raise argparse.ArgumentTypeError(f"seeds must be distinct non-negative integers, got {s!r}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", type=Path, default=Path("results/causal"), help="the loop's results folder")
    p.add_argument("--records-out", type=Path, default=Path("records"), help="records root to write into")
    p.add_argument("--name", help="record name (default: from the findings; env CAUSAL_GOLF_NAME)")
    p.add_argument("--author", help="author (env CAUSAL_GOLF_AUTHOR; default causal-golf)")
    p.add_argument("--github-id", help="GitHub id (env CAUSAL_GOLF_GITHUB_ID; default: the author)")
    p.add_argument("--seeds", type=_seeds, help="seeds of the final configuration, e.g. 1,2,3 "
                   "(default: the loop's, padded to 3)")
    p.add_argument("--reuse-only", action="store_true",
                   help="never train: refuse unless every run of the final configuration already exists")
    p.add_argument("--max-parallel", type=int, default=None, help="trainer runs at once")
    p.add_argument("--hardware", help="hardware the runs used, e.g. '8xH100' (only torch-cuda runs on 8xH100 "
                   "can verify the time limit)")


def run(args: argparse.Namespace) -> int:
    from causal_core.submission.assemble import assemble
    from causal_core.submission.findings import AssembleError
    try:
        folder = assemble(args.results, args.records_out, name=args.name, author=args.author,
                          github_id=args.github_id, seeds=args.seeds, reuse_only=args.reuse_only,
                          max_parallel=args.max_parallel, hardware=args.hardware)
    except AssembleError as e:      # IncompatibleError is an AssembleError
        raise CliError(e.for_cli()) from None
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    except ValueError as e:
        raise CliError(str(e).splitlines()[0]) from None
    import json
    sub = json.loads((folder / "submission.json").read_text())
    print(f"wrote {folder}: val_bpb {sub['val_bpb']:.5f} over seeds {sub['seeds']}; "
          f"bytes_total {sub['bytes_total']} ({'within' if sub['within_artifact_limit'] else 'NOT within'} limit); "
          f"time limit {'verified' if sub['time_limit_verified'] else 'not verified'}; "
          f"selection {sub['selection']['kind']}", file=sys.stderr)
    print(folder)
    return 0
