"""Orchestration overhead of the cycle-loop on a running Prefect server.

overhead share = (flow wall time - time inside training subprocesses) / flow wall time,
where "inside training" is the union of the training subprocesses' intervals (experiment
and replication seeds; runs overlap when seeds go in parallel; reused runs trained nothing). Also splits the rest into the discovery/analysis steps (our own
compute, timed by Prefect's task runs) and what remains: Prefect's own overhead.

    uv run python bench/bench_loop_overhead.py            # the main job's settings (cpu_small, 2 cycles x 3 seeds,
                                                          # diagnostics, no replication, submission assembled)
    uv run python bench/bench_loop_overhead.py --tiny     # seconds-long runs: overhead dominates (worst case)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return total + ((cur_e - cur_s) if cur_e is not None else 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny trainer config (seconds per run)")
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--seeds", default="1,2,3")
    args = ap.parse_args()

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from causal_core.data.prepare import ensure_embedded_default, prepare_embedded
    from causal_core.experiments.results import RunResult
    from deployments.local_server import start_local_server
    from flows.cycle_loop import cycle_loop
    from tests.loop_helpers import tiny_trainer_env

    work = Path(tempfile.mkdtemp(prefix="cg_overhead_"))
    if args.tiny:
        data = work / "data"
        prepare_embedded(data, vocab_size=384, size_mb=0.3)
        trainer_env = tiny_trainer_env(data)
    else:
        data, trainer_env = ensure_embedded_default(ROOT), {}
    t = time.perf_counter()
    server = start_local_server(work / "prefect_home")
    print(f"server healthy after {time.perf_counter() - t:.1f} s ({server.api_url})")
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            t0 = time.time()
            report = cycle_loop(records=[str(ROOT.parent / "shared" / "parameter-golf-records")],
                                results_dir=str(work / "results"), records_out=str(work / "records"),
                                data_path=str(data), seeds=[int(s) for s in args.seeds.split(",")],
                                trainer_env=trainer_env, auto_approve=True, max_cycles=args.cycles,
                                stop_on_confirmed=False,
                                # the main job's settings (causal_core/commands/main_job.py); --tiny: the loop alone
                                replicate=args.tiny, assemble=not args.tiny)
            wall = time.time() - t0
            with get_client(sync_client=True) as client:
                tasks = client.read_task_runs()
            steps = [(t.start_time.timestamp(), t.end_time.timestamp()) for t in tasks
                     if t.name and t.start_time and t.end_time
                     and not any(k in t.name for k in ("-control-", "-treatment-"))]
    finally:
        server.stop()

    intervals = []     # every training subprocess: experiment, replication and submission seeds
    results = work / "results"
    for p in results.glob("**/runs/*.result.json"):
        r = RunResult.model_validate_json(p.read_text())
        copies = p.parent.parent / "reused.json"     # the submission's copies of loop runs
        if r.reused or (copies.is_file() and r.run_id in json.loads(copies.read_text())):
            continue    # a reused run trained nothing in this loop
        end = p.stat().st_mtime
        intervals.append((end - r.elapsed_s, end))
    training = union_seconds(intervals)
    rest = wall - training
    # our own steps (discovery, diagnostics, analysis, DAG, publishing) where no training ran
    step_s = union_seconds(steps + intervals) - training
    print(f"stop reason: {report['stop_reason']}; seed runs: {len(intervals)}")
    print(f"flow wall time:                 {wall:8.1f} s")
    print(f"inside training subprocesses:   {training:8.1f} s  (union of {len(intervals)} runs)")
    print(f"outside training:               {rest:8.1f} s  = {100 * rest / wall:.1f}% of the wall time")
    print(f"  our steps' tasks while nothing trained:         {step_s:6.1f} s")
    print(f"  the rest (flow-level steps, Prefect itself):    {rest - step_s:6.1f} s  = "
          f"{100 * (rest - step_s) / wall:.1f}% of the wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
