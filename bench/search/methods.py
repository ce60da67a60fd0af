"""The three methods, each producing its run history under the same budget.

- TPE / random: Optuna over one boolean per actionable switch; trial 1 is the baseline
  (all OFF, enqueued, as an HPO user would do to have something to beat); one training run
  per trial at the repeat's search seed. Failed runs are told to Optuna as FAIL and still cost a run.
- loop: the real `cycle_loop` flow (auto-approve, records as given, stop_on_confirmed=False,
  max_runs = the budget, the other stop rules out of reach, so only the budget stops it); its
  runs are counted from its own raw_runs.json files (experiment + replication), in cycle order.
  A run the loop served from an earlier cycle (same resolved config and seed: the next cycle's
  control arm) trained nothing and is not charged; every Optuna trial is, duplicates included,
  since Optuna would train it again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from . import space
from .runs import RunCache


def run_optuna(kind: str, budget: int, search_seed: int, sampler_seed: int, cache: RunCache) -> list[dict]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if kind == "tpe":
        sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    elif kind == "random":
        sampler = optuna.samplers.RandomSampler(seed=sampler_seed)
    else:
        raise ValueError(f"unknown optuna method {kind!r}")
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial({s: False for s in space.SWITCHES})
    history = []
    for n in range(1, budget + 1):
        trial = study.ask()
        flags = {s: trial.suggest_categorical(s, [False, True]) for s in space.SWITCHES}
        on = space.from_flags(flags)
        t = time.perf_counter()
        v = cache.evaluate(on, search_seed, source=kind)
        if v is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, v)
        history.append({"n": n, "config": list(on), "val_bpb": v, "seed": search_seed,
                        "wall_s": round(time.perf_counter() - t, 2)})
    return history


def run_loop(work: Path, data_path: Path, trainer_env: dict, seeds: list[int], budget: int,
             records: list[str], budget_s: float, max_parallel: int = 2, replicate: bool = True, **extra) -> dict:
    from flows.cycle_loop import cycle_loop

    t = time.perf_counter()
    report = cycle_loop(records=records, results_dir=str(work / "results"), records_out=str(work / "records"),
                        data_path=str(data_path), seeds=seeds, budget_s=budget_s, trainer_env=trainer_env,
                        auto_approve=True, stop_on_confirmed=False, max_runs=budget, max_nulls_in_a_row=budget,
                        max_cycles=budget, max_parallel=max_parallel, replicate=replicate,
                        run_diagnostics=False, assemble=False, **{"budget_mode": "steps", **extra})
    # budget_mode "steps": TPE/random and the held-out check train a fixed step count, so the loop does too
    return {"stop_reason": report.get("stop_reason"), "wall_s": round(time.perf_counter() - t, 1),
            "max_runs": budget, "results_dir": str(work / "results")}


def trained(runs) -> int:
    """Runs that trained (not served from an earlier cycle)."""
    return sum(1 for r in runs if not r.reused)


def loop_history(results_dir: Path, cache: RunCache | None = None) -> list[dict]:
    """Per finished cycle, in order: the intervention, its final decision (after refutation),
    the runs it cost (experiment + replication) and the cumulative count. A multi-arm cycle gives
    one entry per arm (the cycle's runs on its first, all at the cycle's cumulative count); a
    screening cycle one entry with decision "screen" (it claims nothing, its runs are charged)."""
    from causal_core.experiments.results import RawRuns
    from causal_core.experiments.stats import load_stats
    from causal_core.loop.layout import cycle_stats

    cycles, cum = [], 0
    from causal_core.loop.layout import LoopLayout

    for cyc in LoopLayout(Path(results_dir)).cycles():
        d, n = cyc.dir, cyc.n
        screen = d / "screen" / "analysis.json"
        if screen.is_file() and (d / "record.json").is_file():
            raws = [RawRuns.load(p) for p in sorted(d.glob("screen/pair_*/raw_runs.json"))]
            runs = sum(trained(r.runs) for r in raws)
            if cache is not None:
                for r in raws:
                    cache.ingest(r.config, r.runs, source="loop-screen")
            cum += runs
            a = json.loads(screen.read_text())
            cycles.append({"cycle": n, "intervention": "screen:" + "+".join(m["term"] for m in a["main"]),
                           "decision": "screen", "advance": a["advance"], "effect_bpb": None, "p_adjusted": None,
                           "n_pairs": 0, "runs": runs, "reused_runs": sum(len(r.runs) for r in raws) - runs,
                           "replication_runs": 0, "cum_runs": cum, "stacked_on": list(raws[0].config.stack) if raws else [],
                           "refutation_downgraded": False})
            continue
        entries = []
        for stats in cycle_stats(d):
            raw_p = stats.parent / "raw_runs.json"
            if not raw_p.is_file():
                continue
            a = load_stats(stats)
            raw = RawRuns.load(raw_p)
            n_exp, n_rep = trained(raw.runs), 0
            rep_p = stats.parent.parent / "replication" / "raw_runs.json"
            rep_raw = RawRuns.load(rep_p) if rep_p.is_file() else None
            if rep_raw is not None:
                n_rep = trained(rep_raw.runs)
            if cache is not None:
                cache.ingest(raw.config, raw.runs, source="loop")
                if rep_raw is not None:
                    cache.ingest(rep_raw.config, rep_raw.runs, source="loop-replication")
            ref = stats.parent.parent / "refutation.json"
            refutation = json.loads(ref.read_text()) if ref.is_file() else None
            entries.append({"cycle": n, "intervention": a.intervention, "decision": a.decision,
                            "effect_bpb": a.effect_bpb, "p_adjusted": a.p_adjusted, "n_pairs": a.n_pairs,
                            "alpha": a.alpha, "family_size": a.family_size,
                            "runs": n_exp, "reused_runs": len(raw.runs) - n_exp, "replication_runs": n_rep,
                            "stacked_on": list(raw.config.stack),
                            "refutation_downgraded": bool(refutation and refutation.get("downgraded"))})
        cum += sum(e["runs"] + e["replication_runs"] for e in entries)
        for e in entries:
            e["cum_runs"] = cum
        cycles += entries
    return cycles
