"""The predicted H100 effect of a locally measured effect: what every user-facing summary states.

A local effect (the loop's paired experiment at its small scale) is not an 8xH100 effect. The
prediction combines the H100 estimate of the DAG that proposed the experiment (records,
priors and earlier experiments) with this measurement through the posterior of the
intervention's transfer coefficient (its group's lambda_g, widened by the spread omega of
individual interventions around it), after taking off the part of a local effect that is
specific to the local scale (the group's shift beta_g and the intervention's own deviation):
transfer_model.h100_given_local.
"""
from __future__ import annotations

from pathlib import Path

from scipy import stats

from causal_core.dag import transfer_model as tm
from causal_core.dag.models import DagResult

LABEL = "predicted H100 effect (a prediction from the transfer model, not a measurement)"


def predict(dag: DagResult, intervention: str, local_effect: float, ci: tuple[float, float] | None) -> tm.Prediction | None:
    e = dag.effect(intervention)
    if e is None or e.lambda_mean is None or local_effect is None:
        return None
    z = stats.norm.ppf(0.5 + tm.LEVEL / 2)
    lam_sd = (e.lambda_high - e.lambda_low) / (2 * z)
    fit = next((t for t in dag.transfer if t.scale == dag.local_scale), None)
    # before any local fit: omega's half-normal prior mean; sigma's half-Cauchy prior median
    omega = fit.omega if fit else tm.OMEGA_PRIOR_SCALE * (2 / 3.14159) ** 0.5
    sigma = fit.sigma if fit and fit.sigma else tm.SHIFT_PRIOR_SCALE
    shift_sd = e.group_shift_sd if e.group_shift_sd is not None else tm.SHIFT_PRIOR_SCALE
    se = (ci[1] - ci[0]) / (2 * stats.norm.ppf(0.975)) if ci and ci[1] > ci[0] else max(abs(local_effect), 1e-4)
    return tm.h100_given_local(e.effect_bpb, e.sd, e.lambda_mean, (lam_sd ** 2 + omega ** 2) ** 0.5,
                               local_effect, max(se, 1e-5), shift_mean=e.group_shift_bpb or 0.0,
                               shift_sd=(shift_sd ** 2 + tm.delta_sd(sigma) ** 2) ** 0.5)


def line(dag_path: Path | None, intervention: str, local_effect: float | None,
         ci: tuple[float, float] | None) -> str | None:
    """One sentence for a report, or None when the DAG is missing or unreadable."""
    if dag_path is None or local_effect is None or not Path(dag_path).is_file():
        return None
    try:
        dag = DagResult.model_validate_json(Path(dag_path).read_text())
    except ValueError:
        return None
    p = predict(dag, intervention, local_effect, ci)
    if p is None:
        return None
    e = dag.effect(intervention)
    return (f"{LABEL}: {p.mean:+.4f} bpb, {tm.LEVEL:.0%} interval [{p.low:+.4f}, {p.high:+.4f}] "
            f"(lambda[{e.group}] {e.lambda_mean:+.2f} [{e.lambda_low:+.2f}, {e.lambda_high:+.2f}] at "
            f"{dag.local_scale or 'no measured scale yet: prior lambda'}; H100 estimate before this experiment "
            f"{e.effect_bpb:+.4f} bpb)")
