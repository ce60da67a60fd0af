"""Can the configured trainer actuate this experiment? The one rule, shared by make-config,
run-experiment, the runner's per-seed path and the loop's planning (all via
ExperimentConfig.check_runnable).

- Refuse: treatment and control differ only in variables the trainer never reads. Both arms
  would run the same program and the loop would record a null that means nothing.
- Warn: the experiment sets variables the trainer never reads (base, stack or either arm).
  They are listed in the log and recorded as `ignored_env` in raw_runs.json.
A trainer whose reads cannot all be resolved (a key computed at run time with no declared
table to explain it) is only warned about: detection is then incomplete, not evidence.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from causal_core.experiments.trainer_vars import TrainerSourceError, TrainerVars, trainer_vars

if TYPE_CHECKING:
    from causal_core.experiments.config import ExperimentConfig

log = logging.getLogger("causal_core.experiments.actuation")


class NotActuated(ValueError):
    """The trainer reads none of the variables that distinguish treatment from control."""


def trainer_script(cfg: "ExperimentConfig") -> Path | None:
    """The script whose source decides what is read: `trainer` when the command uses {trainer},
    else the first *.py in the command (torchrun ... train_gpt.py); None when there is none."""
    if "{trainer}" in "".join(cfg.trainer_command):
        return cfg.trainer_path()
    wd = cfg.resolved_workdir()
    for a in cfg.trainer_command:
        if a.endswith(".py") and "{" not in a:
            return Path(a) if Path(a).is_absolute() else wd / a
    return None


def set_variables(cfg: "ExperimentConfig") -> set[str]:
    keys = set(cfg.base_env) | set(cfg.treatment) | set(cfg.control)
    for overrides in cfg.stack.values():
        keys |= set(overrides)
    return keys


def differing_variables(cfg: "ExperimentConfig") -> list[str]:
    t, c = cfg.condition_env("treatment"), cfg.condition_env("control")
    return sorted(k for k in set(t) | set(c) if t.get(k) != c.get(k))


def check(cfg: "ExperimentConfig") -> list[str]:
    """Refuse an experiment the trainer cannot actuate (NotActuated, TrainerSourceError);
    return the variables it sets that the trainer ignores (sorted; [] when no script to read)."""
    script = trainer_script(cfg)
    if script is None:
        return []
    tv = trainer_vars(script)
    diff = differing_variables(cfg)
    if tv.complete and diff and not any(tv.reads(v) for v in diff):
        raise NotActuated(f"trainer {script} reads none of {', '.join(diff)} (the variables that differ between "
                          f"treatment and control of {cfg.intervention}): both arms would run the same program")
    return tv.ignored(set_variables(cfg))


def warn_ignored(cfg: "ExperimentConfig", ignored: list[str]) -> str | None:
    """Log (and return) the one warning line for ignored variables, if any."""
    if not ignored:
        return None
    msg = (f"warning: trainer {trainer_script(cfg)} never reads {', '.join(ignored)}; "
           f"setting {'it' if len(ignored) == 1 else 'them'} changes nothing")
    log.warning(msg)
    return msg


def ignored_env(cfg: "ExperimentConfig") -> list[str]:
    """For raw_runs.json: the ignored variables, without refusing (the runs already happened)."""
    script = trainer_script(cfg)
    if script is None:
        return []
    try:
        tv: TrainerVars = trainer_vars(script)
    except TrainerSourceError:
        return []
    return tv.ignored(set_variables(cfg))
