"""Experiment layer: configs, the paired-seed runner, statistics and the decision gate.

Python API used by the Prefect flow:
    run_one(config, condition, seed, out_dir) -> RunResult
    run_experiment(config, out_dir) -> RawRuns
    analyze(raw_runs, ...) -> Analysis
    decide(...) -> str
Submodules are imported lazily so `import causal_core.experiments` stays cheap.
"""
from __future__ import annotations

__all__ = ["ExperimentConfig", "run_one", "run_experiment", "RunResult", "RawRuns", "analyze", "decide", "Analysis"]

_WHERE = {
    "ExperimentConfig": "config", "run_one": "runner", "run_experiment": "runner", "RunResult": "runner",
    "RawRuns": "runner", "analyze": "stats", "decide": "stats", "Analysis": "stats",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(name)
