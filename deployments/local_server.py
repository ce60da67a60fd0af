"""Start and stop a Prefect server on loopback (tests, benchmarks, the work-pool demo).

Users normally run `prefect server start` themselves; this wraps the same command with
the settings measured to matter here: a UI API URL matching the port (else the UI
tries 127.0.0.1:4200), analytics off, and a private PREFECT_HOME when asked.

The server never outlives its parent: on Linux the kernel sends it SIGTERM when the parent
dies, however it dies (prctl PR_SET_PDEATHSIG, set between fork and exec; it fires when
the *thread* that started the server ends, so start it from a long-lived thread), and a
SIGTERM of the parent (or its normal exit) stops the server's whole process group first.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


_running: list["LocalServer"] = []
_installed = False
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int):
    """preexec_fn: SIGTERM this child when its parent dies (Linux; elsewhere the handlers below)."""
    def preexec() -> None:
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:          # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)
    return preexec


def _kill_all(grace_s: float = 5.0) -> None:
    for s in list(_running):
        s.kill(grace_s)


def _on_sigterm(signum, frame) -> None:
    _kill_all()
    signal.signal(signum, signal.SIG_DFL)       # then die of SIGTERM, as without this handler
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_kill_all)
    # Only where nobody else handles SIGTERM, and only from the main thread (signal's rule).
    import threading
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


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

    def kill(self, grace_s: float = 5.0) -> None:
        """End the server's process group now (SIGTERM, then SIGKILL after grace_s)."""
        if self in _running:
            _running.remove(self)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                self.proc.wait(grace_s)
                break
            except subprocess.TimeoutExpired:
                continue

    def stop(self, timeout: float = 20.0) -> None:
        # Ship buffered run logs while the server is still up (else: "Error logging to API").
        if "prefect.logging.handlers" in sys.modules:
            from prefect.logging.handlers import APILogHandler
            APILogHandler().flush()    # drains the process-wide log worker
        self.kill(timeout)


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
    _install_handlers()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
    server = LocalServer(port, proc, env, log_path)
    _running.append(server)
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
