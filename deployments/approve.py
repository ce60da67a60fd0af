"""`causal-golf approve FLOW_RUN_ID`: answer a paused cycle-loop from the command line."""
from __future__ import annotations

import argparse
import uuid

from causal_core.cli import CliError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("flow_run_id", help="the paused cycle-loop run (shown in the UI and the flow's log)")
    p.add_argument("--stop", action="store_true", help="stop the loop instead of approving the next cycle")
    p.add_argument("--intervention", help="test this intervention instead of the proposal")
    p.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3")
    p.add_argument("--budget-s", type=float, help="per-run wall-clock budget in seconds")
    p.add_argument("--drop-arms", help="comma-separated arms to remove from a screening or multi-arm proposal")
    p.add_argument("--add-arm", help="an intervention to add as one more arm")


def run(args: argparse.Namespace) -> int:
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run
    from pydantic import ValidationError

    from flows.approval import ApprovalInput

    try:
        run_id = uuid.UUID(args.flow_run_id)
    except ValueError:
        raise CliError(f"not a flow run id: {args.flow_run_id!r}") from None
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    except ValueError:
        raise CliError(f"--seeds must be comma-separated integers (got {args.seeds!r})") from None
    try:
        drop = [a.strip() for a in args.drop_arms.split(",") if a.strip()] if args.drop_arms else None
        answer = ApprovalInput(action="stop" if args.stop else "approve", intervention=args.intervention,
                               seeds=seeds, budget_s=args.budget_s, drop_arms=drop, add_arm=args.add_arm, by="cli")
    except ValidationError as e:
        err = e.errors()[0]
        raise CliError(f"{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r})") from None
    with get_client(sync_client=True) as client:
        try:
            fr = client.read_flow_run(run_id)
        except Exception as e:
            raise CliError(f"cannot read flow run {run_id}: {e}") from None
        if fr.state is None or not fr.state.is_paused():
            raise CliError(f"flow run {run_id} is not paused (state: {fr.state.name if fr.state else 'none'})")
    resume_flow_run(run_id, run_input=answer.model_dump(exclude_none=True))
    print(f"{answer.action} sent to {run_id}" + (f" (intervention {answer.intervention})" if answer.intervention else ""))
    return 0
