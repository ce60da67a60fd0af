from __future__ import annotations

import json
import sys

import pytest
from pydantic import ValidationError

from causal_core.cli import main
from causal_core.experiments.config import ExperimentConfig, from_catalog

STUB = "tests/stub_trainer.py"


def test_from_catalog_and_roundtrip(tmp_path, repo_root):
    cfg = from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=[1, 2, 3])
    assert cfg.treatment == {"NUM_LAYERS": 5} and cfg.control == {"NUM_LAYERS": 3}
    assert cfg.condition_env("treatment")["NUM_LAYERS"] == "5"
    assert cfg.condition_env("control")["PRESET"] == "cpu_small"
    cfg.check_runnable()
    p = cfg.save(tmp_path / "c.json")
    again = ExperimentConfig.load(p)
    assert again == cfg and again.experiment_id == cfg.experiment_id
    assert cfg.argv() == [sys.executable, str(repo_root / STUB)]
    assert "treatment" in cfg.run_id("treatment", 3) and cfg.run_id("treatment", 3).endswith("seed3")


@pytest.mark.parametrize("kw, msg", [
    (dict(intervention="nope"), "unknown intervention"),
    (dict(intervention="xsa"), "not actionable"),
    (dict(treatment={"num_layers": 5}), "must match"),
    (dict(treatment={"NUM_LAYERS": [5]}), "treatment"),
    (dict(treatment={"NUM_LAYERS": {"a": 1}}), "treatment"),
    (dict(treatment={"SEED": 1}), "set by the runner"),
    (dict(treatment={"NUM_LAYERS": 3}), "identical"),
    (dict(seeds=[1]), "at least 2"),
    (dict(seeds=[1, 1]), "distinct"),
    (dict(trainer_command=["{python}", "{evil}"]), "unknown placeholder"),
])
def test_bad_configs_refused(kw, msg):
    base = dict(intervention="more_layers", treatment={"NUM_LAYERS": 5}, control={"NUM_LAYERS": 3})
    with pytest.raises(ValidationError, match=msg):
        ExperimentConfig(**{**base, **kw})


def test_torchrun_style_command_checks_its_script(tmp_path):
    cfg = from_catalog("more_layers", trainer=None, workdir=str(tmp_path),
                       trainer_command=["torchrun", "--nproc_per_node=8", "train_gpt.py"])
    with pytest.raises(FileNotFoundError, match="train_gpt.py"):
        cfg.check_runnable()
    (tmp_path / "train_gpt.py").write_text("print('x')\n")
    with pytest.raises(ValueError, match="reads none of NUM_LAYERS"):   # both arms: the same program
        cfg.check_runnable()
    (tmp_path / "train_gpt.py").write_text("import os\nn = int(os.environ.get('NUM_LAYERS', 9))\nprint(n)\n")
    assert cfg.check_runnable() == ["PRESET"]      # set by the config, never read by this script
    assert cfg.argv() == ["torchrun", "--nproc_per_node=8", "train_gpt.py"]


def test_make_config_cli(tmp_path, repo_root, capsys, monkeypatch):
    monkeypatch.chdir(repo_root)
    out = tmp_path / "c.json"
    rc = main(["make-config", "--intervention", "wider_mlp", "--seeds", "1", "2", "--budget-s", "30",
               "--trainer", STUB, "--env", "ITERATIONS=3", "--out", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["seeds"] == [1, 2] and d["budget_s"] == 30 and d["base_env"]["ITERATIONS"] == 3
    for args, msg in ((["--intervention", "nope"], "unknown intervention"),
                      (["--intervention", "gptq"], "not actionable"),
                      (["--intervention", "wider_mlp", "--trainer", "missing.py"], "missing"),
                      (["--intervention", "wider_mlp", "--env", "bad=1"], "must match")):
        assert main(["make-config", *args, "--out", str(tmp_path / "x.json")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


def test_time_budget_step_counts_do_not_make_an_ignored_switch_actuated(tmp_path):
    # Calibrated arms may train different step counts; the switch itself must still be read.
    (tmp_path / "t.py").write_text("import os\nprint(os.environ.get('ITERATIONS'))\n")
    cfg = from_catalog("ema", trainer="t.py", workdir=str(tmp_path), budget_mode="time", time_budget_s=60,
                       base_env={}, arm_steps={"control": 100, "treatment": 97})
    assert cfg.condition_env("treatment")["ITERATIONS"] != cfg.condition_env("control")["ITERATIONS"]
    with pytest.raises(ValueError, match="reads none of EMA_DECAY"):
        cfg.check_runnable()
