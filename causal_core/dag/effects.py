"""Marginal effect of each intervention on val_bpb, adjusted for the rest of the stack.

Estimator: Bayesian linear regression with a Gaussian prior per coefficient centred on the
catalog prior (prior_effect_bpb, prior_sd_bpb), fitted as Theil-Goldberger "mixed
estimation": the prior enters as one pseudo-observation per coefficient and statsmodels WLS
on the augmented data returns the exact conjugate posterior mean and covariance.

Why not OLS+HC3: with ~45 records and 38 presence columns the design is (near) singular
and the interventions always arrive in stacks, so OLS intervals are either undefined or
absurdly wide; shrinking toward the records' own ablations is what makes intervals both
finite and honest (bench/bench_dag.py measures their coverage on data with known truth).

The coefficient is the *controlled* effect: switching one intervention with the rest of
the stack held fixed. The loop's paired experiments measure that effect too, but at ITS
scale (a small MLX model on a CPU), not at 8xH100 scale, so they do not enter 1:1. Two
columns instead (docs/transfer.md):

1. H100 column, observational: records + priors only.
2. Per local scale (platform, trainer scale, budget mode), the transfer model
   (transfer_model.py) is fitted on the interventions measured both ways: local effect =
   lambda_g x H100 effect + the group's local shift beta_g + the intervention's own deviation. Its posterior of each measured intervention's H100 effect
   is the joint Gaussian update; the information it adds over the observational estimate
   enters the regression as one pseudo-measurement row (precision gained, and the mean that
   gain implies), so a local result moves the H100 coefficient only as far as lambda_g is
   known to be away from zero, and correlated coefficients move with it.
3. Local column at the loop's scale: the posterior of the true local effect where measured,
   else the H100 column carried through lambda_g's posterior (a prediction).
"""
from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy import stats

from causal_core.catalog import get
from causal_core.dag import transfer_model as tm
from causal_core.dag.encode import Encoding
from causal_core.dag.models import EffectEstimate, GroupLambdaOut, TransferFit
from causal_core.schemas import ExperimentOutcome

LEVEL = 0.95
# Weak inverse-gamma prior on the record-level noise: seed-to-seed spread in the records is
# ~0.001 bpb, unmodelled differences (hardware, attribute values, interactions) add more.
NOISE_PRIOR_SD, NOISE_PRIOR_DF = 0.004, 2.0
SIGMA_FLOOR = 0.0005
# Same-mediator interactions (interaction_pairs): a weak prior at no interaction. 0.005 bpb is about
# half the typical main effect's prior sd, so a pair can lose most of its joint gain if the data say so.
INTERACTION_PRIOR_SD = 0.005


def experiment_scale(ex: ExperimentOutcome) -> str:
    """The local scale key of an experiment (budget_mode absent = "steps", for old records)."""
    return tm.scale_key(ex.platform, getattr(ex, "scale", None), getattr(ex, "budget_mode", None))


def _experiment_rows(enc: Encoding) -> list[tuple[int, float, float, str, str]]:
    """(column, local effect, its se, decision, scale key) per usable experiment."""
    rows = []
    for ex in enc.experiments:
        if ex.decision == "failed" or ex.effect_bpb is None:
            continue
        if ex.ci_low is not None and ex.ci_high is not None and ex.ci_high > ex.ci_low:
            se = (ex.ci_high - ex.ci_low) / (2 * stats.norm.ppf(0.975))
        else:   # no interval: count it as one noisy measurement
            se = max(abs(ex.effect_bpb), NOISE_PRIOR_SD)
        rows.append((enc.names.index(ex.intervention), ex.effect_bpb, max(se, 1e-5), ex.decision, experiment_scale(ex)))
    return rows


def _local_pairs(rows, mean: np.ndarray, sd: np.ndarray, names: list[str]) -> dict[str, list[tm.Pair]]:
    """Per scale key, one Pair per intervention (repeat tests at one scale pooled by inverse variance)."""
    acc: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for j, e, se, _, key in rows:
        acc.setdefault(key, {}).setdefault(j, []).append((e, se))
    out = {}
    for key, by_j in acc.items():
        pairs = []
        for j, ms in sorted(by_j.items()):
            w = np.array([1 / se ** 2 for _, se in ms])
            m = float(np.dot(w, [e for e, _ in ms]) / w.sum())
            pairs.append(tm.Pair(names[j], get(names[j]).group, float(mean[j]), float(sd[j]), m, float(w.sum() ** -0.5)))
        out[key] = pairs
    return out


