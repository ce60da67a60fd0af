"""Processes: a rerun never trains a run while an earlier attempt still does, a rerun updates
its experiment's log entry in place, and the local Prefect server dies with its parent.
Real processes throughout (tests/stub_trainer.py as the trainer, SIGKILL as the crash)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from causal_core.cli import main
from causal_core.experiments.config import from_catalog
from causal_core.experiments.run_owner import run_processes
from causal_core.experiments.runner import run_experiment

STUB = "tests/stub_trainer.py"
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc (Linux)")


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (v := pred()):
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def config(tmp_path: Path, repo_root: Path, **env):
    cfg = from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=[1, 2], budget_s=60,
                       base_env={"ITERATIONS": 40, "STUB_SLEEP": 0.1, "STUB_TRACE": str(tmp_path / "trace.txt"), **env},
                       threads_per_run=1, max_parallel=4)
    cfg.save(tmp_path / "c.json")
    return cfg


def start_runner(tmp_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "causal_core.cli", "run-experiment", str(tmp_path / "c.json"),
           "--out", str(tmp_path / "exp")]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def trace(tmp_path: Path) -> list[tuple[str, int, int]]:
    lines = (tmp_path / "trace.txt").read_text().split("\n") if (tmp_path / "trace.txt").exists() else []
    return [(a, int(b.split("=")[1]), int(c.split("=")[1])) for a, b, c in (ln.split() for ln in lines if ln)]


def pid_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "exp" / "runs").glob("*.pid"))


def test_rerun_after_a_runner_sigkill_ends_its_leftover_trainers_first(tmp_path, repo_root, capsys):
    cfg = config(tmp_path, repo_root, ITERATIONS=150)         # 15 s: still training when the rerun starts
    runs = tmp_path / "exp" / "runs"
    proc = start_runner(tmp_path)
    try:
        wait_for(lambda: len(trace(tmp_path)) == 4, 180, "all four trainers to start")
    finally:
        proc.kill()                        # -9 the runner only: its trainers live on in their own sessions
        proc.wait()
    ids = [cfg.run_id(c, s) for s in cfg.seeds for c in ("control", "treatment")]
    leftover = {rid: run_processes(int((runs / f"{rid}.pid").read_text()), rid, runs.resolve()) for rid in ids}
    assert all(leftover.values()), "the trainers should have outlived the killed runner"

    assert main(["run-experiment", str(tmp_path / "c.json"), "--out", str(tmp_path / "exp")]) == 0
    assert capsys.readouterr().err.count("left running by an earlier, killed runner") == 4
    t = trace(tmp_path)
    assert len(t) == 8 and sorted(r for r, _, _ in t[4:]) == sorted(ids)
    assert all(others == 0 for _, _, others in t), t          # no run ever trained twice at once
    assert not any(Path(f"/proc/{p}").exists() for pids in leftover.values() for p in pids)
    raw = json.loads((tmp_path / "exp" / "raw_runs.json").read_text())
    assert all(r["status"] == "ok" for r in raw["runs"])


def test_a_second_live_runner_waits_and_trains_nothing_twice(tmp_path, repo_root):
    config(tmp_path, repo_root)
    proc = start_runner(tmp_path)
    try:
        wait_for(lambda: len(trace(tmp_path)) == 4, 180, "all four trainers to start")
        assert main(["run-experiment", str(tmp_path / "c.json"), "--out", str(tmp_path / "exp")]) == 0
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(trace(tmp_path)) == 4                       # the second runner reused the first one's results
    assert len(json.loads((tmp_path / "experiment_log.json").read_text())) == 1


def test_a_rerun_that_finishes_a_failed_seed_updates_the_log_entry_in_place(tmp_path, repo_root):
    cfg = config(tmp_path, repo_root)
    log = tmp_path / "experiment_log.json"
    log.write_text(json.dumps([{"entry_id": "earlier"}]))
    victim = tmp_path / "exp" / "runs" / f"{cfg.run_id('treatment', 2)}.pid"
    import threading
    t = threading.Thread(target=lambda: wait_for(victim.exists, 30, "the pid file") and
                         os.killpg(int(victim.read_text()), signal.SIGKILL))
    t.start()
    first = run_experiment(cfg, tmp_path / "exp", log)
    t.join()
    assert first.conditions["treatment"].failed_seeds == [2]
    entries = json.loads(log.read_text())
    assert len(entries) == 2 and entries[1]["conditions"]["treatment"]["failed_seeds"] == [2]
    second = run_experiment(cfg, tmp_path / "exp", log)
    assert second.conditions["treatment"].status == "ok"
    entries = json.loads(log.read_text())
    assert [e["entry_id"] for e in entries][0] == "earlier" and len(entries) == 2
    assert entries[1]["conditions"]["treatment"]["failed_seeds"] == []


# ---------------------------------------------------------------- the local Prefect server

PARENT = """
import sys, time
sys.path.insert(0, {root!r})
from deployments.local_server import start_local_server
s = start_local_server({home!r}, timeout=300)
print(s.proc.pid, s.port, flush=True)
time.sleep(600)
"""


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_local_server_dies_with_its_parent(tmp_path, sig):
    code = PARENT.format(root=str(ROOT), home=str(tmp_path / "home"))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        line = parent.stdout.readline()
        assert line, "the parent did not start a server"
        server_pid, port = map(int, line.split())
        assert group_alive(server_pid)
        parent.send_signal(sig)
        parent.wait(30)
        wait_for(lambda: not group_alive(server_pid), 30, "the server's process group to end")
        import socket
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0          # nothing listens any more
    finally:
        if parent.poll() is None:
            parent.kill()
        with __import__("contextlib").suppress(Exception):
            os.killpg(server_pid, signal.SIGKILL)
