"""Submission assembly end to end on a real tiny loop result (the real trainer, tiny data).

One session-scoped cycle (sliding_window_eval, seeds 1-3) is trained once; every test
copies it and edits the copy (decisions, extra cycles, model bytes) to reach each case.
Everything except test_new_seed_is_trained reuses the trained runs (no training).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from loop_helpers import tiny_trainer_env

from causal_core.cli import main as cli_main
from causal_core.experiments.results import RawRuns
from causal_core.experiments.runner import run_experiment
from causal_core.experiments.stats import analyze, load_stats, write_stats
from causal_core.loop.cycle import plan_config
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams
from causal_core.submission import compat
from causal_core.submission.assemble import assemble, assemble_from_loop
from causal_core.submission.readme import REQUIRED_SECTIONS

pytestmark = pytest.mark.slow
SEEDS = [1, 2, 3]


@pytest.fixture(scope="session")
def loop_result(tmp_path_factory, tiny_data_dir, repo_root) -> tuple[Path, LoopParams]:
    """results/causal/cycle_1/experiment of a real one-cycle loop: runs, raw_runs.json, stats.json."""
    if not (repo_root / "train_gpt_mlx.py").is_file():
        pytest.skip("train_gpt_mlx.py is absent")
    tmp = tmp_path_factory.mktemp("submission_loop")
    params = LoopParams(records=[], results_dir=str(tmp / "results" / "causal"), records_out=str(tmp / "records"),
                        data_path=str(tiny_data_dir), seeds=SEEDS, budget_s=120, max_parallel=2,
                        trainer_env=tiny_trainer_env(tiny_data_dir), budget_mode="steps")    # seconds-long runs
    cyc = LoopLayout.at(params.results_dir).cycle(1)
    cfg = plan_config(cyc, params, "sliding_window_eval")
    raw = run_experiment(cfg, cyc.experiment_dir)
    assert all(r.complete for r in raw.runs), [(r.run_id, r.error, r.stderr_tail[-300:]) for r in raw.runs]
    write_stats(analyze(raw), cyc.stats)
    return Path(params.results_dir), params


def _copy(loop_result, tmp_path: Path) -> Path:
    results = tmp_path / "results" / "causal"
    shutil.copytree(loop_result[0], results)
    return results


def _set_decision(results: Path, n: int, decision: str, effect: float | None = None, intervention: str | None = None,
                  treatment: dict | None = None, control: dict | None = None) -> None:
    """Edit cycle n's analysis (and, for a new intervention, its config) in place."""
    exp = results / f"cycle_{n}" / "experiment"
    if intervention:
        raw = json.loads((exp / "raw_runs.json").read_text())
        raw["intervention"] = raw["config"]["intervention"] = intervention
        raw["config"]["treatment"], raw["config"]["control"] = treatment, control
        (exp / "raw_runs.json").write_text(json.dumps(raw))
    a = load_stats(exp / "stats.json")
    a.decision = decision
    a.intervention = intervention or a.intervention
    if effect is not None:
        a.effect_bpb = effect
    write_stats(a, exp / "stats.json")


def _add_cycle(results: Path, n: int) -> None:
    shutil.copytree(results / "cycle_1", results / f"cycle_{n}")


def _read(folder: Path) -> dict:
    return json.loads((folder / "submission.json").read_text())


