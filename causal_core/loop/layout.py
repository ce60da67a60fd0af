"""Where the loop keeps its state: results/causal/ (one folder per cycle)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoopLayout:
    root: Path

    @classmethod
    def at(cls, results_dir: str | Path) -> "LoopLayout":
        return cls(Path(results_dir).resolve())

    @property
    def state(self) -> Path:
        return self.root / "loop_state.json"

    @property
    def experiment_log(self) -> Path:
        return self.root / "experiment_log.json"

    @property
    def online_ledger(self) -> Path:
        return self.root / "online_fdr.json"      # the LORD++ state: one test per confirmatory cycle

    @property
    def run_index(self) -> Path:
        return self.root / "run_index.json"

    @property
    def unrunnable(self) -> Path:
        return self.root / "unrunnable.json"      # switches whose arms could not run here (loop/step_fit.py)

    @property
    def final_report_md(self) -> Path:
        return self.root / "final_report.md"

    @property
    def final_report_json(self) -> Path:
        return self.root / "final_report.json"

    def cycle(self, n: int) -> "CycleLayout":
        return CycleLayout(self.root / f"cycle_{n}", n)

    def cycles(self) -> list["CycleLayout"]:
        """Every cycle_N folder there is (cycle_0 = discovery), in cycle order: by number, so
        cycle_10 comes after cycle_2."""
        ns = sorted(int(p.name.removeprefix("cycle_")) for p in self.root.glob("cycle_*")
                    if p.is_dir() and p.name.removeprefix("cycle_").isdigit())
        return [self.cycle(n) for n in ns]

    def finished_cycles(self) -> list["CycleLayout"]:
        """The experiment cycles whose final decision is written (stats.json, or every arm's
        once a multi-arm cycle is recorded), in cycle order."""
        return [c for c in self.cycles() if c.n >= 1 and c.stats_files()]


@dataclass(frozen=True)
class CycleLayout:
    dir: Path
    n: int

    @property
    def interventions(self) -> Path:
        return self.dir / "interventions.json"

    @property
    def dag_dir(self) -> Path:
        return self.dir / "dag"

    @property
    def dag(self) -> Path:
        return self.dag_dir / "dag.json"

    @property
    def dag_diff(self) -> Path:
        return self.dir / "dag_diff.json"

    @property
    def identifiability(self) -> Path:
        return self.dir / "identifiability.json"

    @property
    def diagnostics_dir(self) -> Path:
        return self.dir / "diagnostics"

    @property
    def config(self) -> Path:
        return self.dir / "config.json"

    @property
    def experiment_dir(self) -> Path:
        """The runner's out dir: runs/, raw_runs.json."""
        return self.dir / "experiment"

    @property
    def raw_runs(self) -> Path:
        return self.experiment_dir / "raw_runs.json"

    @property
    def stats(self) -> Path:
        return self.experiment_dir / "stats.json"

    @property
    def refutation(self) -> Path:
        return self.dir / "refutation.json"

    @property
    def replication_dir(self) -> Path:
        return self.dir / "replication"

    @property
    def replication_config(self) -> Path:
        return self.replication_dir / "config.json"

    @property
    def record(self) -> Path:
        return self.dir / "record.json"       # {"path": the record folder written under records/}

    # screening cycles: design.json, then one (row, mirror row) config per pair under screen/
    @property
    def design(self) -> Path:
        return self.dir / "design.json"

    @property
    def screen_dir(self) -> Path:
        return self.dir / "screen"

    def screen_pair(self, i: int) -> Path:
        return self.screen_dir / f"pair_{i}"          # config.json, runs/, raw_runs.json

    @property
    def screen_analysis(self) -> Path:
        return self.screen_dir / "analysis.json"

    # multi-arm cycles: one experiment per arm, all on the same seeds against the same control
    @property
    def arms_dir(self) -> Path:
        return self.dir / "arms"

    def arm(self, name: str) -> Path:
        return self.arms_dir / name                   # config.json, experiment/{runs,raw_runs.json,stats.json}

    def stats_files(self) -> list[Path]:
        """The cycle's final stats.json files (one, or one per arm): see cycle_stats."""
        return cycle_stats(self.dir)


def cycle_stats(d: Path) -> list[Path]:
    """The stats.json files of a cycle folder: its experiment, else its arms in order once the
    multi-arm cycle is recorded (arms' stats are written one by one; a half-written set is not a result)."""
    single = d / "experiment" / "stats.json"
    if single.is_file():
        return [single]
    return sorted(d.glob("arms/*/experiment/stats.json")) if (d / "record.json").is_file() else []
