"""`causal-golf loop`: run the cycle-loop flow in this process (no deployment needed).

Against PREFECT_API_URL when set (a running server: watch it in the UI), else an
ephemeral local API that Prefect starts for the run.
"""
from __future__ import annotations

import argparse
import json

from causal_core.cli import CliError
from causal_core.loop.params import LoopParams, validate_params


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", help="JSON object of flow parameters (see README: cycle-loop parameters)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="one parameter; VALUE is parsed as JSON when it can be (repeatable)")


def parse_params(params_json: str | None, pairs: list[str]) -> dict:
    raw: dict = {}
    if params_json:
        try:
            raw = json.loads(params_json)
        except json.JSONDecodeError as e:
            raise CliError(f"--params is not valid JSON: {e}") from None
        if not isinstance(raw, dict):
            raise CliError("--params must be a JSON object")
    for kv in pairs:
        key, sep, value = kv.partition("=")
        if not sep:
            raise CliError(f"--param expects KEY=VALUE (got {kv!r})")
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raw[key] = value
    unknown = set(raw) - set(LoopParams.model_fields)
    if unknown:
        raise CliError(f"unknown loop parameter(s): {', '.join(sorted(unknown))}")
    try:
        validate_params(raw)
    except ValueError as e:
        raise CliError(str(e)) from None
    return raw


def run(args: argparse.Namespace) -> int:
    raw = parse_params(args.params, args.param)
    from causal_core.loop.state import PlanError
    from flows.cycle_loop import cycle_loop
    try:
        report = cycle_loop(**raw)
    except PlanError as e:      # a plan.json that cannot run: one line, not a traceback per resume
        raise CliError(str(e)) from None
    print(f"stopped: {report['stop_reason']}; final report: {report['results_dir']}/final_report.md")
    return 0
