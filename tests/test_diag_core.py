"""Checkpoint diagnostics on a real tiny checkpoint (vocab 384, dim 32, 30 steps: a few seconds)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from causal_core.cli import main as cli_main
from causal_core.diagnostics.common import DiagnosticError
from causal_core.diagnostics import grad_attribution as ga, influence as inf, probe, quant_gap as qg, token_loss as tl
from test_trainer_common import T, tiny_env


@pytest.fixture(scope="module")
def ckpt(tiny_data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("diag_ckpt")
    env = tiny_env(tiny_data_dir, out, ITERATIONS=30, RUN_ID="dg", TRAIN_LOG_EVERY=0)
    assert T.main(env) == 0
    return out / "dg_config.json"


def test_token_loss_decomposition_and_buckets(ckpt, tmp_path):
    rep = tl.token_loss(ckpt, out_dir=tmp_path, save_losses=True)
    assert rep["decomposition_abs_diff"] <= 1e-6
    assert abs(rep["mean_token_loss"] - rep["val_loss"]) < 1e-5
    for part, chk in rep["bucket_checks"].items():
        assert chk["abs_diff"] <= 1e-3, part
        total = sum(v["tokens"] for v in rep["categories"][part].values())
        assert total == rep["scored_tokens"]
    assert rep["frequency_edges"]["top"] == [0, 38] and rep["frequency_edges"]["mid"] == [38, 188]
    saved = np.load(rep["per_token_file"])
    assert saved["loss"].size == rep["scored_tokens"]
    assert json.loads((tmp_path / "token_loss.json").read_text())["val_bpb"] == pytest.approx(rep["val_bpb"])


def test_decomposition_check_fails_loudly():
    t = tl.TokenLosses(np.array([1.0, 2.0]), np.array([1, 2]), np.array([0, 1]), np.array([0, 1]), np.arange(2), np.array([1, 1]))
    cats = {"freq": np.array([0, 1]), "pos": np.array([0, 1])}
    with pytest.raises(DiagnosticError, match="decomposition check failed"):
        tl.decompose(t, cats, val_loss=1.6, val_bpb=1.0)


def test_quant_gap_near_zero_when_identity_and_positive_at_4_bits(ckpt, tmp_path):
    ident = qg.quant_gap(ckpt, out_dir=tmp_path / "a", overrides={"INT8_KEEP_FLOAT_MAX_NUMEL": "100000000"},
                         largest_effect_bpb=0.01)
    assert abs(ident["gap_bpb"]) < 1e-4 and ident["gap_exceeds_threshold"] is False
    low = qg.quant_gap(ckpt, out_dir=tmp_path / "b", overrides={"QUANT_BITS": "4"}, largest_effect_bpb=0.0005,
                       per_category=True)
    assert low["gap_bpb"] > 1e-3 and low["gap_exceeds_threshold"] is True
    delta = sum(v["delta"] for v in low["per_category"]["frequency"].values())
    assert delta == pytest.approx(low["gap_bpb"], abs=1e-3)


def test_largest_effect_from_experiment_log(tmp_path):
    runs = [{"run_id": f"r{s}{c}", "condition": c, "seed": s, "status": "ok", "val_bpb": v}
            for s, (a, b) in enumerate([(2.0, 1.99), (2.0, 1.98)]) for c, v in (("control", a), ("treatment", b))]
    (tmp_path / "experiment_log.json").write_text(json.dumps([{"experiment_id": "x", "runs": runs}]))
    (tmp_path / "stats.json").write_text(json.dumps({"experiment_id": "y", "effect_bpb": -0.004}))
    eff, found = qg.largest_effect([tmp_path / "experiment_log.json", str(tmp_path / "*.json")])
    assert eff == pytest.approx(0.015) and len(found) == 3


def test_influence_sign_val_chunk_vs_shuffled(ckpt, tiny_data_dir, tmp_path):
    d = tmp_path / "data"
    shutil.copytree(tiny_data_dir, d)
    val = T.load_shard(d / "fineweb_val_000000.bin")
    v = val[:512]
    sh = np.random.default_rng(0).permutation(v)
    toks = np.concatenate([v, sh, [0]]).astype("<u2")
    h = np.zeros(256, "<i4")
    h[:3] = 20240520, 1, toks.size
    (d / "fineweb_train_000000.bin").write_bytes(h.tobytes() + toks.tobytes())
    rep = inf.influence(ckpt, data_path=d, out_dir=tmp_path / "o", max_shards=5, chunk_tokens=512)
    by = {r["chunk"]: r["score"] for r in rep["scores_sorted"]}
    assert by["fineweb_train_000000.bin:0"] > 0 > by["fineweb_train_000000.bin:512"]
    assert rep["chunks_scored"] == 2 and rep["cv"] is not None


def test_influence_lowers_max_shards_when_memory_is_short(ckpt, tmp_path):
    rep = inf.influence(ckpt, out_dir=tmp_path, max_shards=4, chunk_tokens=512, keep_grads=True, memory_budget=1)
    assert rep["max_chunks_used"] == 1 and rep["chunks_scored"] == 1 and "lowering --max-shards" in rep["warnings"][0]


def test_grad_norm_log_and_projection_arms(ckpt, tiny_data_dir, tmp_path):
    v = probe.probe_direction(ckpt, pool_a="freq:top", pool_b="freq:mid", out_dir=tmp_path, n_samples=4, sample_tokens=64)
    assert v["separation"] > 0 and Path(v["direction_file"]).is_file()
    logs = {}
    for mode, extra in (("proj", {}), ("vanilla", {"PROJECT_DIRECTION_LOG_ONLY": "1"})):
        env = tiny_env(tiny_data_dir, tmp_path / "runs", ITERATIONS=22, WARMDOWN_ITERS=6, RUN_ID=mode, TRAIN_LOG_EVERY=0,
                       VAL_LOSS_EVERY=4, PROJECT_DIRECTION=v["direction_file"], GRAD_NORM_LOG="1", **extra)
        assert T.main(env) == 0
        logs[mode] = ga.read_jsonl(tmp_path / "runs" / f"{mode}_projection.jsonl")
    proj = [r for r in logs["proj"] if r["frac_fired"] > 0]
    assert sum(r["cos_out"] < r["cos_in"] for r in proj[:20]) >= 16
    assert probe.check_gate(logs["proj"])["verdict"] == "success"
    assert probe.check_gate(logs["vanilla"])["verdict"] == "vanilla-ok"
    bad = [dict(r, cos_out_fired=[-0.2]) for r in logs["proj"]]
    assert probe.check_gate(bad)["verdict"] == "sneaky-fail"
    assert set(logs["proj"][0]) >= {"step", "sample_id", "pool", "cos_in", "cos_out", "frac_fired", "grad_norm_in"}
    rep = ga.grad_attribution(out_dir=tmp_path / "ga", gradnorms=tmp_path / "runs" / "proj_gradnorms.jsonl",
                              val_log=tmp_path / "runs" / "proj_metrics.jsonl")
    assert rep["n_steps"] == 22 and rep["boundaries"] == {"stable_start": 1, "warmdown_start": 18}
    assert rep["phases"]["stable"]["n_val_points"] >= 3
    assert rep["phases"]["stable"]["layers"]["blocks.0"]["corr_val_loss"] is not None


def test_bad_inputs_exit_2_with_one_line(ckpt, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    meta = json.loads(ckpt.read_text())
    meta["env"]["MODEL_DIM"] = 64
    meta["env"]["NUM_HEADS"] = 2
    (bad / "x_config.json").write_text(json.dumps(meta))
    cases = [
        (["token-loss", "--checkpoint", str(bad / "x_config.json")], "does not match weights"),
        (["quant-gap", "--checkpoint", str(tmp_path / "missing_config.json")], "does not exist"),
        (["probe-direction", "--checkpoint", str(ckpt), "--pool-a", f"shards:{tmp_path}/none*.bin", "--pool-b", "freq:top"],
         "is empty"),
    ]
    for argv, needle in cases:
        out = tmp_path / "o" / argv[0]
        assert cli_main(["diag", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("causal-golf diag: error:") and needle in err[0], err
        assert not out.exists() or not list(out.glob("*.json"))