def _pseudo_row(theta: np.ndarray, h: float, s: float) -> tuple[float, float] | None:
    """The Gaussian likelihood the local evidence contributed to one H100 coefficient:
    posterior N(m, v) = prior N(h, s^2) x N(value, var). None when it adds (almost) nothing."""
    m, v = float(theta.mean()), float(theta.var())
    gain = 1 / v - 1 / s ** 2
    if not gain > 0.02 / s ** 2:      # below Monte Carlo noise: lambda is not known to be away from 0
        return None
    return (m / v - h / s ** 2) / gain, gain ** -0.5


def interaction_pairs(names: list[str]) -> list[tuple[int, int]]:
    """Column pairs whose interventions reach val_bpb through a shared mediator (the skeleton's
    model_capacity, train_steps, eval_context): where two buys of the same thing meet, the
    identifiability module expects diminishing returns (SAME_MEDIATOR_PRIOR)."""
    from causal_core.dag.identifiability import _mediators
    med = [_mediators(n) for n in names]
    return [(a, b) for a in range(len(names)) for b in range(a + 1, len(names)) if med[a] & med[b]]


def _linear_fit(enc: Encoding, ex_rows: list[tuple[int, float, float]], level: float):
    """Posterior mean, sd and the t quantile of the mixed-estimation regression; `ex_rows` are
    (column, value, se) direct measurements of one coefficient each.

    Besides one coefficient per intervention, each pair that shares a mediator gets an
    interaction coefficient with a weak prior N(0, INTERACTION_PRIOR_SD^2). Why: records stack
    capacity buys (more_layers with wider_mlp with bigram_hash ...), and with diminishing returns an
    additive model reads part of each pair's lost gain into both main effects; with 200 records
    the intervals are narrow enough that this bias dominates (bench_dag's misspecified coverage was
    0.802 at n = 200). A main effect is then the effect of adding the intervention to a stack
    without its same-mediator partners, the same "controlled effect" a paired loop test measures
    on a base that lacks them."""
    p = len(enc.names)
    pairs = interaction_pairs(enc.names)
    m = len(pairs)
    mu = np.concatenate([[get(n).prior_effect_bpb for n in enc.names], np.zeros(m)])
    tau = np.concatenate([[get(n).prior_sd_bpb for n in enc.names], np.full(m, INTERACTION_PRIOR_SD)])
    n = enc.n
    inter = (np.column_stack([enc.presence[:, a] * enc.presence[:, b] for a, b in pairs])
             if n and m else np.zeros((n, m)))
    # augmented design: [intercept | presence | interactions]; prior/experiment rows have a zero intercept
    k = p + m
    x_data = np.column_stack([np.ones(n), enc.presence, inter]) if n else np.zeros((0, k + 1))
    x_aug = np.vstack([x_data, np.column_stack([np.zeros(k), np.eye(k)]),
                       *[np.eye(1, k + 1, j + 1) for j, _, _ in ex_rows]])
    y_aug = np.concatenate([enc.y, mu, [e for _, e, _ in ex_rows]])
    var_fixed = np.concatenate([tau ** 2, [se ** 2 for _, _, se in ex_rows]])
    # the intercept has no prior: an uninformative pseudo-row would be needed when n == 0
    if n == 0:
        x_aug = np.vstack([x_aug, np.eye(1, k + 1, 0)])
        y_aug = np.append(y_aug, 0.0)
        var_fixed = np.append(var_fixed, 1e6)

    sigma2 = NOISE_PRIOR_SD ** 2
    edf = 0.0
    for _ in range(20):   # alternate posterior given sigma and sigma given the residuals
        w = np.concatenate([np.ones(n), sigma2 / var_fixed])
        fit = sm.WLS(y_aug, x_aug, weights=w).fit(cov_type="fixed scale", cov_kwds={"scale": sigma2})
        if n == 0:
            break
        resid = enc.y - x_data @ fit.params
        xtwx_inv = np.linalg.pinv(x_aug.T @ (x_aug * w[:, None]))
        edf = float(np.einsum("ij,jk,ik->", x_data, xtwx_inv, x_data))   # trace of the data-row hat matrix
        df = max(n - edf, 0.0)
        new = (resid @ resid + NOISE_PRIOR_DF * NOISE_PRIOR_SD ** 2) / (df + NOISE_PRIOR_DF)
        new = max(new, SIGMA_FLOOR ** 2)
        if abs(new - sigma2) < 1e-4 * sigma2:
            sigma2 = new
            break
        sigma2 = new
    df_t = max((n - edf) if n else 0.0, 0.0) + NOISE_PRIOR_DF
    q = stats.t.ppf(0.5 + level / 2, df_t)
    mean, sd = fit.params[1:p + 1], np.sqrt(np.diag(fit.cov_params())[1:p + 1])
    return mean, sd, q


