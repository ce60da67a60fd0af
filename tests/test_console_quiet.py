"""A flow on Prefect's temporary server (what `causal-golf main` gets without PREFECT_API_URL)
prints no traceback. The server's telemetry heartbeat used to lose a SQLite write race at
startup and print ~130 lines of "database is locked"; pyproject.toml's [tool.prefect.server]
turns analytics off for every Prefect process started from the repo root."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

FLOW = """
from prefect import flow, task

@task
def square(i):
    return i * i

@flow
def tiny():
    return sum(square.map(range(4)).result())

print("result", tiny())
"""


@pytest.mark.slow
def test_temporary_server_run_prints_no_traceback(repo_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect_home")    # a fresh database, as on a fresh clone
    proc = subprocess.run([sys.executable, "-c", FLOW], cwd=repo_root, env=env,
                          capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "result 14" in out
    assert "Starting temporary server" in out       # really ran on the temporary server
    assert "Traceback" not in out, out
    assert "database is locked" not in out, out
