"""The trainer reads as a model first: the Linux-CPU speed plumbing lives in optional sibling
modules, the config is a frozen dataclass built from VARS, and the file stays under the
challenge's 1,500-line cap. Alone (a submission folder holds only train_gpt_mlx.py) it runs."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest
from test_trainer_common import ROOT, SCRIPT, T, tiny_env

from causal_core.run_key import trainer_digest
from causal_core.trainer import TRAINER_SIBLINGS, trainer_code_files

# Run a copy of the trainer as __main__ with the repository off sys.path (the editable
# install puts it there), so the siblings cannot be imported from anywhere.
_ALONE = r"""
import runpy, sys
from pathlib import Path
root = Path(sys.argv[1]).resolve()
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != root]
sys.argv = [sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_trainer_stays_under_the_challenge_cap():
    assert len(SCRIPT.read_text().splitlines()) < 1500


def test_config_is_a_frozen_dataclass_with_one_field_per_variable():
    c = T.load_config(tiny_env(TOKENIZER_PATH="unused.model"))
    assert dataclasses.is_dataclass(c)
    names = [f.name for f in dataclasses.fields(c)]
    assert names[: len(T.VARS)] == [v.name.lower() for v in T.VARS]
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.num_layers = 7
    d = c.replace(NUM_LAYERS=7)
    assert (d.num_layers, c.num_layers, d.values["NUM_LAYERS"]) == (7, 2, 7)
    assert T.Config.from_values(c.to_env(), c.preset).values == c.values      # a checkpoint rebuilds its config


def test_the_trainer_runs_alone_without_its_siblings(tmp_path, tiny_data_dir):
    alone = tmp_path / "submission"
    alone.mkdir()
    shutil.copy(SCRIPT, alone / SCRIPT.name)
    env = {k: v for k, v in os.environ.items() if k not in T.VAR_BY_NAME and k not in ("PRESET", T.BLAS_ENV_MARKER)}
    env.update(tiny_env(tiny_data_dir, tmp_path / "out"))
    r = subprocess.run([sys.executable, "-c", _ALONE, str(ROOT), str(alone / SCRIPT.name)], cwd=alone, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fast_math:0 malloc_tuned:0" in r.stdout
    assert "final_int8_zlib_roundtrip_exact" in r.stdout


def test_alone_the_trainer_refuses_a_diagnostic_switch_in_one_line(tmp_path, tiny_data_dir):
    alone = tmp_path / "submission"
    alone.mkdir()
    shutil.copy(SCRIPT, alone / SCRIPT.name)
    env = {k: v for k, v in os.environ.items() if k not in T.VAR_BY_NAME and k not in ("PRESET", T.BLAS_ENV_MARKER)}
    env.update(tiny_env(tiny_data_dir, tmp_path / "out"), GRAD_NORM_LOG="1", PROBE_MIX="0.5", PROJECT_DIRECTION_LOG_ONLY="0")
    r = subprocess.run([sys.executable, "-c", _ALONE, str(ROOT), str(alone / SCRIPT.name)], cwd=alone, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [
        "train_gpt_mlx: error: GRAD_NORM_LOG, PROBE_MIX set, but the diagnostics module train_gpt_mlx_diag.py "
        "is not next to the trainer; copy it there or unset them"]
    assert not (tmp_path / "out").exists()          # refused before any work: nothing written


def test_the_run_key_covers_the_siblings(tmp_path):
    for name in (SCRIPT.name, *TRAINER_SIBLINGS):
        shutil.copy(ROOT / name, tmp_path / name)
    script = tmp_path / SCRIPT.name
    assert [p.name for p in trainer_code_files(script)] == [SCRIPT.name, *TRAINER_SIBLINGS]
    before = trainer_digest(script)
    fast = tmp_path / TRAINER_SIBLINGS[1]
    fast.write_text(fast.read_text() + "\n# changed\n")
    changed = trainer_digest(script)
    fast.unlink()
    assert len({before, changed, trainer_digest(script)}) == 3
