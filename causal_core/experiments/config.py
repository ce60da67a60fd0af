"""Experiment config: one intervention, paired seeds, treatment vs control.

Saved as JSON; every value that reaches the trainer goes through the environment
(argv list + env dict, never a shell), so it is validated here before anything runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import string
import sys
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from causal_core import catalog
from causal_core.env_policy import check_names
from causal_core.trainer import DEFAULT_PRESET, TRAINER

# Strict types: a list or dict value is refused, not coerced to a string.
EnvScalar = Union[StrictBool, StrictInt, StrictFloat, StrictStr]
Platform = Literal["mlx-cpu", "mlx-metal", "mlx-cuda", "torch-cuda"]

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Set by the runner per run; an override would break pairing or resumability.
RESERVED = frozenset({"SEED", "RUN_ID", "OUT_DIR"})
PLACEHOLDERS = frozenset({"python", "trainer"})
DEFAULT_SEEDS = [1337, 42, 2025]


def check_seeds(v: list[int], minimum: int = 2) -> list[int]:
    """The paired test's rule for seeds, shared by configs, loop parameters, approval answers
    and cycle plans: at least 2 (1 for the rows of a screening design), distinct, non-negative."""
    if len(v) < minimum:
        raise ValueError(f"at least {minimum} seed{'s are' if minimum > 1 else ' is'} needed"
                         f"{' for a paired test' if minimum == 2 else ''} (got {v})")
    if len(set(v)) != len(v) or any(s < 0 for s in v):
        raise ValueError(f"seeds must be distinct non-negative integers, got {v}")
    return v


def _check_env(d: dict, what: str) -> dict:
    check_names(d)                  # no LD_PRELOAD, PYTHONPATH, ... (env_policy.py)
    for k, v in d.items():
        if not ENV_NAME.match(k):
            raise ValueError(f"{what}: env name {k!r} must match {ENV_NAME.pattern}")
        if k in RESERVED:
            raise ValueError(f"{what}: {k} is set by the runner and cannot be overridden")
        if isinstance(v, str) and "\x00" in v:
            raise ValueError(f"{what}: {k} contains a NUL byte")
    return d


def env_value(v: EnvScalar) -> str:
    """How a scalar reaches the trainer: booleans as 1/0 (the trainer's int(os.environ[...]))."""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


class ExperimentConfig(BaseModel):
    schema_version: int = 1
    intervention: str
    # argv template; {python} = this interpreter, {trainer} = `trainer` resolved.
    trainer_command: list[str] = Field(default_factory=lambda: ["{python}", "{trainer}"])
    trainer: str | None = TRAINER.name
    workdir: str | None = None            # cwd of the trainer; None = the runner's cwd
    base_env: dict[str, EnvScalar] = Field(default_factory=lambda: {"PRESET": DEFAULT_PRESET})
    # Interventions confirmed earlier, applied to both conditions (between base_env and the
    # condition's overrides): the experiment measures its intervention on top of them.
    stack: dict[str, dict[str, EnvScalar]] = Field(default_factory=dict)
    treatment: dict[str, EnvScalar]
    control: dict[str, EnvScalar]
    # Two rows of a screening design (cycle_kinds.py): no paired test of its own, one seed is enough.
    design_row: bool = False
    seeds: list[int] = Field(default_factory=lambda: list(DEFAULT_SEEDS))
    budget_s: float = Field(600.0, gt=0)   # expected wall-clock per run; timeout = budget_s + timeout_grace_s
    timeout_grace_s: float = Field(120.0, ge=0)
    platform: Platform = "mlx-cpu"
    mde_bpb: float = Field(0.002, gt=0)
    alpha: float = Field(0.05, gt=0, lt=1)
    threads_per_run: int = Field(1, ge=1)
    max_parallel: int | None = Field(None, ge=1)   # None = cores // threads_per_run
    sequential: bool = False
    min_pairs: int = Field(2, ge=2)                # sequential mode: first look
    cycle: int | None = None
    # The trainer profile (causal_core/trainer_profiles.py) whose mapping gave treatment/control;
    # None = the catalog's own env (our trainer's names).
    profile: str | None = None
    # Budget (causal_core/experiments/budget.py): "steps" = every arm trains the env's ITERATIONS
    # (absent in old configs); "time" = each arm trains arm_steps, from its calibrated step time.
    budget_mode: Literal["time", "steps"] = "steps"
    time_budget_s: float | None = Field(None, gt=0)       # training seconds per run (time mode)
    arm_steps: dict[str, int] = Field(default_factory=dict)       # condition -> ITERATIONS (calibrated)
    arm_step_ms: dict[str, float] = Field(default_factory=dict)   # condition -> measured ms/step

    @field_validator("intervention")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in catalog.CATALOG:
            raise ValueError(f"unknown intervention {v!r} (see causal_core/catalog.py)")
        return v

    @field_validator("base_env")
    @classmethod
    def _base(cls, v):
        return _check_env(v, "base_env")

    @field_validator("stack")
    @classmethod
    def _stack(cls, v):
        for name, overrides in v.items():
            if name not in catalog.CATALOG:
                raise ValueError(f"stack: unknown intervention {name!r}")
            _check_env(overrides, f"stack.{name}")
        return v

    @field_validator("treatment")
    @classmethod
    def _treat(cls, v):
        return _check_env(v, "treatment")

    @field_validator("control")
    @classmethod
    def _ctrl(cls, v):
        return _check_env(v, "control")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int], info) -> list[int]:
        return check_seeds(v, minimum=1 if info.data.get("design_row") else 2)

    @field_validator("trainer_command")
    @classmethod
    def _cmd(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("trainer_command is empty")
        for arg in v:
            for _, name, _, _ in string.Formatter().parse(arg):
                if name is not None and name not in PLACEHOLDERS:
                    raise ValueError(f"trainer_command: unknown placeholder {{{name}}} (known: python, trainer)")
        return v

    @model_validator(mode="after")
    def _differ(self):
        from causal_core import trainer_profiles
        if self.profile is not None:
            trainer_profiles.get(self.profile)
        if not catalog.CATALOG[self.intervention].actionable and not trainer_profiles.maps(self.profile, self.intervention):
            raise ValueError(f"intervention {self.intervention!r} is not actionable: our trainer cannot switch it"
                             + (f" (nor can profile {self.profile})" if self.profile else ""))
        stacked = {k: (name, env_value(v)) for name, o in self.stack.items() for k, v in o.items()}
        for cond in ("treatment", "control"):
            for k, v in getattr(self, cond).items():
                if k in stacked and stacked[k][1] != env_value(v):
                    raise ValueError(f"{cond} sets {k}={env_value(v)}, undoing the stacked "
                                     f"{stacked[k][0]} ({k}={stacked[k][1]})")
        if self.condition_env("treatment") == self.condition_env("control"):
            raise ValueError("treatment and control environments are identical")
        missing = [k for k in catalog.CATALOG[self.intervention].requires_env if not self.condition_env("treatment").get(k)]
        if missing:     # e.g. gradient_projection without its direction file: both arms would be no-ops
            raise ValueError(f"{self.intervention} needs {', '.join(missing)} in base_env (the probe phase supplies it)")
        if "{trainer}" in "".join(self.trainer_command) and not self.trainer:
            raise ValueError("trainer_command uses {trainer} but no trainer is set")
        self._check_budget()
        return self

    def _check_budget(self) -> None:
        if self.budget_mode == "steps":
            if self.arm_steps:
                raise ValueError("arm_steps is set by a time budget's calibration; budget_mode is steps")
            return
        if self.time_budget_s is None:
            raise ValueError("budget_mode time needs time_budget_s (training seconds per run)")
        if self.time_budget_s > self.budget_s:
            raise ValueError(f"time_budget_s={self.time_budget_s:g} exceeds budget_s={self.budget_s:g} "
                             "(the run's timeout must cover its training time)")
        if self.arm_steps and (set(self.arm_steps) != {"control", "treatment"}
                               or any(v < 1 for v in self.arm_steps.values())):
            raise ValueError(f"arm_steps must give control and treatment at least 1 step, got {self.arm_steps}")

    # --- derived ---------------------------------------------------------------------
    def condition_env(self, condition: str) -> dict[str, str]:
        """Base env + the condition's overrides, as strings.

        budget_s only sets the runner's timeout: it is not passed as MAX_WALLCLOCK_SECONDS,
        because a wall-clock cap makes paired seeds train different step counts (cpu_small
        deliberately has none). Put MAX_WALLCLOCK_SECONDS in base_env to cap the trainer.
        """
        if condition not in ("treatment", "control"):
            raise ValueError(f"condition must be treatment or control, got {condition!r}")
        env: dict[str, str] = {}
        env.update({k: env_value(v) for k, v in self.base_env.items()})
        for overrides in self.stack.values():
            env.update({k: env_value(v) for k, v in overrides.items()})
        env.update({k: env_value(v) for k, v in getattr(self, condition).items()})
        if self.arm_steps:      # time budget: the calibrated step count, never a wall-clock cap
            env.update(ITERATIONS=str(self.arm_steps[condition]), MAX_WALLCLOCK_SECONDS="0")
        return env

    @property
    def experiment_id(self) -> str:
        """Stable id: the intervention plus a hash of everything that changes the runs."""
        payload = self.model_dump(exclude={"max_parallel", "cycle", "timeout_grace_s", "arm_step_ms"})
        if not payload["stack"]:
            del payload["stack"]     # ids of unstacked experiments stay what they were
        if not payload["design_row"]:
            del payload["design_row"]
        if payload.get("profile") is None:
            payload.pop("profile", None)
        if self.budget_mode == "steps":     # ids of step-budget experiments stay what they were
            for k in ("budget_mode", "time_budget_s", "arm_steps"):
                del payload[k]
        h = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.intervention}-{h}"

    def run_id(self, condition: str, seed: int) -> str:
        # File names under runs/ are built from it: checked like every name taken from data.
        from causal_core.safe_paths import safe_name
        return safe_name(f"{self.experiment_id}-{condition}-seed{seed}", "run id")

    def resolved_workdir(self) -> Path:
        return Path(self.workdir or os.getcwd()).resolve()

    def argv(self) -> list[str]:
        trainer = str(self.trainer_path()) if self.trainer else ""
        return [a.format(python=sys.executable, trainer=trainer) for a in self.trainer_command]

    def trainer_path(self) -> Path | None:
        if not self.trainer:
            return None
        p = Path(self.trainer)
        return p if p.is_absolute() else self.resolved_workdir() / p

    def check_runnable(self) -> list[str]:
        """Refuse before anything runs: the trainer file and any `*.py` argv must exist, and the
        trainer must read a variable that differs between the arms (experiments/actuation.py,
        ValueError otherwise). Returns the variables set here that the trainer never reads."""
        files = [self.trainer_path()] if "{trainer}" in "".join(self.trainer_command) else []
        files += [Path(a) if Path(a).is_absolute() else self.resolved_workdir() / a
                  for a in self.trainer_command if a.endswith(".py") and "{" not in a]
        for f in files:
            if not f.is_file() or f.stat().st_size == 0:
                raise FileNotFoundError(f"trainer file {f} is missing or empty")
        from causal_core.experiments import actuation
        return actuation.check(self)

    def parallel_limit(self) -> int:
        return self.max_parallel or max(1, (os.cpu_count() or 1) // self.threads_per_run)

    # --- io ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        from causal_core.atomic import atomic_write_text
        return atomic_write_text(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ExperimentConfig":
        return cls.model_validate_json(Path(path).read_text())


def from_catalog(intervention: str, profile: str | None = None, **kw) -> ExperimentConfig:
    """A config whose treatment/control come from the catalog entry (refuses unknown names), or
    from a trainer profile's mapping of it (causal_core/trainer_profiles.py)."""
    if intervention not in catalog.CATALOG:
        raise ValueError(f"unknown intervention {intervention!r} (see causal_core/catalog.py)")
    if profile is not None and profile != "catalog":
        from causal_core import trainer_profiles
        p = trainer_profiles.get(profile)
        if not p.maps(intervention):
            why = p.cannot.get(intervention, "no mapping")
            raise ValueError(f"intervention {intervention!r} is not actionable with profile {profile}: {why}")
        sw = p.switches[intervention]
        return ExperimentConfig(intervention=intervention, treatment=dict(sw.treatment), control=dict(sw.control),
                                profile=profile, **kw)
    e = catalog.CATALOG[intervention]
    if not e.actionable:
        raise ValueError(f"intervention {intervention!r} is not actionable: our trainer cannot switch it")
    return ExperimentConfig(intervention=intervention, treatment=dict(e.treatment), control=dict(e.control), **kw)


def first_error(exc: Exception) -> str:
    """One line from a pydantic ValidationError (or any exception)."""
    errs = getattr(exc, "errors", None)
    if callable(errs):
        e = errs()[0]
        loc = ".".join(str(x) for x in e.get("loc", ()))
        msg = e.get("msg", str(exc)).removeprefix("Value error, ")
        return f"{loc}: {msg}" if loc else msg
    return str(exc).splitlines()[0]
