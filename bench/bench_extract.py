"""Time `extract_records` on the real records (target: ~1-2 s; < 10 s with the DAG step).

    uv run python bench/bench_extract.py [RECORDS_DIR] [--repeat N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from causal_core.records import extract_records  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("records", nargs="?", type=Path, default=ROOT.parent / "shared" / "parameter-golf-records")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    if not a.records.is_dir():
        print(f"{a.records}: not found", file=sys.stderr)
        return 2
    times, cpu = [], []
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r = extract_records([a.records])
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)     # wall time swings with other jobs on shared cores
    cov = r.field_coverage
    print(f"records={len(r.records)} skipped={len(r.skipped)} "
          f"wall best={min(times):.3f}s median={statistics.median(times):.3f}s cpu best={min(cpu):.3f}s "
          + " ".join(f"{k}={cov[k]:.3f}" for k in ("val_bpb", "name", "date", "interventions", "all_four")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
