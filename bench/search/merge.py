"""Merge bench_search runs made side by side (`--first-repeat`, each with its own --out) into one
results.json and table: the repeats are concatenated and the summary recomputed.

    uv run python -m bench.search.merge OUT RUN1/results.json RUN2/results.json ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from bench.bench_search import summarize, table
    from causal_core.atomic import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder for the merged results.json")
    ap.add_argument("runs", type=Path, nargs="+", help="results.json files of the runs to merge")
    a = ap.parse_args(argv)
    parts = [json.loads(p.read_text()) for p in a.runs]
    keys = ("methods", "budget", "eval_seeds", "loop_seeds", "target_improvement", "mde", "alpha", "small", "medium")
    first = parts[0]["settings"]
    for p, r in zip(a.runs, parts[1:]):
        if any(r["settings"].get(k) != first.get(k) for k in keys):
            raise SystemExit(f"merge: {p} was run with other settings ({', '.join(k for k in keys if r['settings'].get(k) != first.get(k))})")
    reps = sorted((rep for r in parts for rep in r["repeats"]), key=lambda rep: rep["repeat"])
    if len({rep["repeat"] for rep in reps}) != len(reps):
        raise SystemExit("merge: the same repeat index appears twice")
    settings = dict(first, repeats=len(reps))
    ns = argparse.Namespace(**settings)
    summary = summarize(reps, ns)
    md = table(summary, reps, ns)
    atomic_write_json(a.out / "results.json", {
        "settings": settings, "base_env": parts[0]["base_env"], "records": parts[0]["records"],
        "switches": parts[0]["switches"], "partial": any(r["partial"] for r in parts),
        "wall_s": sum(r["wall_s"] for r in parts), "merged_from": [str(p) for p in a.runs],
        "summary": summary, "table_md": md, "repeats": reps})
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
