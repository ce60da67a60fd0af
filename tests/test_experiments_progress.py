"""Live progress while a trainer runs: the runner reads its stdout and reports step, loss and ETA."""
from __future__ import annotations

import pytest

from causal_core.cli import main
from causal_core.experiments.config import from_catalog
from causal_core.experiments.progress import RunProgress, fmt_duration
from causal_core.experiments.runner import run_one

STUB = "tests/stub_trainer.py"


def _cfg(repo_root, iters=12, sleep=0.25):
    return from_catalog("more_layers", trainer=STUB, workdir=str(repo_root), seeds=[1, 2], cycle=3,
                        base_env={"ITERATIONS": iters, "STUB_SLEEP": sleep}, budget_s=60, threads_per_run=1,
                        max_parallel=2)


def test_a_run_reports_step_loss_and_eta_while_it_trains(tmp_path, repo_root, monkeypatch):
    monkeypatch.setenv("CAUSAL_GOLF_PROGRESS_EVERY_S", "0.5")
    seen: list[RunProgress] = []
    r = run_one(_cfg(repo_root), "treatment", 2, tmp_path, on_progress=seen.append)
    assert r.complete
    training = [p for p in seen if p.phase == "training"]
    assert len(training) >= 2, seen                          # several reports during a ~3 s run
    assert all(p.label == "cycle3 treatment seed2" and p.total == 12 for p in training)
    assert training[0].step < training[-1].step < 12        # the step moves
    assert all(p.eta_s is not None and p.eta_s > 0 and 0 < p.fraction < 1 for p in training)
    assert training[-1].train_loss == pytest.approx(4.0 - training[-1].step * 0.1)
    assert seen[-1].phase == "finished" and seen[-1].step == 12 and seen[-1].fraction == 1.0
    line = training[-1].line()
    assert line.startswith(f"cycle3 treatment seed2: step {training[-1].step}/12 loss ") and " ETA " in line


def test_a_run_that_prints_nothing_yet_still_reports(tmp_path, repo_root, monkeypatch):
    monkeypatch.setenv("CAUSAL_GOLF_PROGRESS_EVERY_S", "0.3")
    seen: list[RunProgress] = []
    # One slow first step: the first reports come before any step line.
    run_one(_cfg(repo_root, iters=2, sleep=1.2), "control", 1, tmp_path, on_progress=seen.append)
    assert seen[0].phase == "starting" and seen[0].line().startswith("cycle3 control seed1: starting (")


def test_run_experiment_cli_prints_progress_lines(tmp_path, repo_root, monkeypatch, capsys):
    monkeypatch.setenv("CAUSAL_GOLF_PROGRESS_EVERY_S", "0.5")
    cfg = _cfg(repo_root, iters=8, sleep=0.3)
    cfg.save(tmp_path / "config.json")
    assert main(["run-experiment", str(tmp_path / "config.json"), "--out", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    assert "cycle3 control seed1: step " in out and "cycle3 treatment seed2: step " in out and " ETA " in out


def test_durations_read_like_a_clock():
    assert [fmt_duration(s) for s in (0, 59.4, 80, 3600, None)] == ["0s", "59s", "1m20s", "60m00s", "?"]
