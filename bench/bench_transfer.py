"""Transfer across scales: does the transfer model predict effects at a larger scale better than 1:1?

Measures the effect of each switch (treatment minus the baseline on the same seed) at two
local scales of our MLX trainer: `tiny` (bench_search.py --small's trainer) and `mid`
(wider and longer, between tiny and the cpu_small preset). Then, over several random
splits of the switches into halves, fits the transfer model
(causal_core/dag/transfer_model.py: mid effect = lambda_g x tiny effect + noise, lambda_g per
catalog group, partially pooled, the tiny effect itself estimated) on one half and predicts
the other half's mid effects from their tiny effects. Reports, on the held-out switches, the
Spearman rank correlation of predicted vs measured effects and the coverage of the 90%
predictive intervals, side by side with the 1:1 assumption (mid effect = tiny effect).

    uv run python bench/bench_transfer.py            # ~10 CPU-minutes the first time; cached after
    uv run python bench/bench_transfer.py --analyse-only

Runs are cached on disk (bench/search/runs.py RunCache) under OUT/cache, so a re-run only
re-does the analysis. Results: OUT/results.json and the tables on stdout (docs/transfer.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# 12 switches from all five transfer groups (sized so the first run is ~10 CPU-minutes here).
SWITCHES = ("sliding_window_eval", "longer_train_seq", "more_layers", "wider_mlp", "depth_recurrence",
            "bigram_hash", "lr_tuning", "warmdown_schedule", "ema", "muon_variant", "low_bit_quant", "pruning")


def scales(data: Path) -> dict[str, dict]:
    """Trainer env per scale. tiny = bench_search --small's (width 32, 30 steps); mid: width 48, 50 steps
    (cpu_small is width 128, 160 steps: ~5 s, ~12 s and ~60 s a run here)."""
    from bench.bench_search import small_trainer_env
    tiny = small_trainer_env(data)
    mid = dict(tiny, MODEL_DIM=48, NUM_HEADS=4, NUM_KV_HEADS=2, ITERATIONS=50)
    return {"tiny": tiny, "mid": mid}


def measure(out: Path, seeds: list[int]) -> dict[str, dict[str, list[float]]]:
    """{scale: {switch: [paired differences over seeds]}} (failed runs leave a pair out)."""
    from bench.search.runs import RunCache
    from causal_core.data.prepare import prepare_embedded
    from causal_core.trainer import base_env

    data = out / "data" / "embedded_sp384"
    if not (data / "manifest.json").is_file():
        prepare_embedded(data, vocab_size=384, size_mb=0.3, seed=0, val_fraction=0.1)
    diffs: dict[str, dict[str, list[float]]] = {}
    for name, env in scales(data).items():
        cache = RunCache(out / "cache" / name, base_env(data, env), budget_s=300)
        t0 = time.perf_counter()
        base = {s: cache.evaluate((), s, "baseline") for s in seeds}
        diffs[name] = {}
        for sw in SWITCHES:
            d = []
            for s in seeds:
                v = cache.evaluate((sw,), s, sw)
                if v is not None and base[s] is not None:
                    d.append(v - base[s])
            diffs[name][sw] = d
        print(f"{name}: {cache.stats()} in {time.perf_counter() - t0:.0f} s", flush=True)
    return diffs


def summary(d: list[float]) -> tuple[float, float]:
    """(mean, standard error) of paired differences; the se has a floor so one lucky pair is not exact."""
    a = np.asarray(d, float)
    se = a.std(ddof=1) / np.sqrt(a.size) if a.size > 1 else abs(a.mean())
    return float(a.mean()), float(max(se, 1e-4))


def evaluate_splits(diffs: dict, n_splits: int, seed: int, level: float = 0.90) -> dict:
    from causal_core.catalog import get
    from causal_core.dag.transfer_model import Pair, fit

    names = [s for s in SWITCHES if len(diffs["tiny"][s]) >= 2 and len(diffs["mid"][s]) >= 2]
    tiny = {s: summary(diffs["tiny"][s]) for s in names}
    mid = {s: summary(diffs["mid"][s]) for s in names}
    rng = np.random.default_rng(seed)
    z = stats.norm.ppf(0.5 + level / 2)
    rows = {"transfer": {"rho": [], "cover": []}, "one_to_one": {"rho": [], "cover": []}}
    lambdas = []
    for _ in range(n_splits):
        perm = rng.permutation(len(names))
        train = [names[i] for i in perm[: len(names) // 2]]
        test = [names[i] for i in perm[len(names) // 2:]]
        post = fit([Pair(s, get(s).group, *tiny[s], *mid[s]) for s in train], seed=int(rng.integers(1 << 31)))
        lambdas.append({g: (p.mean, p.low, p.high, p.n) for g, p in post.groups.items()})
        pred, one = [], []
        for s in test:
            p = post.predict(get(s).group, *tiny[s], level=level, extra_sd=mid[s][1])
            pred.append(p.mean)
            rows["transfer"]["cover"].append(p.low <= mid[s][0] <= p.high)
            sd1 = float(np.hypot(tiny[s][1], mid[s][1]))
            one.append(tiny[s][0])
            rows["one_to_one"]["cover"].append(abs(mid[s][0] - tiny[s][0]) <= z * sd1)
        meas = [mid[s][0] for s in test]
        rows["transfer"]["rho"].append(float(stats.spearmanr(pred, meas).statistic))
        rows["one_to_one"]["rho"].append(float(stats.spearmanr(one, meas).statistic))
    out = {k: {"rho_mean": float(np.nanmean(v["rho"])), "rho_sd": float(np.nanstd(v["rho"])),
               "coverage": float(np.mean(v["cover"])), "n_predictions": len(v["cover"])} for k, v in rows.items()}
    full = fit([Pair(s, get(s).group, *tiny[s], *mid[s]) for s in names], seed=seed)
    return {"switches": names, "tiny": tiny, "mid": mid, "summary": out, "splits": n_splits,
            "wins": int(np.sum(np.array(rows["transfer"]["rho"]) > np.array(rows["one_to_one"]["rho"]))),
            "ties": int(np.sum(np.array(rows["transfer"]["rho"]) == np.array(rows["one_to_one"]["rho"]))),
            "lambda_all": {g: p.model_dump() for g, p in full.groups.items()},
            "mu": full.mu, "tau": full.tau, "omega": full.omega_mean, "sigma": full.sigma_mean}


def tables(res: dict) -> str:
    lines = ["| switch | group | tiny effect (se) | mid effect (se) |", "|---|---|---:|---:|"]
    from causal_core.catalog import get
    for s in res["switches"]:
        (a, sa), (b, sb) = res["tiny"][s], res["mid"][s]
        lines.append(f"| {s} | {get(s).group} | {a:+.4f} ({sa:.4f}) | {b:+.4f} ({sb:.4f}) |")
    lines += ["", "| group (all switches) | lambda_g mean | 90% interval | local shift beta_g (sd) | switches |",
              "|---|---:|---|---:|---:|"]
    for g, p in res["lambda_all"].items():
        lines.append(f"| {g} | {p['mean']:+.2f} | [{p['low']:+.2f}, {p['high']:+.2f}] | "
                     f"{p.get('shift_mean', 0):+.4f} ({p.get('shift_sd', 0):.4f}) | {p['n']} |")
    lines += ["", f"Held-out switches over {res['splits']} random half splits:", "",
              "| model | Spearman rho (mean +- sd over splits) | 90% interval coverage | predictions |",
              "|---|---:|---:|---:|"]
    for k, v in res["summary"].items():
        lines.append(f"| {k} | {v['rho_mean']:+.3f} +- {v['rho_sd']:.3f} | {v['coverage']:.3f} | {v['n_predictions']} |")
    lines += ["", f"transfer beats 1:1 on rho in {res['wins']} of {res['splits']} splits ({res['ties']} ties)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench_transfer")
    ap.add_argument("--seeds", type=int, default=3, help="paired seeds per switch and scale (default 3)")
    ap.add_argument("--splits", type=int, default=60, help="random half splits (default 60; ~1 s of fitting each)")
    ap.add_argument("--analyse-only", action="store_true", help="only re-analyse cached runs (trains nothing new)")
    args = ap.parse_args(argv)
    if args.seeds < 2 or args.splits < 1:
        ap.error("--seeds must be >= 2 and --splits >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    diffs_path = args.out / "diffs.json"
    if args.analyse_only:
        if not diffs_path.is_file():
            ap.error(f"--analyse-only: no measured runs at {diffs_path}")
        diffs = json.loads(diffs_path.read_text())
    else:
        diffs = measure(args.out, [1 + i for i in range(args.seeds)])
        from causal_core.atomic import atomic_write_json
        atomic_write_json(diffs_path, diffs)
    res = evaluate_splits(diffs, args.splits, seed=0)
    from causal_core.atomic import atomic_write_json
    atomic_write_json(args.out / "results.json", res)
    print(tables(res))
    print(f"\nwall time {time.perf_counter() - t0:.0f} s; results {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
