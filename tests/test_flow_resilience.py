"""A seed killed mid-run is retried; a crashed loop resumes from its results directory
without re-running finished seeds and without duplicated or lost log entries."""
from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from tests.loop_helpers import loop_params, start_loop, wait_for

pytestmark = pytest.mark.slow


def _kill_first_seed(runs_dir: Path, killed: list[str], stop: threading.Event) -> None:
    """SIGKILL the first trainer whose pid file appears, once (a real crash, not a mock)."""
    while not stop.is_set() and not killed:
        for pid_file in sorted(runs_dir.glob("*.pid")):
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
                killed.append(pid_file.stem)
                return
            except (ValueError, ProcessLookupError, PermissionError):
                continue
        stop.wait(0.05)


def test_a_killed_seed_is_retried_and_the_cycle_completes(prefect_api, tiny_data_dir, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.cycle_loop import cycle_loop

    params = loop_params(tmp_path, tiny_data_dir, max_cycles=1, seed_retries=1)
    runs_dir = tmp_path / "results" / "cycle_1" / "experiment" / "runs"
    killed: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_first_seed, args=(runs_dir, killed, stop), daemon=True)
    watcher.start()
    try:
        report = cycle_loop(**params)
    finally:
        stop.set()
    assert killed, "no trainer process was killed"
    stats = json.loads((tmp_path / "results" / "cycle_1" / "experiment" / "stats.json").read_text())
    assert stats["n_pairs"] == 2 and not stats["reduced_power"]     # the retry recovered the seed
    assert report["cycles"] == 1
    run_id = killed[0]
    result = json.loads((runs_dir / f"{run_id}.result.json").read_text())
    assert result["status"] == "ok"
    with get_client(sync_client=True) as client:
        cond, seed = run_id.rsplit("-", 2)[-2:]
        task_name = f"cycle1-{cond}-{seed}"
        attempts = [t.run_count for t in client.read_task_runs() if t.name == task_name]
    assert max(attempts) == 2


def test_a_crashed_loop_resumes_without_rerunning_or_duplicating(prefect_api, tiny_data_dir, tmp_path):
    from flows.cycle_loop import cycle_loop

    params = loop_params(tmp_path, tiny_data_dir, max_cycles=2, stop_on_confirmed=False)
    results = tmp_path / "results"
    proc = start_loop(params, prefect_api.env, tmp_path / "loop.log")
    try:
        # Crash (SIGKILL, no clean-up) once cycle 1 is finished and cycle 2 has a finished seed.
        wait_for(lambda: (results / "cycle_1" / "record.json").is_file()
                 and any((results / "cycle_2" / "experiment" / "runs").glob("*.result.json")), 240, "cycle 2 seeds")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {p.name: json.loads(p.read_text())["started_at"]
              for p in results.glob("cycle_*/experiment/runs/*.result.json")
              if json.loads(p.read_text())["status"] == "ok"}
    log_before = json.loads((results / "experiment_log.json").read_text())
    assert len(log_before) == 1

    report = cycle_loop(**params)

    assert report["stop_reason"] == "2 cycles done"
    after = {p.name: json.loads(p.read_text())["started_at"] for p in results.glob("cycle_*/experiment/runs/*.result.json")}
    for name, started in before.items():
        assert after[name] == started, f"{name} was re-run"
    log = json.loads((results / "experiment_log.json").read_text())
    assert len(log) == 2 and len({e["entry_id"] for e in log}) == 2
    assert log[0] == log_before[0]
    assert len(list((tmp_path / "records").rglob("submission.json"))) == 2
