"""Mixed replay pools in the trainer (real MLX, tiny config): per-step and per-sample probe records."""
from __future__ import annotations

from pathlib import Path

import pytest

from causal_core.diagnostics import grad_attribution as ga, probe
from test_trainer_common import T, tiny_env


@pytest.fixture(scope="module")
def direction(tiny_data_dir, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("pools")
    env = tiny_env(tiny_data_dir, out, ITERATIONS=20, RUN_ID="base", TRAIN_LOG_EVERY=0)
    assert T.main(env) == 0
    v = probe.probe_direction(out / "base_config.json", pool_a="freq:top", pool_b="freq:mid", out_dir=out,
                              n_samples=4, sample_tokens=64)
    return v["direction_file"]


def _run(tiny_data_dir, out: Path, run_id: str, **extra) -> list[dict]:
    env = tiny_env(tiny_data_dir, out, ITERATIONS=8, WARMDOWN_ITERS=2, RUN_ID=run_id, TRAIN_LOG_EVERY=0,
                   VAL_LOSS_EVERY=0, TRAIN_BATCH_TOKENS=512, **extra)
    assert T.main(env) == 0
    return ga.read_jsonl(out / f"{run_id}_projection.jsonl")


def test_each_batch_mixes_the_pools_in_the_set_proportion(direction, tiny_data_dir, tmp_path):
    rows = _run(tiny_data_dir, tmp_path, "mix", PROJECT_DIRECTION=direction, PROJECT_DIRECTION_LOG_ONLY="1",
                PROBE_POOL_A="freq:top", PROBE_POOL_B="freq:mid", PROBE_MIX="0.75")
    assert len(rows) == 8
    n = 512 // int(tiny_env(tiny_data_dir, tmp_path)["TRAIN_SEQ_LEN"])
    for r in rows:
        assert r["arm"] == "vanilla" and {"step", "cos_in", "cos_out", "frac_fired"} <= set(r)
        pools = [s["src_pool"] for s in r["samples"]]
        assert pools.count("A") == round(0.75 * n) and pools.count("B") == n - round(0.75 * n)
        for s in r["samples"]:
            assert set(s) == {"src_pool", "loss", "cos", "grad_norm", "targets"}   # no token data
            assert s["loss"] > 0 and s["grad_norm"] > 0 and -1 <= s["cos"] <= 1
    # v separates the pools it was fitted on: A's samples lie further along it than B's.
    cos = {p: [s["cos"] for r in rows for s in r["samples"] if s["src_pool"] == p] for p in "AB"}
    assert sum(cos["A"]) / len(cos["A"]) > sum(cos["B"]) / len(cos["B"])


def test_projected_arm_with_pools_and_refusals(direction, tiny_data_dir, tmp_path, capsys):
    rows = _run(tiny_data_dir, tmp_path, "proj", PROJECT_DIRECTION=direction, PROBE_POOL_A="pos:boundary",
                PROBE_POOL_B="pos:mid_sequence")
    assert all(r["arm"] == "projected" and len(r["samples"]) > 0 for r in rows)
    fired = [r for r in rows if r["frac_fired"] > 0]
    assert fired and all(r["cos_out"] <= r["cos_in"] for r in fired)
    # Without the probe variables there are no per-sample records (and no extra cost).
    plain = _run(tiny_data_dir, tmp_path, "plain", PROJECT_DIRECTION=direction)
    assert plain and all("samples" not in r for r in plain)
    for extra, needle in (({"PROBE_POOL_A": "freq:top", "PROBE_POOL_B": "freq:tail"}, "needs PROJECT_DIRECTION"),
                          ({"PROJECT_DIRECTION": direction, "PROBE_POOL_A": "freq:nope", "PROBE_POOL_B": "freq:tail"},
                           "use shards:<glob>"),
                          ({"PROJECT_DIRECTION": direction, "PROBE_POOL_A": "freq:top"}, "without PROBE_POOL_B")):
        env = tiny_env(tiny_data_dir, tmp_path, ITERATIONS=2, RUN_ID="bad", **extra)
        capsys.readouterr()
        assert T.main(env) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("train_gpt_mlx: error:") and needle in err[-1], err
