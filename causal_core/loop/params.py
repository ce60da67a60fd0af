"""Parameters of the cycle-loop, validated before anything runs.

LoopParams is the one contract: the flow's parameters, its UI form and the README table are
derived from these fields (loop/params_doc.py). To add a parameter, add a field with a
description here, then run `python -m causal_core.loop.params_doc README.md`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from causal_core import catalog
from causal_core.env_policy import check_names
from causal_core.experiments.config import check_seeds

TWO_DAYS_S = 2 * 24 * 3600


class LoopParams(BaseModel):
    records: list[str] = Field(default_factory=lambda: ["../shared/parameter-golf-records"],
                               description="record roots to learn from (missing roots are skipped with a warning)")
    results_dir: str = Field("results/causal", description="cycle folders, state and the final report")
    records_out: str = Field("records", description="where the loop writes its own experiment records")
    data_path: str = Field("data/embedded_sp1024", description="the trainer's DATA_PATH (TOKENIZER_PATH = its tokenizer.model); prepared if it is the embedded default")
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3], description="paired seeds per condition")
    budget_s: float = Field(120.0, description="expected wall-clock seconds of one training run: the runner's timeout is "
                            "budget + 120 s (at least time_budget_s under budget_mode=time). Not passed to the trainer "
                            "(cap it with MAX_WALLCLOCK_SECONDS in trainer_env)")
    budget_mode: Literal["time", "steps"] = Field("time", description="time: each arm trains time_budget_s of its own measured step time (docs/budget.md); steps: a fixed ITERATIONS")
    time_budget_s: float = Field(60.0, gt=0, description="training seconds per run under budget_mode=time (evaluation not charged)")
    trainer_env: dict[str, str | int | float] = Field(default_factory=dict, description="extra trainer env for every run (e.g. {\"ITERATIONS\": 400})")
    trainer: str | None = Field(None, description="a trainer script to run instead of ours (e.g. the challenge's train_gpt_mlx.py or a "
                                "record's train_gpt.py); the loop then tests only what its source shows it actuates (loop/target.py)")
    trainer_command: list[str] | None = Field(None, description="argv template of a run, e.g. [\"torchrun\", \"--standalone\", "
                                              "\"--nproc_per_node=8\", \"{trainer}\"] (default: {python} {trainer}; a foreign MLX "
                                              "script gets our BLAS launcher)")
    trainer_profile: str = Field("auto", description="env mapping of the trainer's switches (causal_core/trainer_profiles.py): "
                                 "auto (detected from the variables it reads), catalog, challenge-baseline, sp8192-frontier")
    first_intervention: str | None = Field(None, description="test this in cycle 1 instead of the DAG's pick")
    auto_approve: bool = Field(False, description="skip the approval pause between cycles")
    approval_timeout_s: float = Field(3600.0, description="how long a pause waits for a human")
    on_timeout: Literal["approve", "stop"] = Field("approve", description="what happens when nobody answers in time")
    stop_on_confirmed: bool = Field(True, description="stop at the first confirmed effect")
    max_nulls_in_a_row: int = Field(3, ge=1, description="stop after this many null decisions in a row")
    max_cycles: int = Field(4, ge=1, description="stop after this many experiment cycles")
    wall_clock_gate_s: float = Field(TWO_DAYS_S, gt=0, description="stop starting cycles after this many seconds (default: 2 days)")
    max_runs: int = Field(0, ge=0, description="a budget of training runs: no cycle or replication starts that would exceed it (0 = no limit; reused runs are free)")
    dispatch: Literal["local", "work-pool"] = Field("local", description="local (seed runs as tasks in the flow's process) or work-pool (runs of the train-seed deployment)")
    max_parallel: int = Field(0, ge=0, description="seed runs at once (0 = cores / trainer threads)")
    seed_retries: int = Field(1, ge=0, description="re-runs of a crashed seed before it counts as failed")
    reuse_runs: bool = Field(True, description="serve a run whose resolved trainer config, seed and code were already trained")
    stack_confirmed: bool = Field(True, description="test each next intervention on top of the ones confirmed so far")
    base: list[str] = Field(default_factory=list, description="interventions the user's configuration already has: "
                            "every cycle runs on top of them and the ranking lists what to add")
    replicate: bool = Field(True, description="replicate a confirmed effect on fresh seeds when the wall-clock gate allows")
    online_fdr: bool = Field(True, description="hold each confirmatory cycle to its LORD++ level alpha_t (FDR over the loop's life)")
    alpha: float = Field(0.05, gt=0, lt=1, description="the gate's alpha; with online_fdr the loop's nominal FDR")
    screen_k: int = Field(0, ge=0, description="switches per screening cycle (0 = never screen; docs/experiments.md has the rule)")
    screen_seeds: int = Field(1, ge=1, description="seeds every design row runs on (common random numbers)")
    screen_max_rows: int = Field(8, ge=4, description="rows of a screening design at most (mirror-paired, so even)")
    screen_resolution: Literal[3, 4] = Field(4, description="4: fold-over designs (main effects clear of 2FIs); 3: Plackett-Burman, half the runs")
    screen_min_ei: float = Field(0.001, ge=0, description="expected improvement (bpb) a switch needs to be screened")
    max_arms: int = Field(3, ge=1, description="treatment arms of a multi-arm confirmation cycle at most")
    run_diagnostics: bool = Field(True, description="run the checkpoint diagnostics on cycle 1's first control checkpoint")
    assemble: bool = Field(True, description="assemble a submission at the end")
    probe_before: str | None = Field(None, description="run the gradient-direction probe (with its own approval pause) "
                                     "before testing this intervention; its sweep then runs under the cost ceiling")
    probe_pools: list[str] = Field(default_factory=lambda: ["freq:top", "freq:mid"], min_length=2, max_length=2,
                                   description="the probe's pools A and B (shards:<glob>, freq:..., pos:...)")
    probe_separation_t: float = Field(1.0, ge=0, description="cost ceiling: |paired t| of the first phase needed to go on")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        return check_seeds(v)           # the experiment's own rule, before discovery runs

    @field_validator("trainer_env")
    @classmethod
    def _env(cls, v: dict) -> dict:
        check_names(v)      # no LD_PRELOAD, PYTHONPATH, ... (env_policy.py)
        return v

    @field_validator("budget_s", "approval_timeout_s")
    @classmethod
    def _positive(cls, v: float, info) -> float:
        if not v > 0:
            raise ValueError(f"must be positive (got {v})")
        return v

    @field_validator("first_intervention", "probe_before")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in catalog.CATALOG:
            raise ValueError(f"unknown intervention {v!r}")
        return v     # whether the trainer can switch it: _trainer below

    @field_validator("base")
    @classmethod
    def _base(cls, v: list[str]) -> list[str]:
        bad = [n for n in v if n not in catalog.CATALOG]
        if bad:
            raise ValueError(f"unknown intervention(s) {', '.join(map(repr, bad))} in base")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _paths(self) -> "LoopParams":
        if Path(self.results_dir).exists() and not Path(self.results_dir).is_dir():
            raise ValueError(f"results_dir {self.results_dir!r} is a file")
        return self

    @model_validator(mode="after")
    def _trainer(self) -> "LoopParams":
        """The trainer parses and can actuate what the user named (loop/target.py)."""
        from causal_core.loop.target import target
        t = target(self)          # ValueError: missing/unparsable script, unknown profile
        for name in filter(None, (self.first_intervention, self.probe_before)):
            if not t.actuates(name):
                raise ValueError(t.why_not(name))
        if self.probe_before and not t.ours:
            raise ValueError("probe_before needs our trainer (its gradient-direction probe is ours)")
        return self


def validate_params(raw: dict) -> LoopParams:
    """One-line error for the first problem; used by the flow before any work."""
    from pydantic import ValidationError
    try:
        return LoopParams(**raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        # A check across fields (the trainer and what it can switch) has no single field to name.
        raise ValueError(f"bad loop parameter {loc}: {msg}" if loc else f"bad loop parameters: {msg}") from None
