"""Screening: a two-level design over the top-K candidates, run on common seeds, analysed by a
Bayesian regression of val_bpb on the design with the DAG's effects as the prior.

Designs (no library: three constructions cover what the loop needs, from scipy.linalg.hadamard):
- full factorial 2^k when it fits the row budget: resolves every main effect and every
  two-factor interaction (2FI);
- the fold-over of a Sylvester Hadamard matrix H_N (rows [H; -H], k <= N columns): resolution IV
  in 2N rows, main effects clear of every 2FI (2FIs aliased with each other, reported as chains);
- with `resolution=3`, Plackett-Burman (k <= N - 1 factors in N rows, N a multiple of 4: Sylvester's
  H_N for 4, 8, 16, 32, the cyclic generators for 12 and 20): main effects aliased with 2FIs; half
  the runs of the fold-over or fewer, for budgets where that matters (10 switches in 12 runs).
The design is run as paired configs (treatment = a row, control = its mirror where the design
has it, else the next row), all on the same seeds (common random numbers across all rows). Factor-to-column mapping and each column's sign are randomized (seeded by the cycle), so
which configurations are trained is a randomized assignment, not a choice.

Coding: x = +1 switch ON (catalog treatment), -1 OFF (catalog control). With this coding a
coefficient b is half the ON-minus-OFF effect, so the switch's effect is 2b.

Analysis: y[row, seed] = mu + block[seed] + sum_j b_j x_j + sum_resolved b_jl x_j x_l + e, e ~ N(0, s^2).
Priors: b_j ~ N(effect_j / 2, (sd_j / 2)^2) from the DAG (the loop's own ranking); resolved 2FIs
~ N(0, INTERACTION_PRIOR_FRAC x the mean main-effect prior sd / 2); intercept and seed blocks flat.
Noise: s^2 = (nu0 s0^2 + RSS) / (nu0 + df) (a weak inverse-gamma prior with nu0 = 2 on the
residuals of the least-squares fit); the posterior of the coefficients is then the conjugate
normal one, intervals use t(nu0 + df). A switch advances to confirmation when its posterior
P(effect < 0) >= `advance_prob`; the rest are set aside with their estimate.
The likelihood-only estimate (flat priors) is also reported: it is what the loop writes back as
evidence, so the DAG never counts its own prior twice.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats
from scipy.linalg import hadamard

INTERACTION_PRIOR_FRAC = 0.5
NOISE_PRIOR_DF = 2.0
FLAT = 0.0          # prior precision of the intercept and the seed blocks


# --- designs -----------------------------------------------------------------------------------

def full_factorial(k: int) -> np.ndarray:
    return np.array(list(itertools.product((1, -1), repeat=k)), dtype=int)


def foldover(k: int) -> np.ndarray:
    """Resolution IV: rows [H_N; -H_N] over the first k columns of a Sylvester H_N, N = 2^ceil(log2 k)."""
    n = 1 << max(1, math.ceil(math.log2(max(k, 2))))
    h = hadamard(n)[:, :k]
    return np.vstack([h, -h]).astype(int)


# Plackett & Burman (1946)'s cyclic generators for the run counts that are not powers of 2: rows
# 1..N-1 are the cyclic shifts of the generator, row N is all -1. Their 2FIs are spread over many
# main effects at +-1/3 (12) or +-1/5 (20) instead of aliased whole, as in a Sylvester design.
PB_GENERATORS = {12: "++-+++---+-", 20: "++--++++-+-+----++-"}


def pb_rows(k: int) -> int:
    """Rows of the smallest Plackett-Burman design for k factors: a multiple of 4 above k (12 and 20
    from the cyclic generators, powers of 2 from Sylvester's H_N)."""
    n = 4 * (k // 4 + 1)
    while n not in PB_GENERATORS and n & (n - 1):
        n += 4
    return n


def plackett_burman(k: int) -> np.ndarray:
    """Resolution III: k columns of a Hadamard matrix of pb_rows(k) rows (k <= N - 1), orthogonal.
    The 12-row design screens 8-11 switches, where Sylvester's next size is 16 rows."""
    n = pb_rows(k)
    if n in PB_GENERATORS:
        g = np.array([1 if c == "+" else -1 for c in PB_GENERATORS[n]])
        rows = np.array([np.roll(g, i) for i in range(n - 1)] + [-np.ones(n - 1, dtype=int)])
        return rows[:, :k].astype(int)
    return hadamard(n)[:, 1:k + 1].astype(int)


def design_matrix(k: int, max_rows: int, resolution: int = 4) -> tuple[np.ndarray, str]:
    """The design for k factors within `max_rows` rows: the full factorial when it fits (and is no
    bigger than the alternative), else the fold-over (resolution IV) or, when resolution III is
    accepted, the smaller Plackett-Burman design."""
    if k < 1:
        raise ValueError("a screening design needs at least one factor")
    if 2 ** k <= max_rows and (resolution >= 4 or 2 ** k <= pb_rows(k)):
        return full_factorial(k), "full factorial 2^%d (resolution V+: all 2FIs resolved)" % k
    x, kind = ((foldover(k), "Hadamard fold-over, %d rows (resolution IV: 2FIs aliased in chains)") if resolution >= 4
               else (plackett_burman(k), "Plackett-Burman, %d rows (resolution III: main effects aliased with 2FIs)"))
    if len(x) > max_rows:
        raise ValueError(f"{k} factors need {len(x)} rows for a resolution {min(resolution, 4)} design (max_rows {max_rows})")
    return x, kind % len(x)


def mirror_pairs(x: np.ndarray) -> list[tuple[int, int]]:
    """Rows run as (treatment, control) of one config: (row, its mirror) where the design has it,
    else consecutive rows; every row is in exactly one pair (the row count is even)."""
    seen, pairs = set(), []
    for i, row in enumerate(x):
        if i in seen:
            continue
        j = next((j for j in range(len(x)) if j not in seen and j != i and np.array_equal(x[j], -row)), None)
        if j is None:
            j = next(j for j in range(i + 1, len(x)) if j not in seen)
        seen |= {i, j}
        pairs.append((i, j))
    return pairs


class Factor(BaseModel):
    name: str
    prior_effect_bpb: float          # the DAG's expected ON-minus-OFF effect (negative = better)
    prior_sd_bpb: float
    expected_improvement_bpb: float = 0.0
    cost: float = 1.0                # relative cost of a run with it ON (1 = the baseline's)


class ScreenDesign(BaseModel):
    """What a screening cycle runs: rows x seeds; saved as the cycle's design.json before any run."""
    factors: list[Factor]
    matrix: list[list[int]]          # rows x factors, +1 ON / -1 OFF (after randomization)
    pairs: list[tuple[int, int]]     # (row, mirror row): run as (treatment, control) of one config
    seeds: list[int]
    kind: str
    randomization_seed: int
    stack: dict[str, dict] = Field(default_factory=dict)   # confirmed switches, ON in every row

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.factors]

    def x(self) -> np.ndarray:
        return np.array(self.matrix, dtype=float)

    def row_switches(self, row: int) -> list[str]:
        return [f.name for f, v in zip(self.factors, self.matrix[row]) if v > 0]

    @property
    def n_runs(self) -> int:
        return len(self.matrix) * len(self.seeds)


def make_design(factors: list[Factor], seeds: list[int], max_rows: int = 16, randomization_seed: int = 0,
                stack: dict | None = None, resolution: int = 4) -> ScreenDesign:
    x, kind = design_matrix(len(factors), max_rows, resolution)
    rng = np.random.default_rng(randomization_seed)
    x = x[:, rng.permutation(x.shape[1])] * rng.choice([-1, 1], size=x.shape[1])   # randomized assignment
    return ScreenDesign(factors=factors, matrix=x.tolist(), pairs=mirror_pairs(x), seeds=list(seeds), kind=kind,
                        randomization_seed=randomization_seed, stack=dict(stack or {}))


# --- candidates --------------------------------------------------------------------------------

def top_k(candidates: list[Factor], k: int, min_improvement_bpb: float = 0.0) -> list[Factor]:
    """The k candidates with the largest expected improvement per unit cost (ties: name)."""
    pool = [c for c in candidates if c.expected_improvement_bpb > min_improvement_bpb]
    return sorted(pool, key=lambda c: (-c.expected_improvement_bpb / max(c.cost, 1e-9), c.name))[:k]


# --- analysis ----------------------------------------------------------------------------------

class Estimate(BaseModel):
    term: str                         # a switch, or "a x b" for an interaction
    effect_bpb: float                 # ON-minus-OFF (main) or the 2FI contrast (2 b), posterior mean
    ci_low: float
    ci_high: float
    sd: float
    p_improves: float | None = None   # posterior P(effect < 0), main effects only
    data_effect_bpb: float | None = None   # likelihood-only (flat prior) estimate
    data_ci: tuple[float, float] | None = None
    aliases: list[str] = Field(default_factory=list)


class ScreenAnalysis(BaseModel):
    kind: str
    n_runs: int
    seeds: list[int]
    sigma: float
    df: float
    main: list[Estimate]
    interactions: list[Estimate]      # resolved 2FIs only
    unresolved: list[list[str]] = Field(default_factory=list)   # alias chains of 2FIs the design cannot split
    advance: list[str] = Field(default_factory=list)
    set_aside: list[str] = Field(default_factory=list)
    advance_prob: float = 0.8
    notes: list[str] = Field(default_factory=list)


def _two_fi(x: np.ndarray, names: list[str]) -> tuple[list[tuple[int, int]], list[list[str]]]:
    """2FI columns the design resolves (no other main or 2FI column equals +-it) and the alias
    chains of those it does not."""
    k = x.shape[1]
    cols = {(i, j): x[:, i] * x[:, j] for i, j in itertools.combinations(range(k), 2)}
    resolved, chains, done = [], [], set()
    for ij, c in cols.items():
        if ij in done:
            continue
        same = [kl for kl, d in cols.items() if kl != ij and abs(float(c @ d)) == len(c)]
        main_alias = any(abs(float(c @ x[:, m])) == len(c) for m in range(k))
        if not same and not main_alias:
            resolved.append(ij)
        else:
            done |= set(same)
            chains.append([f"{names[a]} x {names[b]}" for a, b in [ij, *same]])
    return resolved, chains


def min_runs(k: int) -> int:
    """Finished runs a k-factor screen needs: intercept + k main effects + 1 residual df (the
    noise estimate). A saturated design (Plackett-Burman 7 in 8 rows on one seed) has none."""
    return k + 2


def analyze_screen(design: ScreenDesign, y: dict[tuple[int, int], float], *, advance_prob: float = 0.8,
                   noise_prior_sd: float = 0.01, level: float = 0.95) -> ScreenAnalysis:
    """`y[(row, seed)]` = val_bpb of that run (missing runs are left out)."""
    x = design.x()
    names = design.names
    k = len(names)
    obs = [(r, s, v) for (r, s), v in sorted(y.items()) if v is not None and math.isfinite(v)]
    if len(obs) < min_runs(k):
        raise ValueError(f"screening analysis needs at least {min_runs(k)} finished runs (got {len(obs)})")
    seeds = sorted({s for _, s, _ in obs})
    rows = np.array([r for r, _, _ in obs])
    yv = np.array([v for _, _, v in obs])
    xm = x[rows]
    blocks = np.array([[1.0 if s == b else 0.0 for b in seeds[1:]] for _, s, _ in obs]).reshape(len(obs), -1)
    resolved, chains = _two_fi(x, names)
    inter = np.column_stack([xm[:, i] * xm[:, j] for i, j in resolved]) if resolved else np.zeros((len(obs), 0))
    base = np.column_stack([np.ones(len(obs)), blocks, xm])
    notes = []
    if "resolution III" in design.kind:
        notes.append("resolution III: each main effect is aliased with two-factor interactions (chains listed)")
    if np.linalg.matrix_rank(np.column_stack([base, inter])) < base.shape[1] + inter.shape[1] \
            or len(obs) - base.shape[1] - inter.shape[1] < 1:
        notes.append(f"{len(resolved)} resolvable 2FIs left out: too few runs to fit them beside the main effects")
        chains += [[f"{names[i]} x {names[j]}"] for i, j in resolved]
        resolved, inter = [], np.zeros((len(obs), 0))
    X = np.column_stack([base, inter])
    n_fixed = 1 + blocks.shape[1]
    main_prior = np.array([f.prior_effect_bpb / 2 for f in design.factors])
    main_sd = np.array([max(f.prior_sd_bpb, 1e-6) / 2 for f in design.factors])
    int_sd = INTERACTION_PRIOR_FRAC * float(main_sd.mean())
    m0 = np.concatenate([np.zeros(n_fixed), main_prior, np.zeros(len(resolved))])
    prec0 = np.concatenate([np.full(n_fixed, FLAT), 1 / main_sd ** 2, np.full(len(resolved), 1 / int_sd ** 2)])

    # noise: least squares residuals pooled with a weak prior on the noise scale
    beta_ls, *_ = np.linalg.lstsq(X, yv, rcond=None)
    df = max(0, len(obs) - np.linalg.matrix_rank(X))
    rss = float(((yv - X @ beta_ls) ** 2).sum()) if df else 0.0
    s2 = (NOISE_PRIOR_DF * noise_prior_sd ** 2 + rss) / (NOISE_PRIOR_DF + df)
    q = stats.t.ppf(0.5 + level / 2, NOISE_PRIOR_DF + df)

    def posterior(prec_prior: np.ndarray, mean_prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prec = X.T @ X / s2 + np.diag(prec_prior)
        cov = np.linalg.inv(prec)
        return cov @ (X.T @ yv / s2 + prec_prior * mean_prior), cov

    mean, cov = posterior(prec0, m0)
    flat = np.concatenate([np.zeros(n_fixed + k), prec0[n_fixed + k:]])   # flat mains, same 2FI shrinkage
    d_mean, d_cov = posterior(flat, m0 * (flat > 0))
    tdist = stats.t(NOISE_PRIOR_DF + df)

    main = []
    for j, f in enumerate(design.factors):
        i = n_fixed + j
        e, sd = 2 * mean[i], 2 * math.sqrt(cov[i, i])
        de, dsd = 2 * d_mean[i], 2 * math.sqrt(d_cov[i, i])
        main.append(Estimate(term=f.name, effect_bpb=e, sd=sd, ci_low=e - q * sd, ci_high=e + q * sd,
                             p_improves=float(tdist.cdf(-e / sd)), data_effect_bpb=de,
                             data_ci=(de - q * dsd, de + q * dsd)))
    interactions = []
    for m, (a, b) in enumerate(resolved):
        i = n_fixed + k + m
        e, sd = 2 * mean[i], 2 * math.sqrt(cov[i, i])
        interactions.append(Estimate(term=f"{names[a]} x {names[b]}", effect_bpb=e, sd=sd,
                                     ci_low=e - q * sd, ci_high=e + q * sd, data_effect_bpb=2 * d_mean[i]))
    advance = [m.term for m in sorted(main, key=lambda m: m.effect_bpb) if (m.p_improves or 0) >= advance_prob]
    return ScreenAnalysis(kind=design.kind, n_runs=len(obs), seeds=seeds, sigma=math.sqrt(s2),
                          df=NOISE_PRIOR_DF + df, main=main, interactions=interactions, unresolved=chains,
                          advance=advance, set_aside=[m.term for m in main if m.term not in advance],
                          advance_prob=advance_prob, notes=notes)
