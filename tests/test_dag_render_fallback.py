"""An installed but broken Graphviz `dot` (e.g. layout plugins not registered): `causal-golf dag`
draws the DAG with matplotlib and says so in one warning line, instead of a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

from causal_core.dag.synthetic import generate


def test_a_failing_dot_falls_back_to_matplotlib_with_one_warning(tmp_path, repo_root):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dot = bin_dir / "dot"     # a real executable that fails the way a broken install does
    # It reads its input first, as the real one does: exiting unread made the write race into EPIPE.
    dot.write_text("#!/bin/sh\ncat >/dev/null\necho 'Format: \"png\" not recognized. No formats found.' >&2\nexit 1\n")
    dot.chmod(0o755)
    interventions = tmp_path / "interventions.json"
    interventions.write_text(generate(45, seed=3)[0].model_dump_json())
    out = tmp_path / "dag"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run([sys.executable, "-m", "causal_core.cli", "dag", "--interventions", str(interventions),
                        "--out", str(out)], cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # One warning line about dot (matplotlib may add its one-time font-cache notice on a fresh machine).
    lines = [ln for ln in r.stderr.strip().splitlines() if "font cache" not in ln]
    assert len(lines) == 1 and "Graphviz dot failed" in lines[0] and "not recognized" in lines[0], r.stderr
    assert "matplotlib" in lines[0] and "Traceback" not in r.stderr
    assert (out / "dag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "dag.svg").read_text().lstrip().startswith("<?xml")
    assert (out / "dag.json").is_file() and "wrote" in r.stdout
