"""The probe phase in the real cycle-loop flow (real Prefect API, real tiny trainer runs on the
embedded corpus): both arms run, a gate verdict is recorded and published, and the sweep runs
under the cost ceiling, stopping after its first arm x 3 seeds or going on."""
from __future__ import annotations

import json

import pytest

from tests.loop_helpers import loop_params

pytestmark = pytest.mark.slow


def _probe_loop(tmp_path, tiny_data_dir, separation_t: float) -> dict:
    from flows.cycle_loop import cycle_loop
    return cycle_loop(**loop_params(tmp_path, tiny_data_dir, first_intervention="gradient_projection",
                                    probe_before="gradient_projection", seeds=[1, 2, 3, 4], max_cycles=1,
                                    stop_on_confirmed=False, replicate=False, probe_separation_t=separation_t))


def _check_probe(results) -> dict:
    v = json.loads((results / "cycle_1" / "probe" / "verdict.json").read_text())
    assert v["probe_runs"] == ["probe-baseline", "probe-vanilla", "probe-projected"]
    for arm in ("vanilla", "projected"):
        rows = [json.loads(x) for x in open(v["logs"][arm])]
        assert len(rows) == v["probe_steps"] and all(r["arm"] == arm and r["samples"] for r in rows)
    assert {r["check"] for r in v["verification"]} >= {"within_batch_spread", "vanilla_cos_in_positive",
                                                        "projected_cos_out_below_cos_in", "frac_fired",
                                                        "pool_discrimination", "no_empty_bucket"}
    assert v["decision"]["action"] in ("run", "skip", "stop") and v["gate"]["verdict"]
    assert v["cost"] == {"probe_runs": 3, "sweep_runs_planned": 8, "first_phase_runs": 6, "ceiling_applies": True}
    return v


def test_probe_then_sweep_stops_after_the_first_arm(prefect_api, tiny_data_dir, tmp_path):
    from prefect.client.orchestration import get_client
    report = _probe_loop(tmp_path, tiny_data_dir, separation_t=1e9)     # no first phase can separate
    results = tmp_path / "results"
    v = _check_probe(results)
    approval = json.loads((results / "cycle_1" / "probe" / "approval.json").read_text())
    # The tiny probe (deterministic data and seeds) finds the pools told apart: the sweep is approved.
    assert v["decision"]["action"] == "run" and approval == {"run_sweep": True, "by": "auto (the probe's verdict)",
                                                             "probe_action": "run"}
    ceiling = json.loads((results / "cycle_1" / "probe" / "ceiling.json").read_text())
    assert ceiling["action"] == "stop" and ceiling["runs_done"] == 6 and ceiling["saved_runs"] == 2
    cfg = json.loads((results / "cycle_1" / "config.json").read_text())
    assert cfg["intervention"] == "gradient_projection" and cfg["base_env"]["PROJECT_DIRECTION"] == v["direction_file"]
    runs = sorted(p.name for p in (results / "cycle_1" / "experiment" / "runs").glob("*.result.json"))
    assert len(runs) == 6 and not any("seed4" in r for r in runs)
    stats = json.loads((results / "cycle_1" / "experiment" / "stats.json").read_text())
    assert stats["n_pairs"] == 3 and stats["intervention"] == "gradient_projection"
    assert report["probes"][0]["ceiling"]["saved_runs"] == 2
    md = (results / "final_report.md").read_text()
    assert "cost ceiling" in md and "2 of 8 runs saved" in md
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts() if a.key}
        assert {"cycle-1-probe", "cycle-1-probe-checks"} <= keys
        names = {t.name for t in client.read_task_runs()}
        assert "cycle1-probe-gradient_projection" in names


def test_probe_then_sweep_goes_on_after_separation(prefect_api, tiny_data_dir, tmp_path):
    report = _probe_loop(tmp_path, tiny_data_dir, separation_t=0.0)      # any first phase separates
    results = tmp_path / "results"
    v = _check_probe(results)
    assert v["decision"]["action"] == "run"
    ceiling = json.loads((results / "cycle_1" / "probe" / "ceiling.json").read_text())
    assert ceiling["action"] == "continue" and ceiling["saved_runs"] == 0
    runs = list((results / "cycle_1" / "experiment" / "runs").glob("*.result.json"))
    assert len(runs) == 8
    stats = json.loads((results / "cycle_1" / "experiment" / "stats.json").read_text())
    assert stats["n_pairs"] == 4
    # the projected and vanilla arms are different runs (never served from each other)
    res = {json.loads(p.read_text())["condition"]: json.loads(p.read_text()) for p in runs if "seed1" in p.name}
    assert not (res["treatment"]["score_source"] or "").startswith("reused")
    assert report["stop_reason"] == "1 cycles done" and report["probes"][0]["ceiling"]["action"] == "continue"


def test_the_probe_has_its_own_pause_showing_verdict_and_cost(prefect_api, tiny_data_dir, tmp_path):
    """Not auto-approved: the cycle's pause, then the probe's (verdict and cost published first);
    answering stop skips the sweep: nothing of it is trained and the loop says why."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    from tests.loop_helpers import start_loop, wait_for
    from tests.test_flow_approval import _finish, _paused_run

    params = loop_params(tmp_path, tiny_data_dir, auto_approve=False, first_intervention="gradient_projection",
                         probe_before="gradient_projection", seeds=[1, 2, 3, 4], max_cycles=1)
    proc = start_loop(params, prefect_api.env, tmp_path / "loop.log")
    fr = wait_for(lambda: _paused_run(params["results_dir"]), 120, "the cycle's approval pause")
    resume_flow_run(fr.id, run_input={"action": "approve", "by": "api"})
    verdict = tmp_path / "results" / "cycle_1" / "probe" / "verdict.json"
    wait_for(verdict.is_file, 240, "the probe's verdict")
    fr = wait_for(lambda: _paused_run(params["results_dir"]), 120, "the probe's approval pause")
    with get_client(sync_client=True) as client:
        arts = {a.key: a for a in client.read_artifacts() if a.key == "cycle-1-probe" and a.flow_run_id == fr.id}
    md = arts["cycle-1-probe"].data
    assert "Probe decision:" in md and "The sweep would cost 8 runs" in md and "first phase is 6 runs" in md
    resume_flow_run(fr.id, run_input={"action": "stop", "by": "api"})
    report = _finish(proc, tmp_path)
    assert report["stop_reason"].startswith("probe gate: the sweep of gradient_projection was not run")
    assert report["probes"][0]["approval"] == {"run_sweep": False, "by": "api",
                                               "probe_action": json.loads(verdict.read_text())["decision"]["action"]}
    assert not (tmp_path / "results" / "cycle_1" / "experiment").exists() and report["cycles"] == 0
