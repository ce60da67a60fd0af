"""The cycle-loop pointed at the challenge's own train_gpt_mlx.py, unchanged (LoopParams.trainer).

The loop must only propose what that script actuates (read from its source), build its
arms with the script's own variables (the challenge-baseline profile), and run it through
the real flow with a time budget calibrated from the script's own step lines.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from causal_core.loop.params import validate_params
from causal_core.loop.target import resolve_target
from tests.loop_helpers import loop_params
# The same script and data fixtures as the runner's foreign-trainer tests (imported, so pytest shares them).
from tests.test_foreign_trainer import TINY, challenge_mlx, small_val_data  # noqa: F401


def _params(tmp_path, data, script, **kw) -> dict:
    # 2 layers of 32: a step in well under a second on one core (the script's default is 9 x 512).
    env = {**TINY, "NUM_LAYERS": 2, "MODEL_DIM": 32}
    p = loop_params(tmp_path, data, trainer=str(script), trainer_env=env, first_intervention=None)
    p.update(kw)
    return p


def test_the_target_is_what_the_script_reads(challenge_mlx, shared_dir):
    t = resolve_target(str(challenge_mlx))
    assert t.profile == "challenge-baseline" and not t.ours and not t.reads_preset
    assert len(t.switches) == 9 and "ema" not in t.switches
    assert t.sides("more_layers") == ({"NUM_LAYERS": 10}, {"NUM_LAYERS": 9})     # the script's own scale
    assert t.command[1:3] == ("-m", "causal_core.launch_trainer")     # our fast BLAS for a foreign MLX script
    frontier = sorted((shared_dir / "parameter-golf-trainers" / "records").rglob("train_gpt.py"))[-1]
    tf = resolve_target(str(frontier))
    assert len(tf.switches) > len(t.switches) and tf.profile != "catalog"


def test_bad_trainer_params_are_one_line_errors(tmp_path, challenge_mlx, tiny_data_dir):
    for kw, words in [({"trainer": str(tmp_path / "nope.py")}, "missing or empty"),
                      ({"trainer": str(challenge_mlx), "first_intervention": "ema"}, "EMA_DECAY"),
                      ({"trainer": str(challenge_mlx), "probe_before": "gradient_projection"}, "not switchable"),
                      ({"trainer": str(challenge_mlx), "trainer_profile": "nope"}, "unknown trainer profile")]:
        raw = loop_params(tmp_path, tiny_data_dir, first_intervention=None)
        raw.update(kw)
        with pytest.raises(ValueError) as e:
            validate_params(raw)
        msg = str(e.value)
        assert words in msg and "\n" not in msg and msg.startswith("bad loop parameter"), msg
    bad = tmp_path / "broken.py"
    bad.write_text("def (:\n")
    with pytest.raises(ValueError, match="broken.py"):
        validate_params({**loop_params(tmp_path, tiny_data_dir), "trainer": str(bad), "first_intervention": None})


@pytest.mark.slow
def test_the_loop_runs_the_unchanged_challenge_script(prefect_api, tmp_path, challenge_mlx, small_val_data, monkeypatch):
    from flows.cycle_loop import cycle_loop

    monkeypatch.setenv("CAUSAL_GOLF_STEP_CACHE", str(tmp_path / "step_times.json"))
    # The switch is given: with no records every prior is -0.002 and the DAG's pick is a near tie; it
    # can be longer_train_seq (TRAIN_SEQ_LEN 2048), which this test's tiny token budget cannot run.
    params = _params(tmp_path, small_val_data, challenge_mlx, max_cycles=1, budget_mode="time", time_budget_s=1.5,
                     stop_on_confirmed=False, assemble=True, first_intervention="warmdown_schedule")
    report = cycle_loop(**params)

    t = resolve_target(str(challenge_mlx))
    assert report["cycles"] == 1
    cyc = tmp_path / "results" / "cycle_1"
    cfg = json.loads((cyc / "config.json").read_text())
    # A switch the script actuates, with the script's own variables and no PRESET.
    assert cfg["intervention"] == "warmdown_schedule" in t.switches and cfg["profile"] == "challenge-baseline"
    assert (cfg["treatment"], cfg["control"]) == t.sides(cfg["intervention"])
    # The loop stores the resolved path (../shared may be a symlink, as in a CI checkout).
    assert Path(cfg["trainer"]) == challenge_mlx.resolve() and "PRESET" not in cfg["base_env"]
    assert cfg["workdir"] == str(tmp_path / "results" / "trainer_cwd")
    # Time budget: each arm's steps were calibrated from the script's own step lines.
    assert cfg["budget_mode"] == "time" and set(cfg["arm_steps"]) == {"control", "treatment"}
    assert all(s >= 1 for s in cfg["arm_steps"].values())
    raw = json.loads((cyc / "experiment" / "raw_runs.json").read_text())
    assert len(raw["runs"]) == 4 and all(r["status"] == "ok" and r["val_bpb"] > 0 for r in raw["runs"])
    assert raw["ignored_env"] == []            # nothing the loop set went unread (no PRESET)
    stats = json.loads((cyc / "experiment" / "stats.json").read_text())
    assert stats["decision"] in ("confirmed", "suggestive", "null") and stats["n_pairs"] == 2
    assert (cyc / "record.json").is_file() or list((tmp_path / "records").rglob("*.json"))
    # The DAG's local column and ranking are at the loop's own scale (not "the latest experiment's").
    from causal_core.loop.params import LoopParams
    key = t.scale_key(LoopParams(**params))
    assert key.startswith("mlx-cpu|no-preset:") and key.endswith("|time")
    for n in (0, 1):
        assert json.loads((tmp_path / "results" / f"cycle_{n}" / "dag" / "dag.json").read_text())["local_scale"] == key


@pytest.mark.slow
def test_a_switch_that_cannot_run_here_is_passed_over_not_fatal(prefect_api, tmp_path, challenge_mlx, small_val_data,
                                                                 monkeypatch):
    """With no records the DAG's first pick for the challenge script is longer_train_seq: TRAIN_SEQ_LEN 2048
    on this test's 1,024-token steps, whose calibration fails. The loop records why, releases the cycle's
    LORD++ test (nothing was trained) and runs its next candidate in the same cycle, instead of ending."""
    from causal_core.loop.layout import LoopLayout
    from causal_core.loop.online_fdr import load
    from flows.cycle_loop import cycle_loop

    monkeypatch.setenv("CAUSAL_GOLF_STEP_CACHE", str(tmp_path / "step_times.json"))
    params = _params(tmp_path, small_val_data, challenge_mlx, max_cycles=1, budget_mode="time", time_budget_s=1.5,
                     stop_on_confirmed=False)
    report = cycle_loop(**params)

    layout = LoopLayout.at(tmp_path / "results")
    bad = json.loads(layout.unrunnable.read_text())
    assert [e["intervention"] for e in bad] == ["longer_train_seq"] and bad[0]["cycle"] == 1
    assert "calibration" in bad[0]["reason"] and "\n" not in bad[0]["reason"]
    cfg = json.loads((tmp_path / "results" / "cycle_1" / "config.json").read_text())
    plan = json.loads((tmp_path / "results" / "cycle_1" / "plan.json").read_text())
    assert cfg["intervention"] == plan["intervention"] != "longer_train_seq"
    assert "longer_train_seq (could not run here (cycle 1)" in plan["why"]
    assert report["cycles"] == 1
    led = load(layout.online_ledger)
    assert [(t.cycle, t.index, t.arms) for t in led.tests] == [(1, 1, [cfg["intervention"]])]
