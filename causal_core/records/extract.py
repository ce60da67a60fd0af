"""`causal-golf extract`: record folders -> interventions.json (atomic)."""
from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from pathlib import Path

from causal_core.atomic import atomic_write_text
from causal_core.cli import CliError
from causal_core.one_line import describe
from causal_core.safe_paths import check_output_file, first_missing
from causal_core.records.pipeline import RecordsError, extract_records


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", action="append", required=True, type=Path, metavar="DIR",
                   help="a records root (repeatable); record ids are paths relative to it")
    p.add_argument("--out", required=True, type=Path, help="interventions.json to write")
    p.add_argument("--append-experiment", type=Path, metavar="EXPERIMENT",
                   help="first write a record folder for this experiment (its folder, e.g. "
                        "results/causal/cycle_1/experiment, or its raw_runs.json) into the LAST --records root")


def _append_experiment(raw: Path, records_dir: Path) -> tuple[Path, Path | None]:
    """Write the experiment's record folder; returns it and the topmost folder this call created."""
    # Lazy: the experiments package is optional for extraction itself.
    try:
        mod = importlib.import_module("causal_core.experiments.record_writer")
        writer, where = mod.write_experiment_record, mod.experiment_record_folder
    except (ImportError, AttributeError) as e:
        raise CliError("--append-experiment needs causal_core.experiments.record_writer."
                       f"write_experiment_record, which is not available ({e})") from None
    if not (raw / "raw_runs.json" if raw.is_dir() else raw).is_file():
        raise CliError(f"{raw}: no raw result (an experiment folder with raw_runs.json, or that file) found")
    try:       # raw_runs.json comes from another machine: truncated, crafted or not ours
        folder = where(raw, records_dir)
        created = first_missing(folder)
        return Path(writer(raw, records_dir)), created
    except ValueError as e:     # pydantic's ValidationError, json errors and UnsafePathError are ValueErrors
        raise CliError(f"{raw}: not a usable raw result ({describe(e)})") from None


def run(args: argparse.Namespace) -> int:
    roots = list(args.records)
    check_output_file(args.out, "--out")
    appended = None
    if args.append_experiment is not None:
        folder, appended = _append_experiment(args.append_experiment, roots[-1])
        print(f"wrote experiment record {folder}", file=sys.stderr)
    try:
        result = extract_records(roots)
        atomic_write_text(args.out, result.model_dump_json(indent=2) + "\n")
    except BaseException as e:
        if appended is not None:     # nothing half-done: the new record folder goes with the failed run
            shutil.rmtree(appended, ignore_errors=True)
        if isinstance(e, RecordsError):
            raise CliError(str(e)) from None
        raise
    cov = result.field_coverage
    print(f"{len(result.records)} records, {len(result.skipped)} skipped -> {args.out}; coverage "
          + " ".join(f"{k}={cov[k]:.3f}" for k in ("val_bpb", "name", "date", "interventions", "all_four")))
    for s in result.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    return 0
