"""Transfer model: how an effect measured at the records' 8xH100 scale shows at a local scale.

    local effect of i = lambda_i * H100 effect of i
    lambda_i ~ N(lambda_g, omega^2)   the intervention's own coefficient around its group's
    lambda_g ~ N(mu, tau^2)           per catalog group g (catalog.GROUPS), partially pooled
    mu ~ N(1, 1)                      weak; centred on the 1:1 assumption, wide enough for 0 or 2
    tau ~ half-normal(1), omega ~ half-normal(0.5), both on a grid

The deviation from the group is multiplicative (lambda_i), not an additive noise in bpb: an
additive noise would need a scale in bpb that differs by platform, and without local data it
would make every intervention's predicted local effect equally uncertain, so the ranking
would stop depending on the H100 evidence at all.

Both sides are estimates (errors in variables): the H100 effect theta_i is latent, with the
records' posterior N(h_i, s_i^2) as its prior, and the local measurement is
l_i ~ N(lambda_i theta_i, se_i^2). A ratio l_i / h_i would be unstable whenever h_i is near
zero; the joint model just learns little about lambda_g from such an intervention.

Fit: Gibbs sampling over (theta, lambda_i, lambda_g, mu, tau, omega). Every conditional is
exact: theta_i, lambda_i and lambda_g are Gaussian given the rest (the model is bilinear), mu
is Gaussian, tau and omega are drawn from their conditionals evaluated on a grid. Why Gibbs rather than a grid
over tau with a Laplace step: the bilinear term lambda*theta makes the posterior non-Gaussian
exactly where it matters (a group whose H100 effects are small), and a few thousand sweeps
over at most dozens of interventions take well under a second. Seeded: same input, same output.

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
    seed: int = 0

    @property
    def groups(self) -> dict[str, GroupLambda]:
        n = {g: sum(p.group == g for p in self.pairs) for g in self.lam}
        return {g: GroupLambda(group=g, mean=float(s.mean()), sd=float(s.std()), low=_interval(s, LEVEL)[0],
                               high=_interval(s, LEVEL)[1], n=n[g]) for g, s in self.lam.items()}

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
        lam = self.lam[group] + self.omega * rng.standard_normal(self.omega.size)    # this intervention's own
        theta = h100_mean + h100_sd * rng.standard_normal(lam.size)
        x = lam * theta + extra_sd * rng.standard_normal(lam.size)
        lo, hi = _interval(x, level)
        return Prediction(mean=float(x.mean()), sd=float(x.std()), low=lo, high=hi)

    def summary(self, samples: np.ndarray, level: float = LEVEL) -> Prediction:
        lo, hi = _interval(samples, level)
        return Prediction(mean=float(samples.mean()), sd=float(samples.std()), low=lo, high=hi)


def fit(pairs: list[Pair], seed: int = 0, n_iter: int = 3000, burn: int = 600) -> TransferPosterior:
    """Posterior of lambda_g (every catalog group; a group without pairs gets the pooled
    predictive N(mu, tau^2)), of each pair's H100 effect and of its true local effect."""
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
    m0, v0 = MU_PRIOR[0], MU_PRIOR[1] ** 2
    lam_g, lam_i, theta = np.ones(G), np.ones(n), h.copy()
    mu, tau, om = m0, 0.5, 0.3
    keep = n_iter - burn
    out_g, out_i, out_theta = np.empty((keep, G)), np.empty((keep, n)), np.empty((keep, n))
    out_om, out_mu, out_tau = np.empty(keep), np.empty(keep), np.empty(keep)
    for it in range(n_iter):
        prec = 1 / s2 + lam_i ** 2 / e2                       # theta_i | lambda_i
        theta = (h / s2 + lam_i * l / e2) / prec + rng.standard_normal(n) / np.sqrt(prec)
        prec = 1 / om ** 2 + theta ** 2 / e2                   # lambda_i | theta_i, lambda_g
        lam_i = (lam_g[gi] / om ** 2 + theta * l / e2) / prec + rng.standard_normal(n) / np.sqrt(prec)
        prec = 1 / tau ** 2 + ng / om ** 2                     # lambda_g | lambda_i, mu, tau
        lam_g = (mu / tau ** 2 + np.bincount(gi, lam_i, minlength=G) / om ** 2) / prec \
            + rng.standard_normal(G) / np.sqrt(prec)
        prec_mu = 1 / v0 + G / tau ** 2
        mu = (m0 / v0 + lam_g.sum() / tau ** 2) / prec_mu + rng.standard_normal() / math.sqrt(prec_mu)
        tau = TAU_GRID[_draw(tau_lp - G * np.log(TAU_GRID) - 0.5 * ((lam_g - mu) ** 2).sum() / TAU_GRID ** 2, rng)]
        d2 = ((lam_i - lam_g[gi]) ** 2).sum()
        om = OMEGA_GRID[_draw(om_lp - n * np.log(OMEGA_GRID) - 0.5 * d2 / OMEGA_GRID ** 2, rng)]
        if it >= burn:
            k = it - burn
            out_g[k], out_i[k], out_theta[k] = lam_g, lam_i, theta
            out_om[k], out_mu[k], out_tau[k] = om, mu, tau
    return TransferPosterior(lam={g: out_g[:, k] for k, g in enumerate(groups)}, omega=out_om, mu_s=out_mu,
                             tau_s=out_tau, theta={p.intervention: out_theta[:, j] for j, p in enumerate(pairs)},
                             local={p.intervention: out_i[:, j] * out_theta[:, j] for j, p in enumerate(pairs)},
                             pairs=list(pairs), seed=seed)


