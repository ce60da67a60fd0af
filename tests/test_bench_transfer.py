"""bench/bench_transfer.py without training: its scales build real run configs, and its split
analysis on synthetic two-scale effects with a known lambda per group beats 1:1 where 1:1 is wrong."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import bench_transfer as bt  # noqa: E402
from causal_core import catalog  # noqa: E402


def test_scales_build_run_configs(tiny_data_dir, tmp_path):
    """The run cache gets a real config at both scales (this is the code path that broke silently
    once when base_env moved)."""
    from bench.search.runs import RunCache
    from causal_core.trainer import base_env
    sc = bt.scales(tiny_data_dir)
    assert set(sc) == {"tiny", "mid"} and sc["mid"]["MODEL_DIM"] > sc["tiny"]["MODEL_DIM"]
    for name, env in sc.items():
        cache = RunCache(tmp_path / name, base_env(tiny_data_dir, env))
        cfg = cache.cfg(("wider_mlp",))
        assert cfg.base_env["DATA_PATH"] == str(tiny_data_dir.resolve())
        assert int(cfg.base_env["ITERATIONS"]) == (50 if name == "mid" else 30)
        assert cache.key(("wider_mlp",), 1) != cache.key((), 1)


def test_split_analysis_on_synthetic_effects():
    """mid = 3 x tiny in one group and 0 x tiny elsewhere: the transfer model ranks and covers the
    held-out switches, and the table states lambda and the local shift per group."""
    rng = np.random.default_rng(0)
    lam = {g: (3.0 if g == "capacity_architecture" else 0.2) for g in catalog.GROUPS}
    diffs = {"tiny": {}, "mid": {}}
    for s in bt.SWITCHES:
        t = rng.normal(-0.02, 0.02)
        diffs["tiny"][s] = list(t + 0.002 * rng.standard_normal(3))
        diffs["mid"][s] = list(lam[catalog.get(s).group] * t + 0.002 * rng.standard_normal(3))
    res = bt.evaluate_splits(diffs, n_splits=4, seed=0)
    assert res["switches"] == list(bt.SWITCHES) and res["summary"]["transfer"]["n_predictions"] == 4 * 6
    assert res["summary"]["transfer"]["coverage"] > res["summary"]["one_to_one"]["coverage"]
    table = bt.tables(res)
    assert "local shift beta_g" in table and "capacity_architecture" in table
