"""Transfer model: how an effect measured at the records' 8xH100 scale shows at a local scale.

    local effect of i = lambda_i * H100 effect of i  +  beta_g  +  delta_i
    lambda_i ~ N(lambda_g, omega^2)   the intervention's own coefficient around its group's
    lambda_g ~ N(mu, tau^2)           per catalog group g (catalog.GROUPS), partially pooled
    mu ~ N(1, 1)                      weak; centred on the 1:1 assumption, wide enough for 0 or 2
    tau ~ half-normal(1), omega ~ half-normal(0.5), both on a grid
    beta_g ~ N(0, sigma_beta^2)       the group's local shift: what its switches do at THIS scale
                                      whatever their H100 effect (e.g. every schedule change
                                      hurts a 30-step run)
    delta_i ~ t_4(0, sigma)           the intervention's own scale-specific effect (heavy-tailed)
    sigma_beta, sigma ~ half-Cauchy(0.05 bpb), on a grid (Gelman 2006's choice for a hierarchical
                                      scale with few groups: a few hundredths of a bpb are usual,
                                      but a 30-step run's schedule changes move val_bpb by ~1)

Why the additive terms (a measured failure, docs/transfer.md): with lambda alone, a local effect
that has nothing to do with the H100 effect can only be explained by a huge lambda. One 61-step
EMA run (+0.53 bpb, against -0.009 at H100) made lambda[optimizer_schedule] 13.9, flipped EMA's
H100 effect to +0.037, and predicted -0.098 bpb locally for weight_decay; the loop then spent
five tests on that group's nulls. Now such an effect lands in delta_i (heavy tails: one outlier
does not inflate sigma) or, when the group's switches agree, in beta_g, which is how the loop
learns from its nulls and harms that a group does nothing (or hurts) at its scale. The
multiplicative part still carries the H100 evidence: with no local data beta_g and delta_i have
mean zero and the same spread for every intervention, so the ranking follows lambda_g x H100.

Both sides are estimates (errors in variables): the H100 effect theta_i is latent, with the
records' posterior N(h_i, s_i^2) as its prior, and the local measurement is
l_i ~ N(lambda_i theta_i, se_i^2). A ratio l_i / h_i would be unstable whenever h_i is near
zero; the joint model just learns little about lambda_g from such an intervention.

Fit: Gibbs sampling over (theta, lambda_i, lambda_g, mu, tau, omega, beta_g, delta_i, w_i,
sigma, sigma_beta). Every conditional is exact: theta_i, lambda_i, lambda_g, beta_g and delta_i
are Gaussian given the rest (the model is bilinear), mu is Gaussian, the t's mixing weights w_i
are Gamma, and tau, omega, sigma and sigma_beta are drawn from their conditionals on a grid.
Why Gibbs rather than a grid over tau with a Laplace step: the bilinear term lambda*theta makes
the posterior non-Gaussian exactly where it matters (a group whose H100 effects are small), and
a few thousand sweeps over at most dozens of interventions take about a second. Seeded: same input, same output.

One fit covers ONE local scale (platform, trainer scale, budget mode): evidence from
different local scales is never pooled (`scale_key`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel

from causal_core.catalog import GROUPS

MU_PRIOR = (1.0, 1.0)              # mean, sd of mu
TAU_GRID = np.geomspace(0.02, 3.0, 40)
TAU_PRIOR_SCALE = 1.0              # half-normal
OMEGA_GRID = np.geomspace(0.02, 3.0, 40)
OMEGA_PRIOR_SCALE = 0.5            # half-normal
SHIFT_GRID = np.geomspace(5e-4, 3.0, 48)   # sigma and sigma_beta, in bpb
SHIFT_PRIOR_SCALE = 0.05           # half-Cauchy, bpb: local effects of a few hundredths are usual here
NU = 4.0                           # delta_i's t degrees of freedom: heavy tails, finite variance
LEVEL = 0.90


class Pair(NamedTuple):
    """One intervention measured both ways (means and standard deviations in val_bpb)."""
    intervention: str
    group: str
    h100_mean: float
    h100_sd: float
    local_mean: float
    local_se: float


class GroupLambda(BaseModel):
    group: str
    mean: float
    sd: float
    low: float                     # LEVEL interval
    high: float
    n: int                         # interventions of this group in the fit (0 = pooled prior only)
    shift_mean: float = 0.0        # beta_g: the group's additive local shift, bpb
    shift_sd: float = 0.0


class Prediction(BaseModel):
    mean: float
    sd: float
    low: float
    high: float


def scale_key(platform: str, scale: str | None, budget_mode: str | None) -> str:
    """The local scale an experiment ran at; effects at different keys are fitted apart."""
    return f"{platform}|{scale or 'unknown-scale'}|{budget_mode or 'steps'}"


def _interval(x: np.ndarray, level: float) -> tuple[float, float]:
    a = (1 - level) / 2
    lo, hi = np.quantile(x, [a, 1 - a])
    return float(lo), float(hi)


@dataclass
class TransferPosterior:
    lam: dict[str, np.ndarray]              # group -> lambda samples
    omega: np.ndarray                       # spread of an intervention's own lambda_i around lambda_g
    mu_s: np.ndarray
    tau_s: np.ndarray
    theta: dict[str, np.ndarray]            # intervention -> H100-effect samples (those in the fit)
    local: dict[str, np.ndarray]            # intervention -> local true-effect samples (those in the fit)
    pairs: list[Pair]
    beta: dict[str, np.ndarray]             # group -> additive local shift samples
    sigma: np.ndarray                       # scale of delta_i (an intervention's own local deviation)
    sigma_beta: np.ndarray                  # spread of the groups' shifts
    seed: int = 0

    @property
    def groups(self) -> dict[str, GroupLambda]:
        n = {g: sum(p.group == g for p in self.pairs) for g in self.lam}
        return {g: GroupLambda(group=g, mean=float(s.mean()), sd=float(s.std()), low=_interval(s, LEVEL)[0],
                               high=_interval(s, LEVEL)[1], n=n[g], shift_mean=float(self.beta[g].mean()),
                               shift_sd=float(self.beta[g].std())) for g, s in self.lam.items()}

    @property
    def sigma_mean(self) -> float:
        return float(self.sigma.mean())

    @property
    def mu(self) -> float:
        return float(self.mu_s.mean())

    @property
    def tau(self) -> float:
        return float(self.tau_s.mean())

    @property
    def omega_mean(self) -> float:
        return float(self.omega.mean())

    def predict(self, group: str, h100_mean: float, h100_sd: float, level: float = LEVEL,
                extra_sd: float = 0.0) -> Prediction:
        """Predictive distribution of the local effect of an intervention NOT in the fit, from its
        H100 estimate; `extra_sd` adds measurement noise (to predict a measured value, not the truth)."""
        rng = np.random.default_rng(self.seed + 17)
        k = self.omega.size
        lam = self.lam[group] + self.omega * rng.standard_normal(k)    # this intervention's own
        theta = h100_mean + h100_sd * rng.standard_normal(k)
        # antithetic: the symmetric parts add spread, never a Monte Carlo offset, so candidates of
        # different groups are ranked by their H100 evidence, not by sampling noise
        delta = _symmetric(self.sigma / np.sqrt(rng.gamma(NU / 2, 2 / NU, k)), rng)
        x = lam * theta + self.beta[group] + delta + _symmetric(np.full(k, extra_sd), rng)
        lo, hi = _interval(x, level)
        return Prediction(mean=float(x.mean()), sd=float(x.std()), low=lo, high=hi)

    def summary(self, samples: np.ndarray, level: float = LEVEL) -> Prediction:
        lo, hi = _interval(samples, level)
        return Prediction(mean=float(samples.mean()), sd=float(samples.std()), low=lo, high=hi)


def fit(pairs: list[Pair], seed: int = 0, n_iter: int = 3000, burn: int = 600) -> TransferPosterior:
    """Posterior of lambda_g and beta_g (every catalog group; a group without pairs gets the
    pooled predictive), of each pair's H100 effect and of its true local effect."""
    groups = list(GROUPS)
    for p in pairs:
        if p.group not in GROUPS:
            raise ValueError(f"{p.intervention}: unknown transfer group {p.group!r}")
        if not (p.h100_sd > 0 and p.local_se > 0) or not all(map(math.isfinite, p[2:])):
            raise ValueError(f"{p.intervention}: needs finite means and positive standard deviations")
    rng = np.random.default_rng(seed)
    if not pairs:
        return _prior_only(groups, rng, n_iter - burn, seed)
    h = np.array([p.h100_mean for p in pairs])
    s2 = np.array([p.h100_sd for p in pairs]) ** 2
    l = np.array([p.local_mean for p in pairs])
    e2 = np.array([p.local_se for p in pairs]) ** 2
    gi = np.array([groups.index(p.group) for p in pairs], dtype=int)
    G, n = len(groups), len(pairs)
    ng = np.bincount(gi, minlength=G)
    tau_lp = _halfnormal_on_log_grid(TAU_GRID, TAU_PRIOR_SCALE)
    om_lp = _halfnormal_on_log_grid(OMEGA_GRID, OMEGA_PRIOR_SCALE)
    sh_lp = _halfcauchy_on_log_grid(SHIFT_GRID, SHIFT_PRIOR_SCALE)
    m0, v0 = MU_PRIOR[0], MU_PRIOR[1] ** 2
    lam_g, lam_i, theta = np.ones(G), np.ones(n), h.copy()
    beta, delta, w = np.zeros(G), np.zeros(n), np.ones(n)
    mu, tau, om, sig, sig_b = m0, 0.5, 0.3, SHIFT_PRIOR_SCALE, SHIFT_PRIOR_SCALE
    keep = n_iter - burn
    out_g, out_i, out_theta = np.empty((keep, G)), np.empty((keep, n)), np.empty((keep, n))
    out_b, out_local = np.empty((keep, G)), np.empty((keep, n))
    out_om, out_mu, out_tau, out_sig, out_sb = (np.empty(keep) for _ in range(5))
    for it in range(n_iter):
        r = l - beta[gi] - delta                               # what lambda_i theta_i must explain
        prec = 1 / s2 + lam_i ** 2 / e2                       # theta_i | lambda_i
        theta = (h / s2 + lam_i * r / e2) / prec + rng.standard_normal(n) / np.sqrt(prec)
        prec = 1 / om ** 2 + theta ** 2 / e2                   # lambda_i | theta_i, lambda_g
        lam_i = (lam_g[gi] / om ** 2 + theta * r / e2) / prec + rng.standard_normal(n) / np.sqrt(prec)
        prec = 1 / tau ** 2 + ng / om ** 2                     # lambda_g | lambda_i, mu, tau
        lam_g = (mu / tau ** 2 + np.bincount(gi, lam_i, minlength=G) / om ** 2) / prec \
            + rng.standard_normal(G) / np.sqrt(prec)
        prec_mu = 1 / v0 + G / tau ** 2
        mu = (m0 / v0 + lam_g.sum() / tau ** 2) / prec_mu + rng.standard_normal() / math.sqrt(prec_mu)
        tau = TAU_GRID[_draw(tau_lp - G * np.log(TAU_GRID) - 0.5 * ((lam_g - mu) ** 2).sum() / TAU_GRID ** 2, rng)]
        d2 = ((lam_i - lam_g[gi]) ** 2).sum()
        om = OMEGA_GRID[_draw(om_lp - n * np.log(OMEGA_GRID) - 0.5 * d2 / OMEGA_GRID ** 2, rng)]
        r = l - lam_i * theta - delta                          # beta_g | the rest
        prec = 1 / sig_b ** 2 + np.bincount(gi, 1 / e2, minlength=G)
        beta = np.bincount(gi, r / e2, minlength=G) / prec + rng.standard_normal(G) / np.sqrt(prec)
        r = l - lam_i * theta - beta[gi]                       # delta_i | the rest (t as a scale mixture)
        prec = w / sig ** 2 + 1 / e2
        delta = (r / e2) / prec + rng.standard_normal(n) / np.sqrt(prec)
        w = rng.gamma((NU + 1) / 2, 2 / (NU + delta ** 2 / sig ** 2))
        sig = SHIFT_GRID[_draw(sh_lp - n * np.log(SHIFT_GRID) - 0.5 * (w * delta ** 2).sum() / SHIFT_GRID ** 2, rng)]
        sig_b = SHIFT_GRID[_draw(sh_lp - G * np.log(SHIFT_GRID) - 0.5 * (beta ** 2).sum() / SHIFT_GRID ** 2, rng)]
        if it >= burn:
            k = it - burn
            out_g[k], out_i[k], out_theta[k], out_b[k] = lam_g, lam_i, theta, beta
            out_local[k] = lam_i * theta + beta[gi] + delta
            out_om[k], out_mu[k], out_tau[k], out_sig[k], out_sb[k] = om, mu, tau, sig, sig_b
    return TransferPosterior(lam={g: out_g[:, k] for k, g in enumerate(groups)}, omega=out_om, mu_s=out_mu,
                             tau_s=out_tau, theta={p.intervention: out_theta[:, j] for j, p in enumerate(pairs)},
                             local={p.intervention: out_local[:, j] for j, p in enumerate(pairs)},
                             pairs=list(pairs), beta={g: out_b[:, k] for k, g in enumerate(groups)},
                             sigma=out_sig, sigma_beta=out_sb, seed=seed)


