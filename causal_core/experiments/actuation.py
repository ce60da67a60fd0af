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

from causal_core.experiments.trainer_vars import TrainerSourceError, TrainerVars, trainer_vars

# `cfg` below is an ExperimentConfig. config.py imports this module (check_runnable); this one
# never imports config back (no import circle, tests/test_imports.py).

log = logging.getLogger("causal_core.experiments.actuation")


class NotActuated(ValueError):
    """The trainer reads none of the variables that distinguish treatment from control."""


def trainer_script(cfg) -> Path | None:
    """The script whose source decides what is read: `trainer` when the command uses {trainer},
    else the first *.py in the command (torchrun ... train_gpt.py); None when there is none."""
    if "{trainer}" in "".join(cfg.trainer_command):
        return cfg.trainer_path()
    wd = cfg.resolved_workdir()
    for a in cfg.trainer_command:
        if a.endswith(".py") and "{" not in a:
            return Path(a) if Path(a).is_absolute() else wd / a
    return None


def set_variables(cfg) -> set[str]:
    keys = set(cfg.base_env) | set(cfg.treatment) | set(cfg.control)
    for overrides in cfg.stack.values():
        keys |= set(overrides)
    return keys


def differing_variables(cfg) -> list[str]:
    """The variables the experiment itself sets differently in its arms. A time budget's
    calibrated ITERATIONS per arm (condition_env) does not count: a switch the trainer ignores
    must not pass because its arms happen to train different step counts."""
    if getattr(cfg, "arm_steps", None):
        cfg = cfg.model_copy(update={"arm_steps": {}})
    t, c = cfg.condition_env("treatment"), cfg.condition_env("control")
    return sorted(k for k in set(t) | set(c) if t.get(k) != c.get(k))


def check(cfg) -> list[str]:
    """Refuse an experiment the trainer cannot actuate (NotActuated, TrainerSourceError);
    return the variables it sets that the trainer ignores (sorted; [] when no script to read)."""
    script = trainer_script(cfg)
    if script is None:
        return []
    tv = trainer_vars(script)
    diff = differing_variables(cfg)
    if tv.complete and diff and not any(tv.reads(v) for v in diff):
        named = ", ".join(f"{v} (read into {tv.dead[v]}, which nothing uses)" if v in tv.dead else v for v in diff)
        raise NotActuated(f"trainer {script} reads none of {named} (the variables that differ between "
                          f"treatment and control of {cfg.intervention}): both arms would run the same program")
    return tv.ignored(set_variables(cfg))


def ignored_message(cfg, ignored: list[str]) -> str | None:
    """The one warning line for ignored variables, if any."""
    if not ignored:
        return None
    return (f"warning: trainer {trainer_script(cfg)} never reads {', '.join(ignored)}; "
            f"setting {'it' if len(ignored) == 1 else 'them'} changes nothing")


def warn_ignored(cfg, ignored: list[str]) -> str | None:
    """Log (and return) the warning line for ignored variables, if any."""
    msg = ignored_message(cfg, ignored)
    if msg:
        log.warning(msg)
    return msg


def ignored_env(cfg) -> list[str]:
    """For raw_runs.json: the ignored variables, without refusing (the runs already happened)."""
    script = trainer_script(cfg)
    if script is None:
        return []
    try:
        tv: TrainerVars = trainer_vars(script)
    except TrainerSourceError:
        return []
    return tv.ignored(set_variables(cfg))


# --- `make-config --trainer FILE --list` and profile selection ----------------------------

def resolve_profile(script: Path | None, requested: str | None, intervention: str | None = None) -> str | None:
    """The profile name to build a config with (None = the catalog's env).

    `auto` (the default): the profile detected from the variables the script reads, when it
    maps the intervention; else the catalog's env. An explicit name is taken as is."""
    from causal_core import trainer_profiles
    if requested not in (None, "auto"):
        trainer_profiles.get(requested)
        return None if requested == "catalog" else requested
    if script is None or not script.is_file():
        return None
    p = trainer_profiles.detect(trainer_vars(script).reads)
    if p is None or p.name == "catalog" or (intervention and not p.maps(intervention)):
        return None
    return p.name


def _fmt(env: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


def actuation_table(script: Path, requested: str | None = None) -> tuple[str, list[tuple[str, bool, str, str]]]:
    """(profile name, rows): per catalog intervention, whether `script` can actuate it,
    how (treatment vs control env) or why not, and which mapping."""
    from causal_core import catalog, trainer_profiles
    tv = trainer_vars(script)
    if requested in (None, "auto"):
        prof = trainer_profiles.detect(tv.reads) or trainer_profiles.get("catalog")
    else:
        prof = trainer_profiles.get(requested)
    cat = trainer_profiles.get("catalog")
    rows = []
    for e in catalog.ENTRIES:
        sw, src = (prof.switches[e.name], prof.name) if prof.maps(e.name) else (None, "")
        if sw is None and cat.maps(e.name):
            csw = cat.switches[e.name]
            # The profile has no switch: the catalog's own env when the script reads all of it, or
            # (no profile reason to give) to name the variables it lacks.
            if e.name not in prof.cannot or all(tv.reads(k) for k in {*csw.treatment, *csw.control}):
                sw, src = csw, "catalog"
        if sw is None:
            why = prof.cannot.get(e.name) or (cat.cannot.get(e.name, "no switch") if prof is cat
                                              else f"no switch in the catalog or in profile {prof.name}")
            rows.append((e.name, False, why, ""))
            continue
        keys = sorted(set(sw.treatment) | set(sw.control))
        unread = [k for k in keys if not tv.reads(k)]
        if unread:
            why = "; ".join(f"{k} is read into {tv.dead[k]}, which nothing uses" if k in tv.dead
                            else f"does not read {k}" for k in unread)
            rows.append((e.name, False, why, src))
        else:
            note = f" ({sw.note})" if sw.note else ""
            rows.append((e.name, True, f"{_fmt(sw.treatment)}  vs  {_fmt(sw.control)}{note}", src))
    return prof.name, rows


def format_table(script: Path, requested: str | None = None) -> str:
    tv = trainer_vars(script)
    name, rows = actuation_table(script, requested)
    how = "auto-detected" if requested in (None, "auto") else "requested"
    ok = [r for r in rows if r[1]]
    bad = [r for r in rows if not r[1]]
    dead = f", {len(tv.dead)} never used ({', '.join(sorted(tv.dead))})" if tv.dead else ""
    lines = [f"trainer {script}: reads {len(tv.names)} environment variables{dead}",
             f"profile: {name} ({how})" + ("" if tv.complete else
                                          f"; WARNING: keys computed at run time on lines {list(tv.opaque_lines)}"),
             f"actuates {len(ok)} of {len(rows)} catalog interventions:"]
    w = max(len(r[0]) for r in rows)
    lines += [f"  {r[0]:<{w}}  [{r[3]}] {r[2]}" for r in ok]
    lines.append(f"cannot actuate {len(bad)}:")
    lines += [f"  {r[0]:<{w}}  {r[2]}" for r in bad]
    return "\n".join(lines)
