"""`causal-golf analyze RAW_RUNS... [--out stats.json]`: paired stats + the gate (Holm over all inputs)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError

from causal_core.cli import CliError
from causal_core.one_line import describe


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("raw_runs", nargs="+", help="raw_runs.json files or experiment dirs; several = one cycle (Holm)")
    p.add_argument("--out", default=None,
                   help="write here (one input: an object; several: a list). Default: DIR/stats.json beside each input")
    p.add_argument("--mde", type=float, default=None, help="override the config's MDE (val_bpb)")
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--bootstrap", type=int, default=9999, help="bootstrap resamples (0 = none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")


def run(args: argparse.Namespace) -> int:
    from causal_core.experiments.results import RawRuns
    from causal_core.experiments.analysis_inputs import AnalysisInputError, check_options
    from causal_core.experiments.stats import analyze, holm, write_stats
    from causal_core.safe_paths import check_output_file
    try:
        check_options(args.mde, args.alpha, args.bootstrap)     # before reading any input
    except AnalysisInputError as e:
        raise CliError(str(e)) from None
    if args.out:
        check_output_file(args.out)
    raws, dirs = [], []
    for item in args.raw_runs:
        p = Path(item)
        f = p / "raw_runs.json" if p.is_dir() else p
        try:
            raws.append(RawRuns.load(f))
        except FileNotFoundError:
            raise CliError(f"{f} not found") from None
        except (ValidationError, ValueError) as e:
            raise CliError(f"{f}: not a raw_runs.json ({describe(e)})") from None
        dirs.append(f.parent)
    try:
        analyses = holm([analyze(r, mde=args.mde, alpha=args.alpha, n_boot=args.bootstrap, seed=args.seed)
                         for r in raws])
    except AnalysisInputError as e:
        raise CliError(f"{e} (in {', '.join(map(str, args.raw_runs))})") from None
    if args.out:
        write_stats(analyses[0] if len(analyses) == 1 else analyses, args.out)
    else:
        for a, d in zip(analyses, dirs):
            write_stats(a, d / "stats.json")
    for a in analyses:
        eff = "n/a" if a.effect_bpb is None else f"{a.effect_bpb:+.5f}"
        ci = "n/a" if a.ci_t is None else f"[{a.ci_t[0]:+.5f}, {a.ci_t[1]:+.5f}]"
        print(json.dumps({"intervention": a.intervention, "n_pairs": a.n_pairs, "effect_bpb": eff, "ci_t": ci,
                          "p": a.p_value, "p_holm": a.p_adjusted, "decision": a.decision}))
    return 0
