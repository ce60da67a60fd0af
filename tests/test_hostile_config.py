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


# ---------------------------------------------------------------- refused before any work

def raw_runs_file(tmp_path: Path, treatment=(2.49, 2.492, 2.491)) -> Path:
    from causal_core.experiments.results import RunResult, summarize
    cfg = from_catalog("more_layers", seeds=[1, 2, 3])
    runs = [RunResult(run_id=cfg.run_id(c, s), condition=c, seed=s, status="ok", val_bpb=v,
                      stdout_path="x", stderr_path="y")
            for c, vals in (("control", (2.5, 2.51, 2.505)), ("treatment", treatment)) for s, v in zip((1, 2, 3), vals)]
    p = tmp_path / "exp" / "raw_runs.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(summarize(cfg, runs).model_dump_json())
    return p


@pytest.mark.parametrize("seeds", ["[1]", "[]", "[1,1]", "[-1,2]"])
def test_loop_refuses_seeds_that_cannot_run(capsys, seeds):
    assert main(["loop", "--param", f"seeds={seeds}"]) == 2
    assert "seeds" in one_line_error(capsys)


@pytest.mark.parametrize("seeds", ["1", "1,1", "-1,2"])
def test_approve_refuses_seeds_before_contacting_the_server(capsys, seeds):
    rc = main(["approve", "00000000-0000-0000-0000-000000000000", f"--seeds={seeds}"])
    assert rc == 2 and "seeds" in one_line_error(capsys)


def test_approval_schema_carries_the_seed_rule():
    from flows.approval import ApprovalInput
    seeds = ApprovalInput.model_json_schema()["properties"]["seeds"]["anyOf"][0]
    assert seeds["minItems"] == 2 and seeds["uniqueItems"] is True and seeds["items"]["minimum"] == 0


def test_a_corrupted_plan_is_refused_with_a_clear_line_and_a_bad_one_is_never_saved(tmp_path):
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.state import CyclePlan, PlanError, load_plan, save_plan
    cyc = LoopLayout.at(tmp_path / "results").cycle(1)
    cyc.dir.mkdir(parents=True)
    plan = CyclePlan(cycle=1, intervention="ema", why="test")
    with pytest.raises(PlanError, match="seeds"):
        save_plan(cyc, plan.model_copy(update={"seeds": [1], "approved_by": "cli"}))
    assert not (cyc.dir / "plan.json").exists()
    (cyc.dir / "plan.json").write_text(json.dumps({**plan.model_dump(), "seeds": [1], "approved_by": "cli"}))
    with pytest.raises(PlanError, match=r"plan\.json: .*at least 2 seeds.*delete it"):
        load_plan(cyc)


@pytest.mark.parametrize("opt, msg", [(["--alpha", "2"], "alpha"), (["--alpha", "0"], "alpha"),
                                      (["--mde", "-1"], "MDE"), (["--mde", "nan"], "MDE"),
                                      (["--bootstrap", "-5"], "bootstrap")])
def test_analyze_refuses_options_out_of_range(tmp_path, capsys, opt, msg):
    raw = raw_runs_file(tmp_path)
    assert main(["analyze", str(raw), *opt]) == 2
    assert msg in one_line_error(capsys)
    assert not (raw.parent / "stats.json").exists()


def test_analyze_refuses_nan_scores(tmp_path, capsys):
    raw = raw_runs_file(tmp_path)
    obj = json.loads(raw.read_text())
    obj["runs"][1]["val_bpb"] = math.nan
    raw.write_text(json.dumps(obj))                      # Python writes NaN, as a careless writer would
    assert main(["analyze", str(raw), "--bootstrap", "0"]) == 2
    assert "not a finite number" in one_line_error(capsys)
    assert not (raw.parent / "stats.json").exists()


def stub_config(tmp_path: Path, repo_root: Path) -> Path:
    cfg = from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=[1, 2],
                       base_env={"ITERATIONS": 2}, budget_s=30)
    return cfg.save(tmp_path / "c.json")


@pytest.mark.parametrize("n", ["-1", "0"])
def test_run_experiment_max_parallel_below_one_is_refused(tmp_path, repo_root, capsys, n):
    rc = main(["run-experiment", str(stub_config(tmp_path, repo_root)), "--out", str(tmp_path / "o"),
               "--max-parallel", n])
    assert rc == 2 and "--max-parallel must be at least 1" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad", ["folder", "corrupt", "object"])
def test_a_bad_experiment_log_is_refused_before_the_first_run(tmp_path, repo_root, capsys, bad):
    log = tmp_path / "log.json"
    if bad == "folder":
        log.mkdir()
    else:
        log.write_text('[{"entry_id": "x"' if bad == "corrupt" else '{"a": 1}')
    rc = main(["run-experiment", str(stub_config(tmp_path, repo_root)), "--out", str(tmp_path / "o"),
               "--experiment-log", str(log)])
    assert rc == 2 and "log.json" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()         # no config.json, no run


def test_a_trainer_command_that_cannot_start_is_refused_before_config_json(tmp_path, repo_root, capsys):
    cfg = from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=[1, 2],
                       trainer_command=["torchrun-not-installed", "--nproc_per_node=8", STUB])
    cfg.save(tmp_path / "c.json")
    assert main(["run-experiment", str(tmp_path / "c.json"), "--out", str(tmp_path / "o")]) == 2
    assert "torchrun-not-installed" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()
