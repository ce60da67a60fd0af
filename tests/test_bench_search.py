"""bench/bench_search.py without training: the search-space encoding, the samplers' configs,
the run-cache key and the metrics on synthetic curves."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search import metrics, space  # noqa: E402
from causal_core import catalog  # noqa: E402
from causal_core.experiments.config import ExperimentConfig, from_catalog  # noqa: E402

BASE = {"PRESET": "cpu_small", "DATA_PATH": "/nonexistent/data", "TOKENIZER_PATH": "/nonexistent/data/tokenizer.model"}
TINY = {**BASE, "VOCAB_SIZE": 384, "ITERATIONS": 30, "MODEL_DIM": 32, "NUM_HEADS": 2, "NUM_KV_HEADS": 1,
        "VAL_LOSS_EVERY": 0, "WARMUP_STEPS": 0, "VAL_BATCH_SIZE": 8192}


@pytest.fixture(scope="module")
def trainer():
    from bench.search.runs import load_trainer
    return load_trainer()


def _check_valid(on, trainer, base=BASE):
    cfg = space.trial_config(on, base)
    assert isinstance(cfg, ExperimentConfig)
    env = cfg.condition_env(space.run_arm(on))
    c = trainer.load_config({**env, "RUN_ID": "t"})     # parses and validates like the trainer does
    for name in on:
        for k, v in catalog.CATALOG[name].treatment.items():
            assert c.values[k] == trainer._parse_value(trainer.VAR_BY_NAME[k], v), (on, k)
    return env


def test_space_is_the_catalogs_actionable_switches():
    assert space.SWITCHES == tuple(e.name for e in catalog.actionable())
    assert len(space.SWITCHES) >= 20
    assert space.normalize(["ema", "sliding_window_eval"]) == ("sliding_window_eval", "ema")
    with pytest.raises(ValueError):
        space.normalize(["gptq"])          # in the catalog, but not switchable
    assert space.label(()) == "baseline" and space.run_arm(()) == "control" and space.run_arm(("ema",)) == "treatment"


def test_union_is_order_free_and_conflicts_resolve_by_catalog_order():
    names = list(space.SWITCHES)
    a = space.overrides(names)
    random.Random(0).shuffle(names)
    assert space.overrides(names) == a
    for var, by_switch in space.conflicts().items():     # none today; the rule if one appears
        last = max(by_switch, key=space.SWITCHES.index)
        assert a[var] == by_switch[last]
    assert space.overrides(["qat", "low_bit_quant"])["QUANT_BITS"] == 6


@pytest.mark.parametrize("base", [BASE, TINY], ids=["cpu_small", "tiny"])
def test_every_single_switch_all_on_and_random_subsets_are_valid(trainer, base):
    _check_valid((), trainer, base)
    for name in space.SWITCHES:
        _check_valid((name,), trainer, base)
    _check_valid(space.SWITCHES, trainer, base)
    rng = random.Random(1)
    for _ in range(40):
        _check_valid(space.normalize(s for s in space.SWITCHES if rng.random() < 0.5), trainer, base)


class FakeCache:
    """Synthetic objective: a few switches help, the rest add noise; no training."""

    def __init__(self, trainer):
        self.trainer, self.calls = trainer, []

    def evaluate(self, on, seed, source=""):
        env = _check_valid(on, self.trainer)
        self.calls.append((tuple(on), seed, env))
        good = {"sliding_window_eval": -0.03, "wider_mlp": -0.01, "lr_tuning": -0.005}
        return 2.0 + sum(good.get(s, 0.002) for s in on) + random.Random(hash((tuple(on), seed))).gauss(0, 0.001)


@pytest.mark.parametrize("kind", ["tpe", "random"])
def test_optuna_methods_produce_valid_configs_and_start_from_the_baseline(trainer, kind):
    pytest.importorskip("optuna")
    from bench.search.methods import run_optuna

    cache = FakeCache(trainer)
    hist = run_optuna(kind, budget=14, search_seed=7, sampler_seed=3, cache=cache)
    assert [h["n"] for h in hist] == list(range(1, 15))
    assert hist[0]["config"] == [] and all(h["seed"] == 7 for h in hist)
    assert len(cache.calls) == 14
    assert len({tuple(h["config"]) for h in hist}) > 5        # it explores
    claims, raw = metrics.search_claims(hist, 14)
    assert all(c == () or c in {tuple(h["config"]) for h in hist} for c in claims)
    assert raw == sorted(raw, reverse=True)                   # best so far never gets worse


def test_the_loop_is_charged_for_the_runs_it_trained():
    from bench.search.methods import trained
    from causal_core.experiments.results import RunResult

    def run(source):
        return RunResult(run_id="r", condition="control", seed=1, status="ok", val_bpb=1.0, score_source=source,
                         stdout_path="o", stderr_path="e")
    runs = [run("stdout:final_int8_zlib_roundtrip_exact"), run("reused:x-control-seed1:stdout:final"), run(None)]
    assert trained(runs) == 2       # a failed run (no score) still cost a run; a reused one did not


def test_cache_key_equates_the_loops_control_arm_with_the_baseline(tmp_path, trainer):
    from bench.search.runs import RunCache, config_key

    cache = RunCache(tmp_path, BASE)
    base_key = cache.key((), 5)
    for name in ("ema", "sliding_window_eval", "lr_tuning"):
        loop_cfg = from_catalog(name, base_env=BASE, seeds=[5, 6])
        assert f"{config_key(loop_cfg.condition_env('control'))}:5" == base_key
        assert f"{config_key(loop_cfg.condition_env('treatment'))}:5" == cache.key((name,), 5)
    assert cache.key(("ema",), 5) != base_key and cache.key((), 6) != base_key
    assert cache.key(("ema", "swa"), 5) == cache.key(("swa", "ema"), 5)


# --- metrics on synthetic curves ---------------------------------------------------------------

def _hist(vals_configs):
    return [{"n": i + 1, "config": list(c), "val_bpb": v} for i, (v, c) in enumerate(vals_configs)]


def test_search_claims_best_so_far_and_no_claim_when_nothing_beats_the_baseline():
    h = _hist([(2.00, ()), (2.01, ("ema",)), (None, ("swa",)), (1.98, ("wider_mlp",)), (1.99, ("qk_gain",)),
               (1.98, ("ortho_init",)), (1.95, ("ema", "wider_mlp"))])
    claims, raw = metrics.search_claims(h, 7)
    assert claims == [(), (), (), ("wider_mlp",), ("wider_mlp",), ("wider_mlp",), ("ema", "wider_mlp")]  # ties: earliest
    assert raw == [2.00, 2.00, 2.00, 1.98, 1.98, 1.98, 1.95]
    assert metrics.search_claims(h, 3)[0] == [(), (), ()]


def test_loop_claims_count_a_cycle_only_once_all_its_runs_are_spent():
    cycles = [{"intervention": "sliding_window_eval", "decision": "confirmed", "cum_runs": 12},   # 6 + 6 replication
              {"intervention": "ema", "decision": "null", "cum_runs": 18},
              {"intervention": "wider_mlp", "decision": "confirmed", "cum_runs": 30}]
    c = metrics.loop_claims(cycles, 30, order=space.SWITCHES)
    assert c[10] == () and c[11] == ("sliding_window_eval",) and c[28] == ("sliding_window_eval",)
    assert c[29] == ("sliding_window_eval", "wider_mlp")


def test_heldout_verdict_uses_the_gate():
    base = [2.00, 2.10, 2.05]
    real = metrics.heldout_verdict([1.990, 2.0905, 2.0398], base)          # -0.01 on every seed
    assert real["replicates"] and real["decision"] == "confirmed" and real["effect"] == pytest.approx(-0.00990, abs=1e-4)
    noise = metrics.heldout_verdict([2.01, 2.08, 2.05], base)
    assert not noise["replicates"]
    tiny = metrics.heldout_verdict([1.9995, 2.0995, 2.0495], base)          # consistent but below the MDE
    assert not tiny["replicates"] and tiny["decision"] == "suggestive"
    lost = metrics.heldout_verdict([None, None, 1.9], base)
    assert lost["decision"] == "failed" and not lost["replicates"]


def test_curves_runs_to_reach_and_false_discoveries():
    a, b = ("wider_mlp",), ("ema",)
    claims = [(), (), a, a, b]
    verdicts = {a: {"replicates": True, "mean": 1.97}, b: {"replicates": False, "mean": 1.96}}
    conf, ship = metrics.curves(claims, verdicts, base_mean=2.0)
    assert conf == [2.0, 2.0, 1.97, 1.97, 2.0]          # a non-replicating claim falls back to the baseline
    assert ship == [2.0, 2.0, 1.97, 1.97, 1.96]
    assert metrics.runs_to_reach(conf, 2.0 - 0.02) == 3
    assert metrics.runs_to_reach(conf, 2.0 - 0.05) is None
    assert metrics.false_discoveries(claims, verdicts, 2) == (0, 0)
    assert metrics.false_discoveries(claims, verdicts, 4) == (1, 0)
    assert metrics.false_discoveries(claims, verdicts, 5) == (1, 1)
    assert metrics.distinct_claims(claims) == [a, b]
    s = metrics.summary([1.0, 2.0, None, float("nan")])
    assert s["n"] == 2 and s["mean"] == 1.5 and s["sd"] == pytest.approx(0.7071, abs=1e-4)


def test_summary_table_and_plot_from_synthetic_repeats(tmp_path):
    import argparse

    import bench.bench_search as bs

    args = argparse.Namespace(budget=12, target_improvement=0.01)
    reps = []
    for r, (loop_v, tpe_v) in enumerate([(1.98, 1.99), (1.97, 2.00)]):
        def m(v, at):
            curve = [2.0] * (at - 1) + [v] * (13 - at)
            cps = {str(n): {"confirmed": curve[n - 1], "shipped": curve[n - 1], "claim": "x",
                            "claims": int(curve[n - 1] < 2.0), "false_discoveries": 0} for n in bs.checkpoints(12)}
            return {"confirmed_curve": curve, "shipped_curve": curve, "raw_best_curve": [x - 0.01 for x in curve],
                    "runs_to_target": metrics.runs_to_reach(curve, 1.99), "checkpoints": cps}
        reps.append({"heldout_baseline": {"mean": 2.0},
                     "history": {k: [{"val_bpb": 2.0}] for k in ("tpe", "random")},
                     "methods": {"loop": m(loop_v, 6), "loop_norep": m(2.0, 12), "tpe": m(tpe_v, 10),
                                 "random": m(2.0, 12)},
                     "loop_runs_to_tpe_final": 6, "loop_norep_runs_to_tpe_final": None})
    s = bs.summarize(reps, args)
    assert s["checkpoints"] == [6, 12]
    assert s["methods"]["loop"]["6"]["confirmed"]["mean"] == pytest.approx(1.975)
    assert s["methods"]["loop"]["runs_to_target"]["per_repeat"] == [6, 6]
    assert s["methods"]["tpe"]["runs_to_target"]["per_repeat"] == [10, None]
    assert s["target"]["loop"]["met"] and s["target"]["loop"]["met_every_repeat"]
    assert not s["target"]["loop_norep"]["met"]
    text = bs.table(s, reps, args)
    assert "| loop |" in text and "| loop_norep |" in text and "-> MET" in text and "-> NOT MET" in text
    bs.plot(reps, args, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