def delta_sd(sigma: float) -> float:
    """The standard deviation of delta_i ~ t_NU(0, sigma)."""
    return sigma * math.sqrt(NU / (NU - 2))


def _halfnormal_on_log_grid(grid: np.ndarray, scale: float) -> np.ndarray:
    """log prior weights of a half-normal evaluated on a geometric grid (density x spacing ~ x)."""
    return -0.5 * (grid / scale) ** 2 + np.log(grid)


def _halfcauchy_on_log_grid(grid: np.ndarray, scale: float) -> np.ndarray:
    return -np.log1p((grid / scale) ** 2) + np.log(grid)


def _prior_only(groups: list[str], rng: np.random.Generator, k: int, seed: int) -> TransferPosterior:
    """No pair measured both ways: lambda_g is the prior predictive, sampled directly."""
    def draw(grid, scale, prior=_halfnormal_on_log_grid):
        w = np.exp(prior(grid, scale))
        return grid[rng.choice(grid.size, size=k, p=w / w.sum())]
    tau, om = draw(TAU_GRID, TAU_PRIOR_SCALE), draw(OMEGA_GRID, OMEGA_PRIOR_SCALE)
    sig = draw(SHIFT_GRID, SHIFT_PRIOR_SCALE, _halfcauchy_on_log_grid)
    sig_b = draw(SHIFT_GRID, SHIFT_PRIOR_SCALE, _halfcauchy_on_log_grid)
    mu = MU_PRIOR[0] + MU_PRIOR[1] * rng.standard_normal(k)
    # groups are exchangeable a priori: the same draws for every group (common random numbers), so
    # two candidates' predictions differ by their H100 evidence only, not by sampling noise
    z, b = rng.standard_normal(k), _symmetric(sig_b, rng)       # b: mean exactly 0
    lam = {g: mu + tau * z for g in groups}
    beta = {g: b for g in groups}
    return TransferPosterior(lam=lam, omega=om, mu_s=mu, tau_s=tau, theta={}, local={}, pairs=[], beta=beta,
                             sigma=sig, sigma_beta=sig_b, seed=seed)


