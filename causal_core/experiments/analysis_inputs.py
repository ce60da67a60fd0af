"""What `analyze` refuses before computing anything: options out of range and scores that
are not numbers. A wrong alpha or MDE would not fail loudly; it would move the gate
(`--alpha 2` confirms at p = 0.32), so it is an error, not a warning."""
from __future__ import annotations

import math


class AnalysisInputError(ValueError):
    """An option or a score analyze cannot use."""


def check_options(mde: float | None, alpha: float | None, n_boot: int) -> None:
    if alpha is not None and not 0 < alpha < 1:
        raise AnalysisInputError(f"alpha must be in (0, 1), got {alpha}")
    if mde is not None and not (math.isfinite(mde) and mde > 0):
        raise AnalysisInputError(f"the MDE must be a positive number of val_bpb, got {mde}")
    if n_boot < 0:
        raise AnalysisInputError(f"bootstrap resamples must be >= 0 (0 = none), got {n_boot}")


def check_scores(scores: dict[str, dict[int, float]]) -> None:
    """{condition: {seed: val_bpb}}: every score finite (a NaN or inf run is not a result)."""
    for cond, by_seed in scores.items():
        for seed, v in by_seed.items():
            if v is None or not math.isfinite(v):
                raise AnalysisInputError(f"{cond} seed {seed}: val_bpb is {v}, not a finite number")
