"""What a user sees of a cycle: while its seeds train, the console says where each run is and the
cycle's progress artifact moves; when it decides, the console says the decision, effect and p;
in the UI, the config and the decision gate are task runs with a state, a duration and retries."""
from __future__ import annotations

import os
import signal
import time

import pytest

from tests.loop_helpers import loop_params, start_loop, tiny_trainer_env

pytestmark = pytest.mark.slow


def test_progress_lines_and_a_moving_progress_artifact(prefect_api, tiny_data_dir, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    # Runs of a few seconds; progress reported every 0.5 s instead of 10 s.
    env = {**tiny_trainer_env(tiny_data_dir), "ITERATIONS": 40, "TRAIN_LOG_EVERY": 1}
    params = loop_params(tmp_path, tiny_data_dir, max_cycles=1, trainer_env=env, budget_mode="steps")
    log = tmp_path / "loop.log"
    proc = start_loop(params, {**prefect_api.env, "CAUSAL_GOLF_PROGRESS_EVERY_S": "0.5"}, log)
    seen: list[float] = []
    try:
        with get_client(sync_client=True) as client:
            flt = ArtifactFilter(key=ArtifactFilterKey(any_=["cycle-1-seed-runs"]))
            while proc.poll() is None:
                for a in client.read_latest_artifacts(artifact_filter=flt):
                    if not seen or seen[-1] != float(a.data):
                        seen.append(float(a.data))
                time.sleep(0.3)
        assert proc.wait() == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = log.read_text()
    # Between the finishes of its 4 runs (0, 25, 50, 75, 100 %) the bar moved with the steps.
    assert any(v not in (0.0, 25.0, 50.0, 75.0, 100.0) for v in seen), seen
    assert "cycle1 treatment seed1: step " in out and " ETA " in out
    assert "cycle1 control seed2: val_bpb " in out
    assert "cycle 1 decided: ema " in out and "effect " in out and "p=" in out
    assert "Traceback" not in out

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    with get_client(sync_client=True) as client:
        loop_run = next(f for f in client.read_flow_runs()
                        if f.parameters.get("results_dir") == params["results_dir"])
        tasks = {t.name: t for t in client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[loop_run.id])))}
    for name in ("cycle1-config", "cycle1-decide"):
        t = tasks[name]
        assert t.state.is_completed() and t.start_time and t.end_time >= t.start_time, name
        assert t.empirical_policy.retries == 2, name
