"""Step budget vs time budget: which capacity and schedule switches change decision.

    uv run python bench/bench_budget.py --tiny                       # minutes (docs/budget.md)
    uv run python bench/bench_budget.py --preset cpu_small --seeds 3 # the full run (hours of CPU)

For each switch: a step-budget experiment (both arms train the preset's ITERATIONS = N) and a
time-budget experiment whose budget is N steps of the control arm's calibrated step time, so
the control arm trains the same N steps in both and its runs are shared (one set of control
runs for every switch: every catalog control equals the preset). Only the treatment's step
count differs between the two: N under the step budget, floor(budget / its own step time)
under the time budget. Prints a markdown table (decision and effect under each budget, the
local step-time ratio from calibration and, where the records give one, the 8xH100 ratio)
and writes it with the raw numbers to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SWITCHES = ["more_layers", "wider_mlp", "depth_recurrence", "longer_train_seq", "batch_size_change",
            "warmdown_schedule", "lr_tuning", "swa", "qat", "bigram_hash"]
# --tiny: cpu_small at a quarter of its width, a quarter of its batch (64-token sequences),
# 40 steps and an 8k-token validation slice. The catalog's values of every switch apply
# unchanged (so batch_size_change and longer_train_seq run their own cpu_small-sized control).
TINY_ENV = {"MODEL_DIM": 32, "NUM_HEADS": 2, "NUM_KV_HEADS": 1, "TRAIN_BATCH_TOKENS": 1024, "TRAIN_SEQ_LEN": 64,
            "ITERATIONS": 40, "VAL_MAX_TOKENS": 8192, "VAL_BATCH_SIZE": 8192, "MUON_MOMENTUM_WARMUP_STEPS": 10,
            "TRAIN_LOG_EVERY": 0}


def _base_env(args) -> dict:
    data = Path(args.data).resolve()
    env = {"PRESET": args.preset, "DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model")}
    if args.tiny:
        env.update(TINY_ENV)
    return env


def _steps(env: dict) -> int:
    from causal_core.run_key import resolved
    return int(resolved({k: str(v) for k, v in env.items()})["ITERATIONS"])


class Runs:
    """(resolved config, seed) -> RunResult: a control run trains once for every switch."""

    def __init__(self, out: Path):
        self.out, self.cache, self.locks, self.lock = out, {}, {}, threading.Lock()

    def get(self, cfg, condition: str, seed: int):
        from causal_core.experiments.runner import run_one
        from causal_core.run_key import config_key
        key = f"{config_key(cfg.condition_env(condition))}:{seed}"
        with self.lock:
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:          # the same run asked for twice at once trains once
            if key not in self.cache:
                self.cache[key] = run_one(cfg, condition, seed, self.out / "runs" / key.replace(":", "_s"))
        r = self.cache[key]
        return r.model_copy(update={"run_id": cfg.run_id(condition, seed), "condition": condition})


def run_switch(name: str, args, runs: Runs, cache: Path, h100: dict) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from causal_core.experiments import budget
    from causal_core.experiments.config import from_catalog
    from causal_core.experiments.runner import summarize
    from causal_core.experiments.stats import analyze
    from causal_core.records.step_times import summary

    common = dict(trainer=str(ROOT / "train_gpt_mlx.py"), workdir=str(ROOT), seeds=args.seed_list,
                  base_env=_base_env(args), budget_s=args.budget_s, threads_per_run=1, max_parallel=args.parallel)
    steps_cfg = from_catalog(name, **common)
    n = _steps(steps_cfg.condition_env("control"))
    t0 = time.monotonic()
    cal = budget.calibrate(from_catalog(name, budget_mode="time", time_budget_s=1.0, **common),
                           args.out / "calibration" / name, cache)
    t_budget = (n + 0.5) * cal["control"]["step_ms"] / 1000       # N control steps on this machine
    time_cfg = budget.resolve(from_catalog(name, budget_mode="time", time_budget_s=t_budget, **common),
                              args.out / "calibration" / name, cache)
    jobs = [(cfg, c, s) for s in args.seed_list for cfg, c in
            ((steps_cfg, "control"), (steps_cfg, "treatment"), (time_cfg, "control"), (time_cfg, "treatment"))]
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        done = list(pool.map(lambda j: runs.get(*j), jobs))
    out = {"switch": name, "steps_budget": n, "time_budget_s": round(t_budget, 3),
           "control_ms": round(cal["control"]["step_ms"], 2), "treatment_ms": round(cal["treatment"]["step_ms"], 2),
           "local_ratio": round(cal["treatment"]["step_ms"] / cal["control"]["step_ms"], 3),
           "treatment_steps_time": time_cfg.arm_steps["treatment"], "wall_s": None}
    for mode, cfg in (("steps", steps_cfg), ("time", time_cfg)):
        a = analyze(summarize(cfg, [r for (c, _, _), r in zip(jobs, done) if c is cfg]), n_boot=0)
        out[mode] = {"decision": a.decision, "effect_bpb": a.effect_bpb, "p": a.p_value, "n_pairs": a.n_pairs}
    s, t = out["steps"], out["time"]
    flipped_sign = (s["effect_bpb"] or 0) * (t["effect_bpb"] or 0) < 0
    out["changed"] = s["decision"] != t["decision"] or flipped_sign
    mean, k, clean = summary(h100.get(name, []))
    out["h100_ratio"], out["h100_pairs"], out["h100_clean"] = mean, k, clean
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def table(rows: list[dict]) -> str:
    L = ["| switch | local step-time ratio | 8xH100 ratio (records) | steps: treatment/control | "
         "step budget: decision (effect) | time budget: decision (effect) | changed |",
         "|---|---:|---|---|---|---|---|"]
    for r in rows:
        h = "n/a" if r["h100_ratio"] is None else f"{r['h100_ratio']:.3f} ({r['h100_pairs']} pair(s){'' if r['h100_clean'] else ', bundled'})"
        e = lambda m: f"{r[m]['decision']} ({r[m]['effect_bpb']:+.4f})" if r[m]["effect_bpb"] is not None else r[m]["decision"]  # noqa: E731
        L.append(f"| `{r['switch']}` | {r['local_ratio']:.3f} | {h} | {r['steps_budget']} vs {r['treatment_steps_time']} (time) | "
                 f"{e('steps')} | {e('time')} | {'**yes**' if r['changed'] else 'no'} |")
    changed = sum(r["changed"] for r in rows)
    L += ["", f"{changed} of {len(rows)} switches change decision (class or effect sign) between the step and the time budget."]
    return "\n".join(L)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="a quarter-width cpu_small, 40 steps, 2 seeds (minutes)")
    p.add_argument("--preset", default="cpu_small")
    p.add_argument("--seeds", type=int, default=None, help="paired seeds per switch (default 3; 2 with --tiny)")
    p.add_argument("--data", default=None, help="prepared data dir (default: data/embedded_sp1024, prepared if absent)")
    p.add_argument("--only", default=None, help="comma-separated switches (default: all of SWITCHES)")
    p.add_argument("--parallel", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument("--budget-s", type=float, default=900.0, help="per-run timeout")
    p.add_argument("--out", type=Path, default=Path("/tmp/causal_golf_bench_budget"))
    p.add_argument("--records", default=str(ROOT.parent / "shared" / "parameter-golf-records"))
    args = p.parse_args()
    args.seed_list = list(range(1, 1 + (args.seeds or (2 if args.tiny else 3))))
    if args.data is None:
        from causal_core.data.prepare import ensure_embedded_default
        args.data = str(ensure_embedded_default(ROOT, vocab_size=1024))
    switches = args.only.split(",") if args.only else SWITCHES
    args.out.mkdir(parents=True, exist_ok=True)
    h100 = {}
    if Path(args.records).is_dir():
        from causal_core.records.pipeline import extract_records
        from causal_core.records.step_times import h100_step_ratios
        h100 = h100_step_ratios(extract_records([Path(args.records)]))
    runs, cache = Runs(args.out), args.out / "step_times.json"
    rows, t0 = [], time.monotonic()
    for name in switches:
        rows.append(run_switch(name, args, runs, cache, h100))
        r = rows[-1]
        print(f"{name}: ratio {r['local_ratio']}, steps {r['steps_budget']} vs {r['treatment_steps_time']}; "
              f"steps {r['steps']['decision']} {r['steps']['effect_bpb']}, time {r['time']['decision']} "
              f"{r['time']['effect_bpb']} ({r['wall_s']} s)", flush=True)
    md = table(rows)
    print("\n" + md)
    setting = "tiny" if args.tiny else args.preset
    (args.out / "bench_budget.json").write_text(json.dumps(
        {"setting": setting, "seeds": args.seed_list, "wall_s": round(time.monotonic() - t0, 1), "rows": rows}, indent=2))
    (args.out / "bench_budget.md").write_text(md + "\n")
    print(f"\nwall {time.monotonic() - t0:.0f} s; wrote {args.out}/bench_budget.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