def _symmetric(scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws of scale x N(0, 1), one per element of `scale`, whose mean is exactly 0: the second half
    mirrors the first (same scales, opposite signs; an odd last one is 0)."""
    k = scale.size // 2
    x = scale[:k] * rng.standard_normal(k)
    return np.concatenate([x, -x, np.zeros(scale.size % 2)])


def _draw(logp: np.ndarray, rng: np.random.Generator) -> int:
    w = np.exp(logp - logp.max())
    return int(rng.choice(w.size, p=w / w.sum()))


def h100_given_local(h100_mean: float, h100_sd: float, lam_mean: float, lam_sd: float, local: float,
                     local_se: float, level: float = LEVEL, n: int = 20000, seed: int = 0,
                     shift_mean: float = 0.0, shift_sd: float = 0.0) -> Prediction:
    """The H100 effect predicted from one local measurement: prior N(h, s^2) from the DAG that
    proposed the experiment, likelihood local ~ N(lambda theta + shift, se^2), lambda ~ N(lam_mean, lam_sd^2),
    shift ~ N(shift_mean, shift_sd^2): the group's local shift beta_g plus the scale-specific delta_i
    (its t taken at its variance), the part of a local effect that says nothing about H100.
    Exact in theta given lambda (Gaussian); lambda is integrated by weighting prior draws with
    the marginal likelihood N(local; lambda h, lambda^2 s^2 + se^2)."""
    rng = np.random.default_rng(seed)
    local, local_se = local - shift_mean, math.hypot(local_se, shift_sd)
    lam = lam_mean + lam_sd * rng.standard_normal(n)
    v = lam ** 2 * h100_sd ** 2 + local_se ** 2
    logw = -0.5 * (np.log(v) + (local - lam * h100_mean) ** 2 / v)
    w = np.exp(logw - logw.max())
    lam = lam[rng.choice(n, size=n, p=w / w.sum())]
    prec = 1 / h100_sd ** 2 + lam ** 2 / local_se ** 2
    theta = (h100_mean / h100_sd ** 2 + lam * local / local_se ** 2) / prec + rng.standard_normal(n) / np.sqrt(prec)
    lo, hi = _interval(theta, level)
    return Prediction(mean=float(theta.mean()), sd=float(theta.std()), low=lo, high=hi)