def test_confirmed_record_layout_schema_and_readme(loop_result, tmp_path):
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    folder = assemble(results, tmp_path / "records", reuse_only=True, name="Tiny SWE", author="Ann", github_id="ann")
    assert folder.parent.name == "track_non_record_16mb" and folder.name.endswith("_Tiny_SWE")
    names = {p.name for p in folder.iterdir()}
    assert {"README.md", "submission.json", "train_gpt_mlx.py", *(f"train_seed{s}.log" for s in SEEDS)} <= names
    assert "final_int8_zlib_roundtrip_exact" in (folder / "train_seed1.log").read_text()

    sub = _read(folder)
    types = {"name": str, "author": str, "github_id": str, "date": str, "val_bpb": float, "val_loss": float,
             "bytes_total": int, "bytes_code": int, "bytes_model": int, "blurb": str, "seeds": list,
             "seed_results": dict, "platform": dict, "limits": dict, "interventions": list,
             "causal_golf_experiment": dict, "comparison": dict, "challenge_bar": dict, "ablations": list,
             "selection": dict, "within_artifact_limit": bool, "time_limit_verified": bool}
    for k, t in types.items():
        assert isinstance(sub[k], t), (k, sub.get(k))
    assert (sub["name"], sub["author"], sub["github_id"]) == ("Tiny SWE", "Ann", "ann")
    assert sub["seeds"] == SEEDS and sub["interventions"] == ["sliding_window_eval"]
    assert sub["val_bpb"] == pytest.approx(sum(r["val_bpb"] for r in sub["seed_results"].values()) / 3)
    assert sub["bytes_code"] == (folder / "train_gpt_mlx.py").stat().st_size
    assert sub["bytes_total"] == sub["bytes_code"] + sub["bytes_model"] <= 16_000_000
    assert sub["within_artifact_limit"] and not sub["time_limit_verified"]
    assert sub["platform"]["name"] == "mlx-cpu" and not sub["platform"]["is_challenge_platform"]
    assert sub["limits"]["time"]["wallclock_cap_s"] is None and sub["limits"]["artifact"]["limit"] == 16_000_000
    assert sub["selection"]["kind"] == "confirmed" and sub["selection"]["env_overrides"] == {"EVAL_STRIDE": "32"}
    assert {"met", "p_value", "improvement_nats", "min_improvement_nats"} <= set(sub["challenge_bar"])
    assert sub["challenge_bar"]["min_improvement_nats"] == 0.005 and sub["challenge_bar"]["alpha"] == 0.01
    assert all(r["reused_from"]["cycle"] == 1 for r in sub["seed_results"].values())   # no training
    assert sub["causal_golf_experiment"]["intervention"] == "sliding_window_eval"
    assert sub["causal_golf_experiment"]["cycle"] == 1       # all pairs are cycle 1's own runs
    assert [r["cycle"] for r in sub["ablations"]] == [1] and len(sub["ablations"][0]["control_bpb"]) == 3

    readme = (folder / "README.md").read_text()
    pos = [readme.index(s + "\n") for s in REQUIRED_SECTIONS]
    assert pos == sorted(pos)
    assert "| 1 | `sliding_window_eval` | 1, 2, 3 |" in readme            # ablation row with per-seed scores
    assert "NOT VERIFIED" in readme and "not the challenge's 8xH100" in readme
    assert "WITHIN the 16,000,000-byte limit" in readme and "Challenge bar" in readme
    # idempotent: assembling again rewrites the same folder
    assert assemble(results, tmp_path / "records", reuse_only=True, name="Tiny SWE", author="Ann",
                    github_id="ann") == folder


def test_round_trip_through_extract_and_dag(loop_result, tmp_path):
    from causal_core.dag import estimate_dag
    from causal_core.records.pipeline import extract_records
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    folder = assemble(results, tmp_path / "records", reuse_only=True)
    sub = _read(folder)
    data = extract_records([tmp_path / "records"])
    (e,) = data.records
    assert e.val_bpb == pytest.approx(sub["val_bpb"]) and e.name == sub["name"] and e.date == sub["date"]
    assert e.intervention_names() == ["sliding_window_eval"] and e.source_format == "experiment"
    assert e.experiment is not None and e.experiment.decision == sub["causal_golf_experiment"]["decision"]
    assert e.bytes_total == sub["bytes_total"] and e.seeds == SEEDS
    assert data.field_coverage["all_four"] == 1.0
    dag = estimate_dag(extract_records([tmp_path / "records"]), prior_only_ok=True)
    assert dag.n_experiments == 1 and dag.n_records == 0     # evidence on one coefficient, not an observation
    eff = next(x for x in dag.effects if x.intervention == "sliding_window_eval")
    assert eff.source == "experiment+observational" and eff.experiment_decisions


def test_engineering_fallback_is_labelled(loop_result, tmp_path):
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "null")
    folder = assemble(results, tmp_path / "records", reuse_only=True)
    sub = _read(folder)
    raw = RawRuns.load(results / "cycle_1" / "experiment")
    means = {c: sum(raw.scores(c).values()) / 3 for c in ("control", "treatment")}
    best = min(means, key=means.get)
    assert sub["selection"]["kind"] == "engineering_fallback" and sub["selection"]["fallback_condition"] == best
    assert sub["val_bpb"] == pytest.approx(means[best])
    assert "engineering fallback" in sub["name"] and "Not a causal claim" in sub["blurb"]
    readme = (folder / "README.md").read_text()
    assert "ENGINEERING FALLBACK" in readme and "not a causal claim" in readme
    if best == "control":     # the baseline itself: no comparison, no DAG evidence
        assert sub["comparison"] is None and sub["causal_golf_experiment"]["intervention"] == "baseline"
    else:
        assert sub["interventions"] == ["sliding_window_eval"] and sub["comparison"]["decision"] == "null"


