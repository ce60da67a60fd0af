"""Configs cannot run code, and what cannot run is refused before any work (one line, exit 2)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from causal_core.cli import main
from causal_core.env_policy import refused
from causal_core.experiments.config import from_catalog
from causal_core.loop.params import validate_params

STUB = "tests/stub_trainer.py"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES",
                                  "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE",
                                  "BASH_ENV", "ENV", "PERL5OPT", "NODE_OPTIONS", "GCONV_PATH", "MALLOC_CHECK_",
                                  "GLIBC_TUNABLES", "PATH"])
def test_make_config_refuses_loader_and_startup_variables(tmp_path, capsys, name):
    out = tmp_path / "c.json"
    rc = main(["make-config", "--intervention", "more_layers", "--env", f"{name}=/tmp/evil",
               "--no-check-trainer", "--out", str(out)])
    assert rc == 2 and name in one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("name", ["PYTHONHASHSEED", "PYTHONUNBUFFERED", "OMP_NUM_THREADS", "DATA_PATH", "NUM_LAYERS"])
def test_tuning_variables_stay_allowed(name):
    assert not refused(name)


def test_a_config_file_with_pythonpath_never_reaches_a_trainer(tmp_path, repo_root, capsys):
    """A real payload: sitecustomize.py on PYTHONPATH would run in every trainer and leave a mark."""
    payload = tmp_path / "payload"
    payload.mkdir()
    mark = tmp_path / "pwned"
    (payload / "sitecustomize.py").write_text(f"open({str(mark)!r}, 'w').write('ran')\n")
    cfg = json.loads(from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=[1, 2],
                                  base_env={"ITERATIONS": 2}, budget_s=30).model_dump_json())
    cfg["base_env"]["PYTHONPATH"] = str(payload)          # hand-edited after make-config
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    rc = main(["run-experiment", str(tmp_path / "c.json"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "PYTHONPATH" in one_line_error(capsys)
    assert not mark.exists() and not (tmp_path / "o").exists()


def test_loop_trainer_env_refuses_ld_preload():
    with pytest.raises(ValueError, match="trainer_env.*LD_PRELOAD"):
        validate_params({"trainer_env": {"LD_PRELOAD": "/tmp/evil.so", "NUM_LAYERS": 4}})
    assert validate_params({"trainer_env": {"NUM_LAYERS": 4}}).trainer_env == {"NUM_LAYERS": 4}


def test_loop_cli_refuses_trainer_env_before_any_work(capsys):
    assert main(["loop", "--param", 'trainer_env={"PYTHONSTARTUP": "/tmp/x.py"}']) == 2
    assert "PYTHONSTARTUP" in one_line_error(capsys)
