"""The trainer the loop runs: ours (train_gpt_mlx.py) by default, or a foreign script.

`LoopParams.trainer` points the loop at another trainer: the challenge's train_gpt_mlx.py,
or a record's train_gpt.py (with `trainer_command` = torchrun ... on a GPU machine). What
that script can actuate is read from its source (experiments/actuation.py, never executed),
and each intervention's env comes from the trainer profile that fits it
(causal_core/trainer_profiles.py) or from the catalog when the script reads the catalog's
variables. The loop then only proposes, screens and stacks what the script actuates, so no
cycle is spent on a switch both arms would ignore.

This is the one place that says which trainer, command, working directory, env mapping and
base env the loop's configs get (single, screening and multi-arm cycles alike).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from causal_core import catalog
from causal_core.trainer import REPO_ROOT, TRAINER, base_env

DEFAULT_COMMAND = ("{python}", "{trainer}")
# A foreign MLX script on CPU gets our fast BLAS, with make-config's own launcher command.
from causal_core.experiments.config_cli import LAUNCH_COMMAND  # noqa: E402


@dataclass(frozen=True)
class Target:
    script: Path
    command: tuple[str, ...]
    profile: str                                   # the env mapping in use ("catalog" for ours)
    switches: dict[str, tuple[dict, dict]]          # actuatable intervention -> (treatment, control)
    cannot: dict[str, str] = field(default_factory=dict)   # intervention -> why the script cannot
    reads_preset: bool = True

    @property
    def ours(self) -> bool:
        return self.script == TRAINER

    def actuates(self, intervention: str) -> bool:
        return intervention in self.switches

    def why_not(self, intervention: str) -> str:
        if self.ours:
            return f"{intervention!r} is not switchable in our trainer"
        return (f"{intervention!r} is not switchable in trainer {self.script}: "
                f"{self.cannot.get(intervention, 'no switch for it')}")

    def require(self, intervention: str) -> None:
        if intervention not in catalog.CATALOG:
            raise ValueError(f"unknown intervention {intervention!r} (see causal_core/catalog.py)")
        if not self.actuates(intervention):
            raise ValueError(self.why_not(intervention))

    def sides(self, intervention: str) -> tuple[dict, dict]:
        self.require(intervention)
        t, c = self.switches[intervention]
        return dict(t), dict(c)

    def env(self, params) -> dict[str, Any]:
        """The base env of every run: DATA_PATH, TOKENIZER_PATH (and PRESET where the script reads it)."""
        env = base_env(params.data_path, params.trainer_env)
        if not self.reads_preset and "PRESET" not in params.trainer_env:
            env.pop("PRESET", None)
        return env

    def workdir(self, params) -> str:
        """Ours runs in the repository; a foreign script in its own folder under results_dir
        (the challenge's CUDA script writes its model files to the working directory)."""
        return str(REPO_ROOT) if self.ours else str(Path(params.results_dir).resolve() / "trainer_cwd")

    @property
    def platform(self) -> str:
        """torch-cuda for a torchrun command (the challenge's CUDA scripts), else MLX on this CPU."""
        return "torch-cuda" if any(Path(a).name == "torchrun" for a in self.command[:1]) else "mlx-cpu"

    def scale_key(self, params) -> str:
        """The loop's own local scale (transfer_model.scale_key): the DAG's local column and its
        ranking are at this scale, whatever scale the latest experiment in the records ran at."""
        from causal_core.dag.transfer_model import scale_key
        from causal_core.experiments.scale import trainer_scale
        return scale_key(self.platform, trainer_scale(self.env(params)), params.budget_mode)

    def config_fields(self, params) -> dict[str, Any]:
        """trainer, trainer_command, workdir, profile and platform for an ExperimentConfig."""
        wd = self.workdir(params)
        Path(wd).mkdir(parents=True, exist_ok=True)
        return {"trainer": str(self.script), "trainer_command": list(self.command), "workdir": wd,
                "profile": None if self.profile == "catalog" else self.profile, "platform": self.platform}

    def describe(self) -> str:
        if self.ours:
            return f"our trainer {self.script.name}"
        return (f"trainer {self.script} (profile {self.profile}; actuates {len(self.switches)} of "
                f"{len(catalog.ENTRIES)} catalog interventions)")


def _ours() -> Target:
    # Every entry with an env, including those whose arms need env from the probe phase
    # (requires_env): next_intervention never proposes those on their own.
    sw = {e.name: (dict(e.treatment), dict(e.control)) for e in catalog.ENTRIES if e.actionable}
    cannot = {e.name: "our trainer has no switch for it" for e in catalog.ENTRIES if not e.actionable}
    return Target(script=TRAINER, command=DEFAULT_COMMAND, profile="catalog", switches=sw, cannot=cannot)


@lru_cache(maxsize=16)
def _foreign(script: Path, command: tuple[str, ...] | None, profile: str, mtime_ns: int) -> Target:
    from causal_core import trainer_profiles
    from causal_core.experiments.actuation import actuation_table
    from causal_core.experiments.trainer_vars import trainer_vars
    tv = trainer_vars(script)        # TrainerSourceError (a ValueError) names the problem
    name, rows = actuation_table(script, profile)
    prof, cat = trainer_profiles.get(name), trainer_profiles.get("catalog")
    switches, cannot = {}, {}
    for intervention, ok, how, src in rows:
        if not ok:
            cannot[intervention] = how
            continue
        sw = (prof if src == prof.name else cat).switches[intervention]
        switches[intervention] = (dict(sw.treatment), dict(sw.control))
    if command is None:
        command = LAUNCH_COMMAND if tv.needs_blas_launcher else DEFAULT_COMMAND
    return Target(script=script, command=command, profile=name, switches=switches, cannot=cannot,
                  reads_preset=tv.reads("PRESET"))


def resolve_target(trainer: str | None, command: list[str] | None = None, profile: str = "auto") -> Target:
    """The Target for LoopParams' trainer fields; ValueError with one line when the script is
    missing or cannot be parsed, or the profile is unknown."""
    if trainer is None or Path(trainer).resolve() == TRAINER:
        if command and tuple(command) != DEFAULT_COMMAND:
            t = _ours()
            return Target(script=t.script, command=tuple(command), profile=t.profile, switches=t.switches,
                          cannot=t.cannot)
        return _ours()
    script = Path(trainer).resolve()
    if not script.is_file() or script.stat().st_size == 0:
        raise ValueError(f"trainer {trainer} is missing or empty")
    return _foreign(script, tuple(command) if command else None, profile, script.stat().st_mtime_ns)


def target(params) -> Target:
    return resolve_target(params.trainer, params.trainer_command, params.trainer_profile)