def test_incompatible_findings_are_refused(loop_result, tmp_path):
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    _add_cycle(results, 2)           # QAT confirmed, but QUANT_BITS stays 8: QAT without low bits
    _set_decision(results, 2, "confirmed", -0.01, intervention="qat", treatment={"QAT": 1}, control={"QAT": 0})
    with pytest.raises(compat.IncompatibleError, match="qat_needs_low_bits"):
        assemble(results, tmp_path / "records", reuse_only=True)
    assert not (tmp_path / "records").exists()
    rc = cli_main(["assemble", "--results", str(results), "--records-out", str(tmp_path / "records"), "--reuse-only"])
    assert rc == 2 and not (tmp_path / "records").exists()
    # two findings setting the same variable to different values
    _set_decision(results, 2, "confirmed", -0.01, intervention="qk_gain", treatment={"EVAL_STRIDE": 16},
                  control={"EVAL_STRIDE": 0})
    with pytest.raises(compat.IncompatibleError, match="same_variable"):
        assemble(results, tmp_path / "records", reuse_only=True)


def test_over_the_size_limit_is_not_labelled_within(loop_result, tmp_path, repo_root):
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    code = (repo_root / "train_gpt_mlx.py").stat().st_size
    p = results / "cycle_1" / "experiment" / "raw_runs.json"
    raw = json.loads(p.read_text())
    for r in raw["runs"]:            # a model of 16,000,001 - code bytes: one byte over
        r["bytes_model"], r["bytes_total"] = 16_000_001 - code, 16_000_001
    p.write_text(json.dumps(raw))
    folder = assemble(results, tmp_path / "records", reuse_only=True)
    sub = _read(folder)
    assert sub["bytes_total"] == 16_000_001 and not sub["within_artifact_limit"]
    assert folder.parent.name == "track_causal_golf_over_limit" and sub["track"] == "causal_golf_over_limit"
    assert "NOT WITHIN the 16,000,000-byte limit" in (folder / "README.md").read_text()


def test_cli_and_loop_entry_point(loop_result, tmp_path):
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    rc = cli_main(["assemble", "--results", str(results), "--records-out", str(tmp_path / "rec_cli"),
                   "--name", "cli run", "--author", "Bo", "--github-id", "bo", "--seeds", "1,2,3", "--reuse-only"])
    assert rc == 0
    (folder,) = (tmp_path / "rec_cli").glob("track_*/*")
    assert (_read(folder)["author"], _read(folder)["github_id"]) == ("Bo", "bo")
    params = loop_result[1].model_copy(update={"records_out": str(tmp_path / "rec_loop")})
    out = assemble_from_loop(LoopLayout.at(results), params)
    assert (out / "submission.json").is_file() and out.is_relative_to(tmp_path / "rec_loop")
    # --reuse-only with a seed nobody ran: refused before training anything
    rc = cli_main(["assemble", "--results", str(results), "--records-out", str(tmp_path / "rec_x"),
                   "--seeds", "1,2,3,9", "--reuse-only"])
    assert rc == 2 and not (tmp_path / "rec_x").exists()


def test_new_seed_is_trained_through_the_runner(loop_result, tmp_path):
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    folder = assemble(results, tmp_path / "records", seeds=[1, 2, 3, 4], max_parallel=2)
    sub = _read(folder)
    assert sub["seeds"] == [1, 2, 3, 4] and sub["seed_results"]["4"]["reused_from"] is None
    assert sub["seed_results"]["1"]["reused_from"]["cycle"] == 1 and sub["comparison"]["n_pairs"] == 4
    exp = results / "submission" / "experiment"
    assert (exp / "raw_runs.json").is_file() and (exp / "stats.json").is_file()
    assert (folder / "train_seed4.log").is_file() and sub["causal_golf_experiment"]["cycle"] is None


