"""The approval pause: resumed with typed input through the API (approve with an
override, stop), invalid input rejected, and the timeout's default action."""
from __future__ import annotations

import json
import signal
import os

import pytest

from tests.loop_helpers import loop_params, start_loop, wait_for

pytestmark = pytest.mark.slow


def _paused_run(results_dir: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for fr in client.read_flow_runs():
            if fr.parameters.get("results_dir") == results_dir and fr.state and fr.state.is_paused():
                return fr
    return None


def _run_loop(prefect_api, tmp_path, data, **kw):
    params = loop_params(tmp_path, data, auto_approve=False, first_intervention=None, **kw)
    proc = start_loop(params, prefect_api.env, tmp_path / "loop.log")
    return params, proc


def _finish(proc, tmp_path, timeout=240):
    try:
        rc = proc.wait(timeout)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert rc == 0, (tmp_path / "loop.log").read_text()[-3000:]
    return json.loads((tmp_path / "results" / "final_report.json").read_text())


def test_approve_with_an_override_then_stop(prefect_api, tiny_data_dir, tmp_path):
    from prefect.flow_runs import resume_flow_run

    params, proc = _run_loop(prefect_api, tmp_path, tiny_data_dir, max_cycles=3, stop_on_confirmed=False)
    fr = wait_for(lambda: _paused_run(params["results_dir"]), 120, "the first approval pause")

    # The Resume form: the proposal as its description, its fields pre-filled with it, no `by`.
    from prefect.client.orchestration import get_client
    keys = fr.state.state_details.run_input_keyset
    with get_client(sync_client=True) as client:
        card = json.loads(client.read_flow_run_input(fr.id, keys["description"]))
        schema = json.loads(client.read_flow_run_input(fr.id, keys["schema"]))
    proposed = schema["properties"]["intervention"]["default"]
    assert f"proposes `{proposed}`" in card and "expected effect" in card and "4 training runs" in card
    assert "why" in card and "dag.png" in card
    assert schema["properties"]["seeds"]["default"] == [1, 2] and schema["properties"]["budget_s"]["default"] == 60
    assert schema["properties"]["action"]["default"] == "approve" and "by" not in schema["properties"]

    # Invalid input (not an actionable intervention) is rejected; the run stays paused.
    with pytest.raises(Exception):
        resume_flow_run(fr.id, run_input={"action": "approve", "intervention": "test_time_training"})
    assert _paused_run(params["results_dir"]) is not None
    # Seeds the paired test cannot use are refused by the server (the schema carries the rule):
    # nothing reaches plan.json, and the run stays paused.
    with pytest.raises(Exception):
        resume_flow_run(fr.id, run_input={"action": "approve", "seeds": [1]})
    assert _paused_run(params["results_dir"]) is not None

    resume_flow_run(fr.id, run_input={"action": "approve", "intervention": "grad_clip", "by": "api"})
    wait_for(lambda: (tmp_path / "results" / "cycle_1" / "experiment" / "stats.json").is_file(), 180, "cycle 1")
    fr2 = wait_for(lambda: _paused_run(params["results_dir"]), 120, "the second approval pause")
    resume_flow_run(fr2.id, run_input={"action": "stop", "by": "api"})
    report = _finish(proc, tmp_path)

    plan = json.loads((tmp_path / "results" / "cycle_1" / "plan.json").read_text())
    assert plan["intervention"] == "grad_clip" and plan["source"] == "approver" and plan["approved_by"] == "api"
    assert report["stop_reason"] == "stopped by the approver"
    assert [r["intervention"] for r in report["experiments"]] == ["grad_clip"]


def test_approval_timeout_applies_the_default_action_without_failing_the_run(prefect_api, tiny_data_dir, tmp_path):
    from prefect.client.orchestration import get_client

    params, proc = _run_loop(prefect_api, tmp_path, tiny_data_dir, approval_timeout_s=2, on_timeout="stop")
    report = _finish(proc, tmp_path, timeout=120)
    assert report["stop_reason"] == "approval timed out: on_timeout=stop"
    assert report["cycles"] == 0
    with get_client(sync_client=True) as client:
        runs = [fr for fr in client.read_flow_runs() if fr.parameters.get("results_dir") == params["results_dir"]]
    assert runs and all(fr.state.is_completed() for fr in runs)