def estimate_effects(enc: Encoding, level: float = LEVEL, local_scale: str | None = None) -> list[EffectEstimate]:
    return estimate_two_scales(enc, level, local_scale)[0]


def estimate_two_scales(enc: Encoding, level: float = LEVEL, local_scale: str | None = None
                        ) -> tuple[list[EffectEstimate], list[TransferFit], str | None]:
    """(effects with both columns, the transfer fit per local scale, the local column's scale).
    `local_scale`: the scale key of the local column; default the latest experiment's."""
    rows = _experiment_rows(enc)
    obs_mean, obs_sd, q = _linear_fit(enc, [], level)
    pairs = _local_pairs(rows, obs_mean, obs_sd, enc.names)
    posts = {key: tm.fit(ps, seed=0) for key, ps in sorted(pairs.items())}
    pseudo = []
    for key, ps in pairs.items():
        for pr in ps:
            j = enc.names.index(pr.intervention)
            r = _pseudo_row(posts[key].theta[pr.intervention], obs_mean[j], obs_sd[j])
            if r is not None:
                pseudo.append((j, *r))
    mean, sd, q = _linear_fit(enc, pseudo, level) if pseudo else (obs_mean, obs_sd, q)
    if local_scale is None and rows:
        latest = max(range(len(enc.experiments)), key=lambda i: (enc.experiments[i].cycle or 0, i))
        local_scale = experiment_scale(enc.experiments[latest])
    post = posts.get(local_scale) or tm.fit([], seed=0)
    lam = post.groups

    present = enc.presence.sum(axis=0) if enc.n else np.zeros(len(enc.names))
    out = []
    for j, name in enumerate(enc.names):
        e = get(name)
        decisions = [d for k, _, _, d, _ in rows if k == j]
        lo, hi = mean[j] - q * sd[j], mean[j] + q * sd[j]
        source = "experiment+observational" if decisions else ("observational" if present[j] else "prior_only")
        conflict = bool(e.prior_effect_bpb != 0 and (lo > 0 if e.prior_effect_bpb < 0 else hi < 0))
        if name in post.local:
            loc, local_source = post.summary(post.local[name], level), "measured"
        else:
            loc, local_source = post.predict(e.group, float(mean[j]), float(sd[j]), level), "predicted"
        g = lam[e.group]
        out.append(EffectEstimate(
            intervention=name, effect_bpb=float(mean[j]), ci_low=float(lo), ci_high=float(hi), sd=float(sd[j]),
            prior_effect_bpb=e.prior_effect_bpb, prior_sd_bpb=e.prior_sd_bpb, n_present=int(present[j]),
            source=source, experiment_decisions=decisions, sign_conflict=conflict, group=e.group,
            local_effect_bpb=loc.mean, local_ci_low=loc.low, local_ci_high=loc.high, local_sd=loc.sd,
            local_source=local_source, lambda_mean=g.mean, lambda_low=g.low, lambda_high=g.high,
            group_shift_bpb=g.shift_mean, group_shift_sd=g.shift_sd))
    fits = [TransferFit(scale=key, interventions=[p.intervention for p in pairs[key]],
                        groups=[GroupLambdaOut(**g.model_dump()) for g in p.groups.values()],
                        mu=p.mu, tau=p.tau, omega=p.omega_mean, sigma=p.sigma_mean,
                        sigma_beta=float(p.sigma_beta.mean())) for key, p in posts.items()]
    return out, fits, local_scale
