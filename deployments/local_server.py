"""Start and stop a Prefect server on loopback (tests, benchmarks, the work-pool demo).

Users normally run `prefect server start` themselves; this wraps the same command with
the settings measured to matter here: a UI API URL matching the port (else the UI
tries 127.0.0.1:4200), analytics off, and a private PREFECT_HOME when asked.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(port: int, home: str | os.PathLike | None = None) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}/api"
    env = {
        "PREFECT_API_URL": url,
        "PREFECT_UI_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Served deployments and workers pick runs up within a second instead of 10 s.
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    return env


@dataclass
class LocalServer:
    port: int
    proc: subprocess.Popen
    env: dict[str, str]
    log_path: Path

    @property
    def api_url(self) -> str:
        return self.env["PREFECT_API_URL"]

    def stop(self, timeout: float = 20.0) -> None:
        # Ship buffered run logs while the server is still up (else: "Error logging to API").
        if "prefect.logging.handlers" in sys.modules:
            from prefect.logging.handlers import APILogHandler
            APILogHandler().flush()    # drains the process-wide log worker
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_local_server(home: str | os.PathLike, port: int | None = None, timeout: float = 240.0) -> LocalServer:
    # 240 s: a new database is migrated first, which takes minutes on a loaded 2-core machine.
    port = port or free_port()
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    env = server_env(port, home)
    log_path = home / "server.log"
    prefect = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect) if prefect.exists() else "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    server = LocalServer(port, proc, env, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode}; see {log_path}")
        if healthy(server.api_url):
            return server
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"prefect server not healthy after {timeout:.0f} s; see {log_path}")


def start_temporary_api(every_s: float = 10.0) -> None:
    """With no PREFECT_API_URL, start Prefect's temporary API now (the same one a flow would start
    on its first call), saying so every `every_s` s: a first start migrates a new database, which
    takes a minute or more on a loaded machine, and the console should not fall silent meanwhile."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED
    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    from causal_core.ticker import ticking
    print("starting Prefect's temporary API (no PREFECT_API_URL set)", flush=True)
    with ticking("starting Prefect's temporary API; a first start creates its database", every_s):
        SubprocessASGIServer().start()      # the singleton the flow's client reuses
