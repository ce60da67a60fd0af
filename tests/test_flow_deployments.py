"""The deployment as a user runs it: `causal-golf serve` + `prefect deployment run
cycle-loop/cycle-loop`; `prefect deploy --all` (prefect.yaml) + a process worker; and seed
runs scaled out to two workers of a work pool."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loop_helpers import ROOT, loop_params, wait_for

pytestmark = pytest.mark.slow
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _spawn(cmd, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(*procs) -> None:
    # Stop serve processes and workers before the server: without a server they ignore SIGTERM.
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _deployment_exists(name: str) -> bool:
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
            return True
        except Exception:
            return False


def _finished_run(results_dir: str):
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        for fr in client.read_flow_runs():
            if fr.parameters.get("results_dir") == results_dir and fr.state and fr.state.is_final():
                return fr
    return None


def test_served_deployment_runs_from_the_prefect_cli(prefect_api, tiny_data_dir, tmp_path):
    serve = _spawn([sys.executable, "-m", "causal_core.cli", "serve"], prefect_api.env, tmp_path / "serve.log")
    try:
        wait_for(lambda: _deployment_exists("cycle-loop/cycle-loop"), 90, "the served deployment")
        params = loop_params(tmp_path, tiny_data_dir, max_cycles=1)
        overrides = {k: v for k, v in params.items() if k not in ("auto_approve", "max_cycles")}
        r = subprocess.run([PREFECT, "deployment", "run", "cycle-loop/cycle-loop", "--params", json.dumps(overrides),
                            "--param", "auto_approve=true", "--param", "max_cycles=1"],
                           cwd=ROOT, env={**os.environ, **prefect_api.env}, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        fr = wait_for(lambda: _finished_run(params["results_dir"]), 240, "the deployment's flow run")
        assert fr.state.is_completed(), (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        _stop(serve)
    report = json.loads((tmp_path / "results" / "final_report.json").read_text())
    assert report["stop_reason"] == "1 cycles done" and report["experiments"][0]["intervention"] == "ema"


def test_seed_runs_scale_out_to_two_workers_of_a_work_pool(prefect_api, tiny_data_dir, tmp_path):
    from deployments.work_pool import deploy_train_seed
    from flows.cycle_loop import cycle_loop

    pool = "test-seeds"
    deploy_train_seed(pool)
    logs = [tmp_path / f"worker_{w}.log" for w in "ab"]
    workers = [_spawn([PREFECT, "worker", "start", "--pool", pool, "--name", f"w{w}", "--limit", "2"],
                      prefect_api.env, log) for w, log in zip("ab", logs)]
    try:
        params = loop_params(tmp_path, tiny_data_dir, max_cycles=1, dispatch="work-pool", seeds=[1, 2, 3],
                             max_parallel=4)
        report = cycle_loop(**params)
    finally:
        _stop(*workers)
    stats = json.loads((tmp_path / "results" / "cycle_1" / "experiment" / "stats.json").read_text())
    assert stats["n_pairs"] == 3 and report["cycles"] == 1
    # Each worker picked up seed runs (Prefect logs the flow runs it submits).
    for log in logs:
        assert "submitting flow run" in log.read_text().lower() or "cycle1-" in log.read_text(), log.read_text()[-2000:]


def test_prefect_deploy_all_and_a_process_worker_run_the_loop(prefect_api, tiny_data_dir, tmp_path):
    """prefect.yaml: the deployments outlive `prefect deploy`; one process worker runs the
    loop and, with dispatch=work-pool, its seed runs (train-seed) too."""
    from prefect.client.orchestration import get_client

    pool = "deploy-all-pool"
    env = {**prefect_api.env, "PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME": pool}
    for cmd in ([PREFECT, "work-pool", "create", pool, "--type", "process"], [PREFECT, "deploy", "--all"]):
        r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    with get_client(sync_client=True) as client:     # `prefect deploy` has exited: they live on the server
        for name in ("cycle-loop/cycle-loop", "train-seed/train-seed"):
            dep = client.read_deployment_by_name(name)
            assert dep.work_pool_name == pool, name
            assert dep.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    worker = _spawn([PREFECT, "worker", "start", "--pool", pool, "--name", "solo"], env, tmp_path / "worker.log")
    try:
        params = loop_params(tmp_path, tiny_data_dir, max_cycles=1, dispatch="work-pool")
        r = subprocess.run([PREFECT, "deployment", "run", "cycle-loop/cycle-loop", "--params", json.dumps(params)],
                           cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        fr = wait_for(lambda: _finished_run(params["results_dir"]), 600, "the deployed loop's flow run")
        assert fr.state.is_completed(), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        _stop(worker)
    report = json.loads((tmp_path / "results" / "final_report.json").read_text())
    assert report["stop_reason"] == "1 cycles done" and report["experiments"][0]["intervention"] == "ema"
    with get_client(sync_client=True) as client:     # the seed runs were train-seed runs of the worker
        seed_dep = client.read_deployment_by_name("train-seed/train-seed")
        seed_runs = [f for f in client.read_flow_runs() if f.deployment_id == seed_dep.id
                     and f.parameters.get("out_dir", "").startswith(str(tmp_path))]
    # Two conditions x 2 seeds; a seed run the loop retried (seed_retries) shows twice, its last try completed.
    by_run = {}
    for f in seed_runs:
        by_run.setdefault((f.parameters["condition"], f.parameters["seed"]), []).append(f)
    assert len(by_run) == 4 and all(any(f.state.is_completed() for f in tries) for tries in by_run.values())