def test_stacked_findings_assemble_from_the_last_treatment_arm(loop_result, tmp_path):
    """Cycle 2 tests ema on top of cycle 1's sliding_window_eval (real tiny runs): the union of the
    two findings is cycle 2's treatment arm, so the submission trains nothing, and its baseline is
    the bare preset (cycle 1's control), not the stack."""
    results = _copy(loop_result, tmp_path)
    params = loop_result[1].model_copy(update={"results_dir": str(results)})
    _set_decision(results, 1, "confirmed", -0.01)
    cyc2 = LoopLayout.at(results).cycle(2)
    cfg = plan_config(cyc2, params, "ema", stack={"sliding_window_eval": {"EVAL_STRIDE": 32}})
    raw = run_experiment(cfg, cyc2.experiment_dir)
    assert all(r.complete for r in raw.runs)
    write_stats(analyze(raw), cyc2.stats)
    _set_decision(results, 2, "confirmed", -0.01)
    # Cycle 2's control arm is cycle 1's treatment arm, run for run (the trainer is deterministic).
    c1 = RawRuns.load(results / "cycle_1" / "experiment" / "raw_runs.json")
    assert raw.scores("control") == c1.scores("treatment")

    folder = assemble(results, tmp_path / "records", reuse_only=True)
    sub = _read(folder)
    assert sub["interventions"] == ["sliding_window_eval", "ema"]
    assert sub["selection"]["env_overrides"] == {"EVAL_STRIDE": "32", "EMA_DECAY": "0.99"}
    assert all(r["reused_from"]["cycle"] == 2 for r in sub["seed_results"].values())
    assert sub["val_bpb"] == pytest.approx(sum(raw.scores("treatment").values()) / 3)
    assert sub["comparison"]["control_bpb"] == pytest.approx(list(c1.scores("control").values()))

    # The loop's record of cycle 2 says what it was stacked on.
    from causal_core.experiments.record_writer import write_experiment_record
    rec = _read(write_experiment_record(cyc2.experiment_dir, tmp_path / "loop_records"))
    assert rec["interventions"] == ["sliding_window_eval", "ema"]
    assert rec["causal_golf_experiment"]["stacked_on"] == ["sliding_window_eval"]


def test_record_says_how_to_realise_findings_in_the_challenge_script(loop_result, tmp_path, records_dir):
    """Confirmed sliding_window_eval: the baseline train_gpt.py has no EVAL_STRIDE, so the record names the
    published folders that brought it in (from the loop's own extraction) and the 8xH100 commands."""
    from causal_core.records import extract_records
    results = _copy(loop_result, tmp_path)
    _set_decision(results, 1, "confirmed", -0.01)
    (results / "cycle_1" / "interventions.json").write_text(extract_records([records_dir]).model_dump_json())
    folder = assemble(results, tmp_path / "records", reuse_only=True, name="Tiny SWE")
    ch = _read(folder)["challenge"]
    [it] = ch["findings"]
    assert it["intervention"] == "sliding_window_eval" and it["how"] == "records" and it["env"] == {}
    assert "does not read EVAL_STRIDE" in it["source"] and it["evidence"]["treatment"] == {"EVAL_STRIDE": "32"}
    assert any(r["folder"].endswith("_SlidingWindowEval") and r["val_bpb"] == pytest.approx(1.1925, abs=1e-4)
               for r in it["records"])
    assert ch["needs_code"] == ["sliding_window_eval"] and len(ch["commands"]) == 4
    assert all("torchrun --standalone --nproc_per_node=8 train_gpt.py" in c and "MAX_WALLCLOCK_SECONDS=600" in c
               for c in ch["commands"][1:])
    readme = (folder / "README.md").read_text()
    section = readme[readme.index("## In the challenge's train_gpt.py"):readme.index("## Compatibility")]
    assert "_SlidingWindowEval` (val_bpb 1.1925)" in section and "SEED=2025" in section
    assert "`EVAL_STRIDE=32` vs `EVAL_STRIDE=0`" in section      # the MLX evidence, labelled as such
    # An env-realisable finding: the same cycle relabelled as more_layers gives NUM_LAYERS at 8xH100 scale.
    _set_decision(results, 1, "confirmed", -0.01, intervention="more_layers",
                  treatment={"NUM_LAYERS": 5}, control={"NUM_LAYERS": 3})
    it = realise_for(results)
    assert it["how"] == "env" and it["env"] == {"NUM_LAYERS": "10"}


def realise_for(results):
    from causal_core.submission.findings import load_cycles, select
    from causal_core.submission.realise import for_selection
    return for_selection(select(load_cycles(results)), results)["findings"][0]
