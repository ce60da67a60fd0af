"""Estimator proof and speed for causal_core.dag.

Over many synthetic datasets with a known DAG and known effects (causal_core.dag.synthetic),
reports: coverage of the 95% effect intervals, sign accuracy, and the structural Hamming
distance (SHD, on adjacencies among observed variables) of our graph vs the truth, side by
side with plain causal-learn FCI and PC on the same data (same tertile/G-square encoding,
alpha 0.01, no background knowledge) and with the unvalidated expert skeleton. Then times
extract + dag on the real records when both exist.

    uv run python bench/bench_dag.py --quick      # ~1-2 minutes
    uv run python bench/bench_dag.py              # the fuller run quoted in docs/dag.md
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path

import numpy as np
from causallearn.search.ConstraintBased.FCI import fci
from causallearn.search.ConstraintBased.PC import pc

from causal_core.catalog import NAMES
from causal_core.dag import estimate_dag, skeleton
from causal_core.dag.encode import encode
from causal_core.dag.fci import ALPHA, TEST, design, pag_from_matrix
from causal_core.dag.synthetic import generate
from causal_core.dag.tags import projected_pairs

SETTINGS = {   # truth scenarios: calibrated expert, and an overconfident one with unmodelled interactions
    "calibrated": dict(p_zero=0.15, sd_scale=1.0, interaction=0.0),
    "misspecified": dict(p_zero=0.25, sd_scale=1.5, interaction=0.3),
}


def _plain(method: str, data: np.ndarray, names: list[str]) -> set[frozenset[str]]:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if method == "fci":
                g, _ = fci(data, TEST, ALPHA, show_progress=False, node_names=names)
                m = g.graph
            else:
                m = pc(data, ALPHA, TEST, show_progress=False, node_names=names).G.graph
    except Exception:   # a plain method that crashes is scored as the empty graph
        return set()
    return pag_from_matrix(m, names).adjacent


def one(n: int, seed: int, setting: str) -> dict:
    inter, truth = generate(n, seed=seed, **SETTINGS[setting])
    observed = set(NAMES) | {skeleton.OUTCOME, "artifact_bytes"}
    true_pairs = truth.pairs(observed)
    t0 = time.perf_counter()
    dag = estimate_dag(inter)
    secs = time.perf_counter() - t0
    ours = projected_pairs([(e.source, e.target) for e in dag.edges if e.tag != "data_contradicted"], observed)
    expert = projected_pairs([(s, t) for s, t, _ in skeleton.EDGES], observed)
    data, names, _ = design(encode(inter))
    shd = lambda a: len(a ^ true_pairs)   # noqa: E731
    cover, sign, decisive = [], [], []
    for e in dag.effects:
        if e.n_present == 0:
            continue   # never observed: the interval is the prior's, not a data estimate
        tr = truth.effects[e.intervention]
        cover.append(e.ci_low <= tr <= e.ci_high)
        if tr != 0:
            sign.append(np.sign(e.effect_bpb) == np.sign(tr))
            if e.ci_low > 0 or e.ci_high < 0:
                decisive.append(np.sign(e.effect_bpb) == np.sign(tr))
    return dict(cover=cover, sign=sign, decisive=decisive, secs=secs,
                shd_ours=shd(ours), shd_expert=shd(expert), shd_fci=shd(_plain("fci", data, names)),
                shd_pc=shd(_plain("pc", data, names)), fallback=dag.fci.fallback is not None)


def summarize(rows: list[dict]) -> dict:
    cat = lambda k: np.concatenate([np.asarray(r[k], float) for r in rows])   # noqa: E731
    mean = lambda k: float(np.mean([r[k] for r in rows]))                      # noqa: E731
    return dict(coverage=cat("cover").mean(), sign=cat("sign").mean(),
                decisive=cat("decisive").mean() if len(cat("decisive")) else float("nan"),
                n_decisive=len(cat("decisive")), shd_ours=mean("shd_ours"), shd_expert=mean("shd_expert"),
                shd_fci=mean("shd_fci"), shd_pc=mean("shd_pc"), fallback=mean("fallback"), secs=mean("secs"))


def time_real(records: Path) -> str:
    try:
        from causal_core.records.extract import extract_records
    except ImportError:
        return "real records: causal_core.records.extract not available; skipped"
    roots = sorted(p for p in records.iterdir() if p.is_dir())
    t0 = time.perf_counter()
    inter = extract_records(roots)
    t1 = time.perf_counter()
    dag = estimate_dag(inter)
    t2 = time.perf_counter()
    return (f"real records: {len(inter.records)} records; extract {t1 - t0:.1f} s + dag {t2 - t1:.1f} s "
            f"= {t2 - t0:.1f} s (target < 10 s); next_intervention {dag.next_intervention.intervention}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few datasets (~1-2 minutes)")
    ap.add_argument("--reps", type=int, help="datasets per cell (default 4 quick, 30 full)")
    ap.add_argument("--sizes", type=int, nargs="*", help="records per dataset (default 45 quick, 45 60 200 full)")
    ap.add_argument("--records", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "parameter-golf-records")
    a = ap.parse_args()
    reps = a.reps or (4 if a.quick else 30)
    sizes = a.sizes or ([45] if a.quick else [45, 60, 200])
    settings = ["calibrated"] if a.quick else list(SETTINGS)
    print(f"{'setting':13s} {'n':>4s} {'cover95':>8s} {'sign':>6s} {'sign|CI':>12s} "
          f"{'SHD ours':>9s} {'expert':>7s} {'FCI':>6s} {'PC':>6s} {'fallbk':>6s} {'s/dag':>6s}")
    for setting in settings:
        for n in sizes:
            s = summarize([one(n, 1000 * n + i, setting) for i in range(reps)])
            print(f"{setting:13s} {n:4d} {s['coverage']:8.3f} {s['sign']:6.3f} "
                  f"{s['decisive']:6.3f} ({s['n_decisive']:3d}) {s['shd_ours']:9.1f} {s['shd_expert']:7.1f} "
                  f"{s['shd_fci']:6.1f} {s['shd_pc']:6.1f} {s['fallback']:6.2f} {s['secs']:6.2f}", flush=True)
    if a.records.is_dir():
        print(time_real(a.records))
    else:
        print(f"real records: {a.records} absent; timing skipped")


if __name__ == "__main__":
    main()
