"""Platform transfer coefficient: how an effect measured on one platform scales on another.

beta = effect_target / effect_source (e.g. torch-cuda over mlx-cpu, same intervention).
Uncertainty two ways: the delta method (normal, SE from each side's paired SE) and a
seeded percentile bootstrap resampling each platform's paired differences independently
(the platforms share no seeds, so they are independent samples). A ratio is unstable when
the source effect's interval includes 0: `stable` is False then and the interval is not
to be trusted.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel
from scipy import stats as sps


class Transfer(BaseModel):
    intervention: str
    source_platform: str
    target_platform: str
    effect_source: float
    effect_target: float
    beta: float
    se_delta: float | None
    ci_delta: tuple[float, float] | None
    ci_boot: tuple[float, float] | None
    stable: bool          # source effect's t interval excludes 0


def transfer_coefficient(source, target, n_boot: int = 9999, seed: int = 0, confidence: float = 0.95) -> Transfer:
    """`source`, `target`: stats.Analysis of the same intervention on two platforms."""
    if source.intervention != target.intervention:
        raise ValueError(f"different interventions: {source.intervention} vs {target.intervention}")
    ds, dt = np.asarray(source.diffs, float), np.asarray(target.diffs, float)
    if ds.size < 2 or dt.size < 2:
        raise ValueError("each platform needs at least 2 complete pairs")
    ms, mt = ds.mean(), dt.mean()
    beta = mt / ms if ms != 0 else math.inf
    ses, set_ = ds.std(ddof=1) / math.sqrt(ds.size), dt.std(ddof=1) / math.sqrt(dt.size)
    se = abs(beta) * math.sqrt((ses / ms) ** 2 + (set_ / mt) ** 2) if ms and mt else None
    z = sps.norm.ppf(0.5 + confidence / 2)
    ci_delta = (beta - z * se, beta + z * se) if se is not None and math.isfinite(se) else None
    ci_boot = None
    if n_boot:
        b = sps.bootstrap((ds, dt), lambda a, c, axis=-1: c.mean(axis=axis) / a.mean(axis=axis),
                          paired=False, vectorized=True, n_resamples=n_boot, method="percentile",
                          confidence_level=confidence, rng=np.random.default_rng(seed))
        ci_boot = (float(b.confidence_interval.low), float(b.confidence_interval.high))
    lo, hi = source.ci_t or (-math.inf, math.inf)
    return Transfer(intervention=source.intervention, source_platform=source.platform,
                    target_platform=target.platform, effect_source=float(ms), effect_target=float(mt),
                    beta=float(beta), se_delta=se, ci_delta=ci_delta, ci_boot=ci_boot,
                    stable=bool(lo > 0 or hi < 0))
