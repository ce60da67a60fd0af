"""The challenge's limits and acceptance bar, checked on what the runs measured."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

BYTES_LIMIT = 16_000_000                # decimal bytes: code + compressed model
TIME_LIMIT_S = 600.0                    # training wall-clock on the challenge platform
CHALLENGE_PLATFORM = "8xH100"
# What our ExperimentConfig.platform values are, in words. None of them is the challenge's
# 8xH100 setup as such: a run can only claim the time limit where it was measured there.
PLATFORM_WORDS = {
    "mlx-cpu": "MLX on CPU",
    "mlx-metal": "MLX on Apple GPU (Metal)",
    "mlx-cuda": "MLX on an NVIDIA GPU",
    "torch-cuda": "PyTorch on NVIDIA GPU(s), hardware not recorded",
}
BAR_NATS = 0.005                        # a new record must beat the previous by >= 0.005 nats
BAR_ALPHA = 0.01                        # ... with p < 0.01


@dataclass
class SizeCheck:
    bytes_code: int
    bytes_model: int | None
    bytes_total: int | None
    limit: int
    within_limit: bool
    message: str

    def to_json(self) -> dict:
        return asdict(self)


def check_size(bytes_code: int, bytes_model: int | None, limit: int = BYTES_LIMIT) -> SizeCheck:
    """code bytes + compressed model bytes <= limit; unknown model size is never 'within'."""
    if bytes_model is None:
        return SizeCheck(bytes_code, None, None, limit, False,
                         "compressed model size unknown (no `serialized_model_int8_zlib:BYTES bytes` line): "
                         "the artifact limit is NOT verified")
    total = bytes_code + bytes_model
    ok = total <= limit
    msg = (f"{bytes_code:,} code + {bytes_model:,} model = {total:,} bytes "
           + (f"<= {limit:,}: within the artifact limit" if ok else
              f"> {limit:,}: OVER the artifact limit by {total - limit:,} bytes; not a valid submission"))
    return SizeCheck(bytes_code, bytes_model, total, limit, ok, msg)


@dataclass
class TimeCheck:
    platform: str
    platform_words: str
    challenge_platform: str
    is_challenge_platform: bool
    wallclock_cap_s: float | None           # MAX_WALLCLOCK_SECONDS the runs used (0/None = no cap)
    max_run_elapsed_s: float | None         # longest measured run (training + eval + export)
    time_limit_s: float
    verified: bool
    message: str

    def to_json(self) -> dict:
        return asdict(self)


def check_time(platform: str, wallclock_cap_s: float | None, elapsed_s: list[float],
               hardware: str | None = None) -> TimeCheck:
    """Verified only for PyTorch on hardware stated as 8xH100 with a cap <= the limit."""
    words = PLATFORM_WORDS.get(platform, platform)
    longest = max(elapsed_s) if elapsed_s else None
    cap = wallclock_cap_s if wallclock_cap_s and wallclock_cap_s > 0 else None
    capped = f"a training wall-clock cap of {cap:g} s" if cap else "no training wall-clock cap (MAX_WALLCLOCK_SECONDS=0)"
    took = f"; the longest run took {longest:.1f} s end to end" if longest is not None else ""
    on_platform = platform == "torch-cuda" and (hardware or "").replace(" ", "").lower().startswith("8xh100")
    if on_platform and cap is not None and cap <= TIME_LIMIT_S:
        return TimeCheck(platform, f"{words} ({hardware})", CHALLENGE_PLATFORM, True, cap, longest, TIME_LIMIT_S,
                         True, f"verified: {hardware} with {capped} <= {TIME_LIMIT_S:g} s{took}")
    where = (f"the challenge's {CHALLENGE_PLATFORM}" if on_platform else
             f"{words} (platform `{platform}`), not the challenge's {CHALLENGE_PLATFORM}")
    msg = (f"NOT verified: these runs used {where}, with {capped}{took}. Nothing here claims the "
           f"{TIME_LIMIT_S:g} s / {CHALLENGE_PLATFORM} time limit; the configuration must be re-run on "
           f"{CHALLENGE_PLATFORM} with MAX_WALLCLOCK_SECONDS={TIME_LIMIT_S:g} to qualify.")
    return TimeCheck(platform, words, CHALLENGE_PLATFORM, on_platform, cap, longest, TIME_LIMIT_S, False, msg)


def challenge_bar(control_loss: list[float], treatment_loss: list[float], bar: float = BAR_NATS,
                  alpha: float = BAR_ALPHA) -> dict:
    """One-sided paired t-test of H0: improvement (control - treatment val_loss, nats) <= bar."""
    d = np.asarray(control_loss, float) - np.asarray(treatment_loss, float)
    n = int(d.size)
    out = {"min_improvement_nats": bar, "alpha": alpha, "n_pairs": n,
           "improvement_nats": float(d.mean()) if n else None, "t_stat": None, "df": None, "p_value": None,
           "met": False, "against": "this loop's baseline (the control runs) on the same platform, "
                                    "not the challenge leaderboard"}
    if n < 2:
        out["note"] = f"{n} complete pair(s): the bar needs at least 2"
        return out
    sd = float(d.std(ddof=1))
    mean = float(d.mean())
    if sd == 0:
        t, p = (math.inf, 0.0) if mean > bar else (-math.inf, 1.0)
    else:
        t = (mean - bar) / (sd / math.sqrt(n))
        p = float(sps.t.sf(t, n - 1))
    out.update(t_stat=t if math.isfinite(t) else None, df=n - 1, p_value=p, met=bool(mean >= bar and p < alpha))
    return out
