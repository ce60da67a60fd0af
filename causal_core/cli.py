"""`causal-golf` console script: one subcommand per capability.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; modules are imported lazily so `causal-golf --help` stays fast
and a broken optional module cannot take the other commands down.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from causal_core.errors import CausalGolfError

from causal_core.one_line import describe
from causal_core.safe_paths import UnsafePathError

# name -> (module, one-line help). Modules that do not exist yet are hidden.
COMMANDS: dict[str, tuple[str, str]] = {
    "main": ("causal_core.commands.main_job", "run the main job on the embedded default corpus"),
    "prepare-data": ("causal_core.data.prepare", "tokenize text (or the embedded default) into challenge-format shards"),
    "train": ("causal_core.commands.train", "run train_gpt_mlx.py with a preset (fast BLAS path included)"),
    "extract": ("causal_core.records.extract", "parse record folders into interventions.json"),
    "dag": ("causal_core.dag.cli", "estimate the causal DAG and next_intervention"),
    "identifiability": ("causal_core.dag.identifiability_cli", "which edges into val_bpb the records can test"),
    "make-config": ("causal_core.experiments.config_cli", "build an experiment config from the catalog"),
    "run-experiment": ("causal_core.experiments.runner_cli", "run paired seeds of an experiment config"),
    "analyze": ("causal_core.experiments.analyze_cli", "paired statistics and the decision gate"),
    "loop": ("flows.run_loop_cli", "run the cycle-loop flow once in this process"),
    "serve": ("deployments.serve", "serve the cycle-loop (and train-seed) deployments"),
    "approve": ("deployments.approve", "approve, override or stop a paused cycle-loop run"),
    "deploy-train-seed": ("deployments.work_pool", "put seed runs on a work pool for workers on other machines"),
    "diag": ("causal_core.diagnostics.cli", "checkpoint diagnostics: token-loss, quant-gap, influence, grad-attribution, probe"),
    "assemble": ("causal_core.submission.cli", "assemble the loop's result into a challenge-layout record folder"),
}


_ROOT = Path(__file__).resolve().parents[1]   # the directory holding causal_core/, flows/, ...


class CliError(CausalGolfError):
    """A problem with the command line itself (a flag, a combination): one line, exit code 2.
    Library code raises domain errors (causal_core/errors.py) instead; main translates them."""


def _module_file(mod: str) -> Path:
    return _ROOT.joinpath(*mod.split(".")).with_suffix(".py")


def _available() -> dict[str, tuple[str, str]]:
    # Look for the module's file instead of importing its package: importing
    # causal_core.dag or flows pulls in causal-learn / Prefect (seconds per command).
    return {name: spec for name, spec in COMMANDS.items() if _module_file(spec[0]).is_file()}


class _UsageError(Exception):
    pass


class _OneLineParser(argparse.ArgumentParser):
    """A bad flag is one line and exit 2, like every other error (argparse prints the whole usage
    block and exits the process, which a caller passing argv does not expect)."""

    def error(self, message: str):
        raise _UsageError(message)


def main(argv: list[str] | None = None) -> int:
    owns_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    available = _available()
    parser = argparse.ArgumentParser(prog="causal-golf", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in available.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in available:
        if argv and argv[0] not in ("-h", "--help"):
            parser.print_help(sys.stderr)
            print(f"causal-golf: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        parser.print_help()
        return 0
    name = argv[0]
    module = importlib.import_module(available[name][0])
    cmd = _OneLineParser(prog=f"causal-golf {name}", description=available[name][1])
    module.add_arguments(cmd)
    try:
        args = cmd.parse_args(argv[1:])
    except _UsageError as e:
        print(f"causal-golf {name}: error: {e} (see causal-golf {name} --help)", file=sys.stderr)
        return 2
    # True when the command runs on this process's own command line (the console script,
    # `python -m causal_core.cli`): it owns the process and may re-exec it (diag's fast BLAS).
    # A caller passing argv (a test, a library) keeps its process.
    args.owns_process = owns_process
    try:
        return int(module.run(args) or 0)
    except CausalGolfError as e:       # CliError and every domain error: one line, exit 2
        print(f"causal-golf {name}: error: {e.for_cli(getattr(module, 'FLAGS', None))}", file=sys.stderr)
        return 2
    except (OSError, UnsafePathError) as e:
        # A full disk, an unwritable or refused path: one line naming it (the writes are atomic,
        # so nothing is half-written), never a traceback.
        print(f"causal-golf {name}: error: {describe(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"causal-golf {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the importable module's main, not __main__'s copy: subcommands raise
    # causal_core.cli.CliError, which __main__.CliError would not catch.
    from causal_core.cli import main as _main
    sys.exit(_main())