def _halfnormal_on_log_grid(grid: np.ndarray, scale: float) -> np.ndarray:
    """log prior weights of a half-normal evaluated on a geometric grid (density x spacing ~ x)."""
    return -0.5 * (grid / scale) ** 2 + np.log(grid)


def _prior_only(groups: list[str], rng: np.random.Generator, k: int, seed: int) -> TransferPosterior:
    """No pair measured both ways: lambda_g is the prior predictive, sampled directly."""
    def draw(grid, scale):
        w = np.exp(_halfnormal_on_log_grid(grid, scale))
        return grid[rng.choice(grid.size, size=k, p=w / w.sum())]
    tau, om = draw(TAU_GRID, TAU_PRIOR_SCALE), draw(OMEGA_GRID, OMEGA_PRIOR_SCALE)
    mu = MU_PRIOR[0] + MU_PRIOR[1] * rng.standard_normal(k)
    lam = {g: mu + tau * rng.standard_normal(k) for g in groups}
    return TransferPosterior(lam=lam, omega=om, mu_s=mu, tau_s=tau, theta={}, local={}, pairs=[], seed=seed)


def _draw(logp: np.ndarray, rng: np.random.Generator) -> int:
    w = np.exp(logp - logp.max())
    return int(rng.choice(w.size, p=w / w.sum()))


def h100_given_local(h100_mean: float, h100_sd: float, lam_mean: float, lam_sd: float, local: float,
                     local_se: float, level: float = LEVEL, n: int = 20000, seed: int = 0) -> Prediction:
    """The H100 effect predicted from one local measurement: prior N(h, s^2) from the DAG that
    proposed the experiment, likelihood local ~ N(lambda theta, se^2), lambda ~ N(lam_mean, lam_sd^2).
    Exact in theta given lambda (Gaussian); lambda is integrated by weighting prior draws with
    the marginal likelihood N(local; lambda h, lambda^2 s^2 + se^2)."""
    rng = np.random.default_rng(seed)
    lam = lam_mean + lam_sd * rng.standard_normal(n)
    v = lam ** 2 * h100_sd ** 2 + local_se ** 2
    logw = -0.5 * (np.log(v) + (local - lam * h100_mean) ** 2 / v)
    w = np.exp(logw - logw.max())
    lam = lam[rng.choice(n, size=n, p=w / w.sum())]
    prec = 1 / h100_sd ** 2 + lam ** 2 / local_se ** 2
    theta = (h100_mean / h100_sd ** 2 + lam * local / local_se ** 2) / prec + rng.standard_normal(n) / np.sqrt(prec)
    lo, hi = _interval(theta, level)
    return Prediction(mean=float(theta.mean()), sd=float(theta.std()), low=lo, high=hi)
