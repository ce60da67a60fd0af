"""The search space shared by every method: subsets of the catalog's actionable switches.

A configuration is a set of switch names that are ON. Its trainer env is the base env
(preset + trainer_env) plus the union of the ON switches' catalog *treatment* overrides.
OFF means "not overridden": the catalog's controls equal the cpu_small preset (checked by
tests/test_trainer_config.py), so an all-OFF configuration is the baseline.

Consistency: two ON switches may set the same variable. Today the only shared key is
QUANT_BITS (qat and low_bit_quant both set 6), which agrees. Should values ever disagree,
the rule is deterministic: the switch later in catalog order wins, whatever the order
the switches were named in (`conflicts()` lists such keys).
"""
from __future__ import annotations

from collections.abc import Iterable

from causal_core import catalog
from causal_core.experiments.config import ExperimentConfig, env_value

SWITCHES: tuple[str, ...] = tuple(e.name for e in catalog.actionable())
_ORDER = {n: i for i, n in enumerate(SWITCHES)}


def normalize(on: Iterable[str]) -> tuple[str, ...]:
    """A configuration as a canonical tuple of ON switches (catalog order); refuses unknown names."""
    names = set(on)
    bad = names - set(SWITCHES)
    if bad:
        raise ValueError(f"not actionable switches: {sorted(bad)}")
    return tuple(sorted(names, key=_ORDER.__getitem__))


def overrides(on: Iterable[str]) -> dict[str, catalog.Scalar]:
    """Union of the treatment overrides of the ON switches (later catalog entry wins on a clash)."""
    env: dict[str, catalog.Scalar] = {}
    for name in normalize(on):
        env.update(catalog.CATALOG[name].treatment)
    return env


def conflicts() -> dict[str, dict[str, catalog.Scalar]]:
    """Variables that two switches set to different values: {var: {switch: value}}."""
    seen: dict[str, dict[str, catalog.Scalar]] = {}
    for name in SWITCHES:
        for k, v in catalog.CATALOG[name].treatment.items():
            seen.setdefault(k, {})[name] = v
    return {k: d for k, d in seen.items() if len({env_value(v) for v in d.values()}) > 1}


def from_flags(flags: dict[str, bool]) -> tuple[str, ...]:
    """{switch: bool} (a trial's params) -> configuration."""
    return normalize(k for k, v in flags.items() if v)


def label(on: Iterable[str]) -> str:
    cfg = normalize(on)
    return "+".join(cfg) if cfg else "baseline"


def trial_config(on: Iterable[str], base_env: dict, **kw) -> ExperimentConfig:
    """The configuration as an ExperimentConfig: treatment = its overrides, control = the baseline.

    Validates env names/values exactly as the loop's own configs are validated. The baseline
    (no switch ON) is the control arm of any such config; `reference_config` gives one.
    """
    cfg = normalize(on)
    if not cfg:
        return reference_config(base_env, **kw)
    return ExperimentConfig(intervention=cfg[0], base_env=dict(base_env), treatment=overrides(cfg), control={}, **kw)


def reference_config(base_env: dict, **kw) -> ExperimentConfig:
    """A config whose control arm is the baseline (used to run baseline seeds)."""
    e = catalog.CATALOG["ema"]
    return ExperimentConfig(intervention="ema", base_env=dict(base_env), treatment=dict(e.treatment), control={}, **kw)


def run_arm(on: Iterable[str]) -> str:
    """Which arm of trial_config(on) runs the configuration itself."""
    return "treatment" if normalize(on) else "control"
