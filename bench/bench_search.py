"""Search efficiency: the discovery-adjust loop vs Optuna TPE vs random search, same budget.

Given the same budget of training runs of the same trainer preset on the same data, how low
a CONFIRMED val_bpb does each method reach, how many runs does it take to reach a fixed
improvement over the baseline, and how many of its claims fail to replicate on fresh seeds?

    uv run python bench/bench_search.py --small              # < 30 min on 2 CPU cores (tiny trainer config)
    uv run python bench/bench_search.py                      # the full setting (cpu_small preset): overnight
    uv run python bench/bench_search.py --repeats 5 --budget 48 --out results/bench_search

Method, definitions and measured figures: docs/search_benchmark.md. Writes OUT/results.json,
OUT/best_so_far.png and prints the table.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search import metrics, space  # noqa: E402

# loop_norep: the same loop with replicate=False (placebo and leave-one-seed-out still run). Every
# method's claims get the held-out check below for free, so this shows what the loop's own
# replication costs it in runs.
# loop_screen: screening (a 4-switch Hadamard fold-over on one seed, flows/cycle_kinds.py) then
# multi-arm confirmation on fresh seeds; no replication (the confirmation is the replication of
# the screen's finding). Every loop runs with LORD++ online error control (the loop's default).
# loop_screen_pb: the same with a resolution III Plackett-Burman screen of 6 switches in 8 rows
# (every run informs 6 switches instead of 4; main effects aliased with two-factor interactions;
# 7 would saturate the 8 runs and leave no df for the noise).
# loop_screen_pb12: Plackett-Burman's 12-run design, 10 switches per screen (one residual df; the
# noise prior is the loop's pair SD), so a first screen reaches the switches ranked 7-10 as well.
LOOPS = {"loop": {"replicate": True}, "loop_norep": {"replicate": False},
         "loop_screen": {"replicate": False, "screen_k": 4, "screen_seeds": 1, "screen_max_rows": 8},
         "loop_screen_pb": {"replicate": False, "screen_k": 6, "screen_seeds": 1, "screen_max_rows": 8,
                            "screen_resolution": 3},
         "loop_screen_pb12": {"replicate": False, "screen_k": 10, "screen_seeds": 1, "screen_max_rows": 12,
                              "screen_resolution": 3}}
METHODS = (*LOOPS, "tpe", "random")
CHECKPOINTS = (12, 24, 48)
RECORDS = ROOT.parent / "shared" / "parameter-golf-records"


def small_trainer_env(data_dir: Path) -> dict:
    """tests/loop_helpers.tiny_trainer_env, minus the variables a catalog CONTROL sets (so the
    baseline equals every switch's control arm, as with the cpu_small preset), 30 steps, 32k val tokens."""
    from causal_core import catalog
    from tests.loop_helpers import tiny_trainer_env

    ctrl = {k for e in catalog.actionable() for k in e.control}
    env = {k: v for k, v in tiny_trainer_env(data_dir).items() if k not in ctrl}
    env["ITERATIONS"] = 30
    env["VAL_MAX_TOKENS"] = 32768
    return env


def medium_trainer_env(data_dir: Path) -> dict:
    """Between --small and cpu_small: the small config at 60 steps, 64 wide, 64k val tokens (each
    run ~2-3x a small one; the full setting's runs are ~20x)."""
    env = small_trainer_env(data_dir)
    env.update({"ITERATIONS": 60, "MODEL_DIM": 64, "NUM_HEADS": 4, "NUM_KV_HEADS": 2, "VAL_MAX_TOKENS": 65536})
    return env


def repeat_seeds(r: int, n_loop: int, n_eval: int) -> dict:
    # 10000 apart: the loop's re-tests add 1000 per earlier test (loop/proposal.py), and with
    # repeats 1000 apart a re-test in repeat r ran repeat r+1's seeds.
    b = 10000 * (r + 1)
    return {"base": b, "loop": [b + 1 + i for i in range(n_loop)],          # replication: the next n_loop
            "search": b + 1, "eval": [b + 101 + i for i in range(n_eval)]}


def methods_of(reps: list[dict]) -> list[str]:
    """The methods a run measured (`--methods` may leave some out), in METHODS order."""
    return [k for k in METHODS if k in reps[0]["methods"]]


def checkpoints(budget: int) -> list[int]:
    cps = sorted({c for c in CHECKPOINTS if c <= budget} | {budget, max(1, budget // 2)})
    return cps


# --- one repeat ---------------------------------------------------------------------------

def run_repeat(r: int, args, work: Path, data: Path, trainer_env: dict, base_env: dict, records: list[str]) -> dict:
    from bench.search.methods import loop_history, run_loop, run_optuna
    from bench.search.runs import RunCache

    seeds = repeat_seeds(r, args.loop_seeds, args.eval_seeds)
    cache = RunCache(work / "cache", base_env, budget_s=args.run_budget_s)
    out = {"repeat": r, "seeds": seeds, "timing_s": {}}

    # 1. The loop, as the real flow: with replication (its default) and without.
    cycles = {}
    for k, loop_kw in LOOPS.items():
        if k not in args.methods:
            continue
        t = time.perf_counter()
        loop_dir = work / f"repeat_{r}" / k
        out[f"{k}_run"] = run_loop(loop_dir, data, trainer_env, seeds["loop"], args.budget, records,
                                   args.run_budget_s, **loop_kw)
        cycles[k] = loop_history(Path(out[f"{k}_run"]["results_dir"]), cache)
        out[f"{k}_cycles"] = cycles[k]
        out["timing_s"][k] = round(time.perf_counter() - t, 1)
        print(f"[repeat {r}] {k}: {len(cycles[k])} cycles, {cycles[k][-1]['cum_runs'] if cycles[k] else 0} runs, "
              f"{out['timing_s'][k]:.0f} s; " + ", ".join(f"{c['intervention']}={c['decision']}" for c in cycles[k]),
              flush=True)

    # 2. TPE and random search side by side (one trial at a time each).
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        futs = {k: pool.submit(run_optuna, k, args.budget, seeds["search"], seeds["base"], cache)
                for k in ("tpe", "random") if k in args.methods}
        hist = {k: f.result() for k, f in futs.items()}
    out["history"] = hist
    out["timing_s"]["tpe_random"] = round(time.perf_counter() - t, 1)
    print(f"[repeat {r}] tpe/random: {out['timing_s']['tpe_random']:.0f} s", flush=True)

    # 3. Claims after every n runs, and the held-out check of every distinct claim.
    claims = {k: metrics.loop_claims(cycles[k], args.budget, order=space.SWITCHES) for k in LOOPS if k in cycles}
    raw_best = {}
    for k in hist:
        claims[k], raw_best[k] = metrics.search_claims(hist[k], args.budget)
    distinct = []
    for k in claims:
        for c in metrics.distinct_claims(claims[k]):
            if c not in distinct:
                distinct.append(c)
    t = time.perf_counter()
    jobs = [((), s) for s in seeds["eval"]] + [(c, s) for c in distinct for s in seeds["eval"]]
    with ThreadPoolExecutor(args.parallel) as pool:
        vals = list(pool.map(lambda j: cache.evaluate(j[0], j[1], source="heldout"), jobs))
    got = dict(zip(jobs, vals))
    base_vals = [got[((), s)] for s in seeds["eval"]]
    base_mean = metrics.summary(base_vals)["mean"]
    verdicts = {c: metrics.heldout_verdict([got[(c, s)] for s in seeds["eval"]], base_vals, args.mde, args.alpha)
                for c in distinct}
    out["timing_s"]["heldout"] = round(time.perf_counter() - t, 1)

    # 4. Curves and per-checkpoint figures.
    out["heldout_baseline"] = {"values": base_vals, "mean": base_mean}
    out["verdicts"] = {space.label(c): v for c, v in verdicts.items()}
    out["methods"] = {}
    for k in claims:
        conf, ship = metrics.curves(claims[k], verdicts, base_mean)
        m = {"claims": [space.label(c) for c in claims[k]], "confirmed_curve": conf, "shipped_curve": ship,
             "raw_best_curve": raw_best.get(k),
             "runs_to_target": metrics.runs_to_reach(conf, base_mean - args.target_improvement),
             "checkpoints": {}}
        for n in checkpoints(args.budget):
            n_claims, n_fd = metrics.false_discoveries(claims[k], verdicts, n)
            m["checkpoints"][str(n)] = {"confirmed": conf[n - 1], "shipped": ship[n - 1], "claim": space.label(claims[k][n - 1]),
                                        "claims": n_claims, "false_discoveries": n_fd}
        out["methods"][k] = m
    if "tpe" in out["methods"]:
        tpe_final = out["methods"]["tpe"]["confirmed_curve"][-1]
        for k in LOOPS:
            if k in out["methods"]:
                out[f"{k}_runs_to_tpe_final"] = metrics.runs_to_reach(out["methods"][k]["confirmed_curve"], tpe_final)
    out["cache"] = cache.stats()
    print(f"[repeat {r}] held-out check of {len(distinct)} claims: {out['timing_s']['heldout']:.0f} s; "
          f"cache {out['cache']}", flush=True)
    return out


# --- summary, table, plot -------------------------------------------------------------------

def summarize(reps: list[dict], args) -> dict:
    s = {"checkpoints": checkpoints(args.budget), "methods": {}}
    for k in methods_of(reps):
        m = {}
        for n in s["checkpoints"]:
            rows = [rep["methods"][k]["checkpoints"][str(n)] for rep in reps]
            impr = [rep["heldout_baseline"]["mean"] - row["confirmed"] for rep, row in zip(reps, rows)]
            m[str(n)] = {"confirmed": metrics.summary([row["confirmed"] for row in rows]),
                         "improvement": metrics.summary(impr),
                         "shipped": metrics.summary([row["shipped"] for row in rows]),
                         "claims": sum(row["claims"] for row in rows),
                         "false_discoveries": sum(row["false_discoveries"] for row in rows)}
        rt = [rep["methods"][k]["runs_to_target"] for rep in reps]
        m["runs_to_target"] = {"per_repeat": rt, "reached": sum(x is not None for x in rt),
                               "median_reached": (sorted(x for x in rt if x is not None)[sum(x is not None for x in rt) // 2]
                                                  if any(x is not None for x in rt) else None)}
        s["methods"][k] = m
    s["baseline_heldout"] = metrics.summary([rep["heldout_baseline"]["mean"] for rep in reps])
    half, full = str(max(1, args.budget // 2)), str(args.budget)
    s["target"] = {}
    if "tpe" not in s["methods"]:
        return s
    tpe_full = s["methods"]["tpe"][full]["confirmed"]["mean"]
    fd_tpe = s["methods"]["tpe"][full]["false_discoveries"]
    for k in (k for k in LOOPS if k in s["methods"]):
        loop_half = s["methods"][k][half]["confirmed"]["mean"]
        fd_loop = s["methods"][k][full]["false_discoveries"]
        per_rep = [rep[f"{k}_runs_to_tpe_final"] for rep in reps]
        s["target"][k] = {
            "definition": f"{k}'s confirmed val_bpb after {half} runs <= TPE's after {full} runs (mean over repeats), "
                          f"and {k} false discoveries <= TPE's",
            "loop_at_half": loop_half, "tpe_at_full": tpe_full, "fd_loop": fd_loop, "fd_tpe": fd_tpe,
            "loop_runs_to_tpe_final_per_repeat": per_rep,
            "met": (loop_half is not None and tpe_full is not None and loop_half <= tpe_full + 1e-12 and fd_loop <= fd_tpe),
            "met_every_repeat": all(x is not None and x <= int(half) for x in per_rep) and fd_loop <= fd_tpe,
        }
    return s


def _f(x, nd=4):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def table(summary: dict, reps: list[dict], args) -> str:
    cps = summary["checkpoints"]
    hdr = "| method | " + " | ".join(f"confirmed @{n} (mean ± sd) | improvement @{n}" for n in cps) + \
          f" | runs to -{args.target_improvement:g} (reached/repeats, median) | claims / false discoveries @{cps[-1]} | shipped @{cps[-1]} |"
    lines = [hdr, "|" + "---|" * (1 + 2 * len(cps) + 3)]
    for k in methods_of(reps):
        m = summary["methods"][k]
        cells = []
        for n in cps:
            c = m[str(n)]
            cells += [f"{_f(c['confirmed']['mean'])} ± {_f(c['confirmed']['sd'])}", f"{_f(c['improvement']['mean'])}"]
        rt = m["runs_to_target"]
        last = m[str(cps[-1])]
        lines.append(f"| {k} | " + " | ".join(cells) +
                     f" | {rt['reached']}/{len(reps)}, {rt['median_reached'] if rt['median_reached'] else '-'} "
                     f"| {last['claims']} / {last['false_discoveries']} | {_f(last['shipped']['mean'])} |")
    b = summary["baseline_heldout"]
    lines.append("")
    lines.append(f"held-out baseline val_bpb: {_f(b['mean'])} ± {_f(b['sd'])} over {b['n']} repeats")
    for k, t in summary["target"].items():
        lines.append(f"target ({t['definition']}): {k}@half {_f(t['loop_at_half'])} vs TPE@full {_f(t['tpe_at_full'])}; "
                     f"false discoveries {k} {t['fd_loop']} vs TPE {t['fd_tpe']}; {k} runs to TPE's final per repeat "
                     f"{t['loop_runs_to_tpe_final_per_repeat']} -> {'MET' if t['met'] else 'NOT MET'}"
                     f" (every repeat: {'yes' if t['met_every_repeat'] else 'no'})")
    return "\n".join(lines)


def plot(reps: list[dict], args, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {"loop": "tab:red", "loop_norep": "tab:orange", "loop_screen": "tab:green", "loop_screen_pb": "tab:olive", "tpe": "tab:blue",
              "random": "tab:gray"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(1, args.budget + 1)
    for k in methods_of(reps):
        # Relative to each repeat's held-out baseline, so repeats with different seeds average fairly.
        conf = np.array([np.array(rep["methods"][k]["confirmed_curve"]) - rep["heldout_baseline"]["mean"] for rep in reps])
        axes[0].step(x, conf.mean(0), where="post", color=colors[k], label=k)
        axes[0].fill_between(x, conf.min(0), conf.max(0), step="post", color=colors[k], alpha=0.15)
        if k not in LOOPS:
            raw = np.array([[np.nan if v is None else v - rep["history"][k][0]["val_bpb"]
                             for v in rep["methods"][k]["raw_best_curve"]] for rep in reps], float)
            axes[1].step(x, np.nanmean(raw, 0), where="post", color=colors[k], label=f"{k}: search-time best (1 seed)")
        ship = np.array([np.array(rep["methods"][k]["shipped_curve"]) - rep["heldout_baseline"]["mean"] for rep in reps])
        axes[1].step(x, ship.mean(0), where="post", color=colors[k], ls="--", label=f"{k}: claim on held-out seeds")
    for ax in axes:
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(-args.target_improvement, color="k", lw=0.8, ls=":")
        ax.set_xlabel("training runs used")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("confirmed val_bpb - baseline (held-out)")
    axes[0].set_title(f"best CONFIRMED so far (mean, band = min..max over {len(reps)} repeats)")
    axes[1].set_ylabel("val_bpb - baseline")
    axes[1].set_title("what the search sees vs what holds on fresh seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- main ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="tiny trainer on a small prepared corpus (< 30 min here)")
    ap.add_argument("--medium", action="store_true",
                    help="between --small and the full setting: 60 steps, 64 wide, 1 MB corpus, B = 32, 2 repeats (~1 h idle)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated subset of {','.join(METHODS)} (targets need tpe)")
    ap.add_argument("--repeats", type=int, help="benchmark repeats with different seeds (default 2 small, 3 full)")
    ap.add_argument("--first-repeat", type=int, default=0,
                    help="index of the first repeat (its seeds): run repeats side by side as separate processes "
                         "with their own --out, then merge with bench/search/merge.py")
    ap.add_argument("--budget", type=int, help="training runs per method (default 24 small, 48 full)")
    ap.add_argument("--out", type=Path, help="output folder (default results/bench_search[_small])")
    ap.add_argument("--loop-seeds", type=int, default=3, help="the loop's paired seeds per cycle (its default: 3)")
    ap.add_argument("--eval-seeds", type=int, help="fresh seeds of the held-out check (default 3 small, 4 full)")
    ap.add_argument("--target-improvement", type=float, help="fixed improvement for 'runs to reach' (val_bpb)")
    ap.add_argument("--mde", type=float, default=0.002, help="the gate's MDE (the loop's default)")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--parallel", type=int, default=2, help="held-out runs at once")
    ap.add_argument("--no-records", action="store_true", help="loop from catalog priors only (records=[])")
    ap.add_argument("--run-budget-s", type=float, help="per-run timeout budget of the runner")
    args = ap.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.methods or set(args.methods) - set(METHODS):
        ap.error(f"--methods: choose from {', '.join(METHODS)} (got {args.methods})")
    if args.small and args.medium:
        ap.error("--small and --medium exclude each other")
    # (small, medium, full)
    defaults = {"repeats": (2, 2, 3), "budget": (24, 32, 48), "eval_seeds": (3, 3, 4),
                "target_improvement": (0.05, 0.05, 0.01), "run_budget_s": (120.0, 240.0, 600.0)}
    for name, values in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, values[0] if args.small else values[1] if args.medium else values[2])
    if args.repeats < 1 or args.target_improvement <= 0 or args.run_budget_s <= 0:
        ap.error("--repeats, --target-improvement and --run-budget-s must be positive")
    setting = "small" if args.small else "medium" if args.medium else "full"
    out = (args.out or ROOT / "results" / {"small": "bench_search_small", "medium": "bench_search_medium",
                                           "full": "bench_search"}[setting]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.eval_seeds < 3:
        ap.error("--eval-seeds must be at least 3 (a paired t-test on 2 pairs has 1 degree of freedom)")
    if args.budget < 2 * args.loop_seeds:
        ap.error(f"--budget must allow one loop cycle ({2 * args.loop_seeds} runs)")

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from causal_core.data.prepare import ensure_embedded_default, prepare_embedded
    from causal_core.trainer import base_env
    from deployments.local_server import start_local_server

    t0 = time.perf_counter()
    work = out / "work"
    if args.small:
        data = work / "data" / "embedded_sp384"
        prepare_embedded(data, vocab_size=384, size_mb=0.3, seed=0, val_fraction=0.1)
        trainer_env = small_trainer_env(data)
    elif args.medium:
        data = work / "data" / "embedded_sp512_1mb"
        prepare_embedded(data, vocab_size=512, size_mb=1.0, seed=0, val_fraction=0.1)
        trainer_env = medium_trainer_env(data)
    else:
        data, trainer_env = ensure_embedded_default(ROOT), {}
    records = [] if args.no_records or not RECORDS.is_dir() else [str(RECORDS)]
    benv = base_env(data, trainer_env)
    print(f"setting: {setting}; methods {','.join(args.methods)}; budget {args.budget} runs/method; {args.repeats} repeats; "
          f"loop seeds {args.loop_seeds}; held-out seeds {args.eval_seeds}; {len(space.SWITCHES)} switches; "
          f"records: {records or 'none (catalog priors)'}\nbase env: {benv}", flush=True)

    server = start_local_server(Path(tempfile.mkdtemp(prefix="cg_bench_search_")) / "prefect_home", timeout=900)  # a loaded machine starts it slowly
    reps = []
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            for r in range(args.first_repeat, args.first_repeat + args.repeats):
                reps.append(run_repeat(r, args, work, data, trainer_env, benv, records))
                _write(out, args, reps, benv, records, t0, partial=True)
    finally:
        server.stop()
    summary = _write(out, args, reps, benv, records, t0, partial=False)
    plot(reps, args, out / "best_so_far.png")
    print()
    print(table(summary, reps, args))
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s; results {out / 'results.json'}; plot {out / 'best_so_far.png'}")
    return 0


def _write(out: Path, args, reps: list[dict], benv: dict, records: list[str], t0: float, partial: bool) -> dict:
    from causal_core.atomic import atomic_write_json

    summary = summarize(reps, args)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    atomic_write_json(out / "results.json", {
        "settings": settings, "base_env": benv, "records": records, "switches": list(space.SWITCHES),
        "partial": partial, "wall_s": round(time.perf_counter() - t0, 1), "summary": summary,
        "table_md": table(summary, reps, args), "repeats": reps})
    return summary


if __name__ == "__main__":
    sys.exit(main())
