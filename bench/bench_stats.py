"""Simulation proof of the decision gate (causal_core.experiments.stats.decide).

    uv run python bench/bench_stats.py [--sims 10000] [--sigma-ours 0.004] [--records ../shared/parameter-golf-records]

Paired differences d_i = effect + e_i, e_i ~ N(0, sd_d), sd_d = sigma_seed * sqrt(2 (1 - rho)):
sigma_seed is the seed-to-seed spread of one configuration's val_bpb, rho the correlation of
the two conditions under the same seed (0 = conservative). Reports:
  alpha      P(confirmed | no effect), fixed designs with 3/5/8 seeds (must be <= alpha)
  FWER       P(any confirmed | k null tests, Holm) (must be <= alpha)
  power      P(confirmed | effect = -2 MDE) at 3/5/8 seeds, per noise level
  challenge  the challenge's bar (one-sided p < 0.01, 0.005-nat improvement) on the same noise
  coverage   95% paired t and percentile bootstrap intervals at 3/5/8 pairs
  sequential runs per decision, false-confirm rate and power vs the fixed 3-seed design
  online     the loop's life: 20 cycles through LORD++ (stats.online_level): FWER/FDR of the null loop
             (must be <= alpha) and of loops with some real effects, power, vs a fixed alpha per cycle
             (`--only online` runs this part alone)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from causal_core.experiments.power import gate_power  # noqa: E402
from causal_core.experiments.sequential import look_alpha, sequential_step  # noqa: E402
from causal_core.experiments.stats import decide, gate_alpha, online_level  # noqa: E402

NATS_PER_BPB_FALLBACK = 2.07269931 / 1.2243657   # NaiveBaseline's val_loss / val_bpb


def record_noise(records: Path) -> tuple[float | None, int, float]:
    """Pooled within-record SD of per-seed val_bpb (seed_results or per-seed logs), and nats per bpb."""
    from causal_core.logparse import record_score
    ss, df, n_rec, ratios = 0.0, 0, 0, []
    for folder in sorted(p for p in records.glob("*/*") if p.is_dir()):
        try:
            sub = json.loads((folder / "submission.json").read_text())
        except (OSError, ValueError):
            sub = {}
        vals = []
        sr = sub.get("seed_results") or (sub.get("seeds") if isinstance(sub.get("seeds"), dict) else None)
        if isinstance(sr, dict):
            vals = [v["val_bpb"] for v in sr.values() if isinstance(v, dict) and isinstance(v.get("val_bpb"), float)]
        if len(vals) < 2:
            rs = record_score(folder)
            vals = [v for k, v in rs.per_log.items() if k.startswith("train_seed") and v is not None]
        if isinstance(sub.get("val_loss"), float) and isinstance(sub.get("val_bpb"), float) and sub["val_bpb"] > 0:
            r = sub["val_loss"] / sub["val_bpb"]
            if 1.5 < r < 1.8:      # sp1024 records: tokens/bytes comparable to ours
                ratios.append(r)
        if len(vals) >= 2:
            v = np.asarray(vals)
            ss += float(((v - v.mean()) ** 2).sum())
            df += v.size - 1
            n_rec += 1
    sigma = math.sqrt(ss / df) if df else None
    return sigma, n_rec, float(np.median(ratios)) if ratios else NATS_PER_BPB_FALLBACK


def ttest(d: np.ndarray):
    r = sps.ttest_1samp(d, 0.0, axis=1)      # = ttest_rel(treatment, control) on the differences
    return r.pvalue, d.mean(axis=1)


def rate_confirmed(d: np.ndarray, mde: float, alpha: float, k_holm: int = 1) -> float:
    p, eff = ttest(d)
    conf = 0
    for i in range(0, d.shape[0], k_holm):
        pp = p[i:i + k_holm]
        adj = multipletests(pp, alpha=alpha, method="holm")[1] if k_holm > 1 else pp
        decisions = [decide(n_pairs=d.shape[1], effect=float(e), p_adjusted=float(a), p_raw=float(q), mde=mde,
                            alpha=alpha) for e, a, q in zip(eff[i:i + k_holm], adj, pp)]
        conf += any(x == "confirmed" for x in decisions) if k_holm > 1 else decisions[0] == "confirmed"
    return conf / (d.shape[0] / k_holm)


def sim(rng, n_exp, n, effect, sd):
    return effect + sd * rng.standard_normal((n_exp, n))


def sequential_sim(rng, n_exp, effect, sd, mde, alpha, max_pairs, min_pairs=2):
    runs, conf = 0, 0
    for _ in range(n_exp):
        d = effect + sd * rng.standard_normal(max_pairs)
        for n in range(min_pairs, max_pairs + 1):
            step = sequential_step(d[:n], max_pairs, mde, alpha, min_pairs)
            if step == "continue":
                continue
            if step == "efficacy":
                conf += 1
            elif step == "final":
                p = sps.ttest_1samp(d[:n], 0.0).pvalue
                p_gate = min(1.0, p * alpha / look_alpha(min_pairs, max_pairs, alpha))
                conf += decide(n_pairs=n, effect=float(d[:n].mean()), p_adjusted=p_gate, p_raw=p, mde=mde,
                               alpha=alpha) == "confirmed"
            break
        runs += 2 * n
    return runs / n_exp, conf / n_exp


def online_sim(rng, n_loops: int, n_cycles: int, n_pairs: int, sd: float, mde: float, alpha: float,
               frac_real: float = 0.0, effect: float = -0.004, online: bool = True, horizon: int | None = None) -> dict:
    """n_loops loops of n_cycles single-switch cycles each; a cycle's switch has a real effect
    `effect` with probability frac_real, else none. Each cycle's gate runs at the LORD++ level its
    loop's past confirmations earned (online) or at the fixed alpha. Returns FWER = P(any false
    confirmation), FDR = E[false / max(1, confirmed)], power = confirmed real / real."""
    real = rng.random((n_loops, n_cycles)) < frac_real
    d = np.where(real[..., None], effect, 0.0) + sd * rng.standard_normal((n_loops, n_cycles, n_pairs))
    p = sps.ttest_1samp(d, 0.0, axis=2).pvalue
    eff = d.mean(axis=2)
    conf = np.zeros((n_loops, n_cycles), bool)
    for i in range(n_loops):
        rej: list[int] = []
        for t in range(n_cycles):
            a = gate_alpha(online_level(t + 1, rej, alpha, horizon=horizon)) if online else alpha
            conf[i, t] = decide(n_pairs=n_pairs, effect=float(eff[i, t]), p_adjusted=float(p[i, t]),
                                p_raw=float(p[i, t]), mde=mde, alpha=a) == "confirmed"
            if conf[i, t]:
                rej.append(t + 1)
    false = (conf & ~real).sum(axis=1)
    n_real = real.sum()
    return {"fwer": float(np.mean(false > 0)), "fdr": float(np.mean(false / np.maximum(1, conf.sum(axis=1)))),
            "power": float((conf & real).sum() / n_real) if n_real else None,
            "confirmed_per_loop": float(conf.sum(axis=1).mean())}


def online_report(rng, args, sd_records: float) -> None:
    n_loops = max(200, args.sims // 5)
    print(f"\n[online] {args.cycles} cycles per loop, {args.online_pairs} pairs per cycle, {n_loops} loops per row; "
          f"FWER and FDR must be <= alpha {args.alpha} with LORD++; real effects = -2.5 x max(MDE, pair SD)")
    levels = [online_level(t, [], args.alpha) for t in range(1, 6)]
    print("  LORD++ levels with no confirmation yet, tests 1-5: " + ", ".join(f"{x:.4f}" for x in levels)
          + f"; after a confirmation at test 1, test 2: {online_level(2, [1], args.alpha):.4f}")
    levels = [online_level(t, [], args.alpha, horizon=8) for t in (1, 2, 3, 5, 8, 9)]
    print("  with a horizon of 8 tests (stats.LORD_HORIZON_SHARE), tests 1, 2, 3, 5, 8, 9: "
          + ", ".join(f"{x:.4f}" for x in levels))
    # records' noise (MDE >> noise: the MDE clause alone nearly stops false confirmations) and the
    # loop's own small-scale noise (pair SD 0.04 >> MDE: the worst case, only the p-value guards)
    for name, sd in (("records", sd_records), ("pair SD 0.04", 0.04)):
        for frac in (0.0, 0.3, 0.6):
            for online, horizon, label in ((True, None, "LORD++"), (True, args.cycles, f"LORD++ N={args.cycles}"),
                                           (True, 8, "LORD++ N=8"), (False, None, "fixed alpha")):
                r = online_sim(rng, n_loops, args.cycles, args.online_pairs, sd, args.mde, args.alpha,
                               frac_real=frac, effect=-2.5 * max(args.mde, sd), online=online, horizon=horizon)
                pw = "n/a" if r["power"] is None else f"{r['power']:.3f}"
                print(f"  {name:12s} real {frac:3.0%} {label:14s}: FWER {r['fwer']:.4f}, "
                      f"FDR {r['fdr']:.4f}, power {pw}, confirmations/loop {r['confirmed_per_loop']:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=10_000)
    ap.add_argument("--mde", type=float, default=0.002)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--k", type=int, default=5, help="tests per cycle for the FWER check")
    ap.add_argument("--rho", type=float, default=0.0, help="correlation of paired runs under one seed")
    ap.add_argument("--sigma-records", type=float, default=None, help="override the records' seed spread")
    ap.add_argument("--sigma-ours", type=float, action="append", default=[],
                    help="our trainer's seed-to-seed SD of val_bpb (repeatable)")
    ap.add_argument("--coverage-sims", type=int, default=2000)
    ap.add_argument("--seq-sims", type=int, default=4000)
    ap.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "parameter-golf-records")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cycles", type=int, default=20, help="cycles per loop in the online simulation")
    ap.add_argument("--online-pairs", type=int, default=5, help="seed pairs per cycle in the online simulation")
    ap.add_argument("--only", choices=["online"], help="run one part alone")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    mde, alpha = args.mde, args.alpha

    sig_rec, n_rec, nats_per_bpb = (None, 0, NATS_PER_BPB_FALLBACK)
    if args.records.is_dir():
        sig_rec, n_rec, nats_per_bpb = record_noise(args.records)
    sig_rec = args.sigma_records or sig_rec or 0.0007
    sigmas = {"records": sig_rec, **{f"ours{i}": s for i, s in enumerate(args.sigma_ours)}}
    pair_sd = {k: s * math.sqrt(2 * (1 - args.rho)) for k, s in sigmas.items()}
    print(f"noise: records seed SD {sig_rec:.5f} val_bpb (pooled over {n_rec} multi-seed records); "
          f"paired-difference SD = SD*sqrt(2(1-rho)), rho={args.rho}")
    for k, s in sigmas.items():
        print(f"  {k}: seed SD {s:.5f} -> pair SD {pair_sd[k]:.5f}")
    print(f"gate: MDE {mde} val_bpb, alpha {alpha}; sims {args.sims}")
    if args.only == "online":
        online_report(rng, args, pair_sd["records"])
        print(f"\n(done in {time.time() - t0:.0f}s)")
        return 0

    print("\n[alpha] P(confirmed | no effect), fixed design (must be <= alpha)")
    for name, sd in pair_sd.items():
        for n in (3, 5, 8):
            r = rate_confirmed(sim(rng, args.sims, n, 0.0, sd), mde, alpha)
            print(f"  {name:8s} n={n}: {r:.4f}  (t-test alone, two-sided: {alpha}; gate confirms improvements only)")
        # Worst case for the MDE clause: noise so large that effect <= -MDE is nearly automatic.
    r = rate_confirmed(sim(rng, args.sims, 3, 0.0, 1.0), mde, alpha)
    print(f"  worst case (pair SD >> MDE) n=3: {r:.4f}")

    print(f"\n[FWER] P(any confirmed | {args.k} null tests per cycle, Holm) (must be <= alpha)")
    for name, sd in pair_sd.items():
        n_exp = (args.sims // args.k) * args.k
        print(f"  {name:8s} n=3: {rate_confirmed(sim(rng, n_exp * 1, 3, 0.0, sd), mde, alpha, args.k):.4f}"
              f"   worst case: {rate_confirmed(sim(rng, n_exp, 3, 0.0, 1.0), mde, alpha, args.k):.4f}")

    eff = -2 * mde
    bar_bpb = 0.005 / nats_per_bpb
    print(f"\n[power] P(confirmed | effect = {eff}) and the challenge's bar "
          f"(one-sided p < 0.01; 0.005 nats = {bar_bpb:.5f} val_bpb at {nats_per_bpb:.3f} nats/bpb)")
    for name, sd in pair_sd.items():
        for n in (3, 5, 8):
            d = sim(rng, args.sims, n, eff, sd)
            pw = gate_power(eff, sd, n, mde, alpha, sims=args.sims, seed=args.seed)   # the loop's sizing function
            p1 = sps.ttest_1samp(d, 0.0, axis=1, alternative="less").pvalue
            bar = float(np.mean(p1 < 0.01))
            d2 = sim(rng, args.sims, n, -bar_bpb, sd)
            pw2 = rate_confirmed(d2, mde, alpha)
            bar2 = float(np.mean(sps.ttest_1samp(d2, 0.0, axis=1, alternative="less").pvalue < 0.01))
            print(f"  {name:8s} n={n}: gate {pw:.3f}, challenge bar {bar:.3f}  | effect 0.005 nats: "
                  f"gate {pw2:.3f}, challenge bar {bar2:.3f}")

    print("\n[coverage] 95% intervals of the mean paired difference (nominal 0.95)")
    sd = pair_sd["records"]
    for n in (3, 5, 8):
        d = sim(rng, args.coverage_sims, n, eff, sd)
        ci = sps.ttest_1samp(d, 0.0, axis=1).confidence_interval(0.95)
        cov_t = float(np.mean((ci.low <= eff) & (eff <= ci.high)))
        b = sps.bootstrap((d,), np.mean, axis=1, n_resamples=999, method="percentile",
                          rng=np.random.default_rng(args.seed))
        cov_b = float(np.mean((b.confidence_interval.low <= eff) & (eff <= b.confidence_interval.high)))
        print(f"  n={n}: t interval {cov_t:.3f}, percentile bootstrap {cov_b:.3f}")

    print(f"\n[sequential] vs fixed 3 seeds (6 runs); {args.seq_sims} sims per row")
    for name, sd in pair_sd.items():
        for label, effect in (("null", 0.0), ("2xMDE", eff)):
            fixed = rate_confirmed(sim(rng, args.seq_sims, 3, effect, sd), mde, alpha)
            row = f"  {name:8s} {label:6s} fixed3: runs 6.00, confirm {fixed:.4f}"
            for max_pairs in (3, 5):
                runs, conf = sequential_sim(rng, args.seq_sims, effect, sd, mde, alpha, max_pairs)
                row += f" | seq<= {max_pairs}: runs {runs:.2f}, confirm {conf:.4f}"
            print(row)
    print(f"  per-look levels: max 3 pairs {look_alpha(2, 3, alpha):.4f}, max 5 pairs {look_alpha(2, 5, alpha):.4f}")
    online_report(rng, args, pair_sd["records"])
    print(f"\n(done in {time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
