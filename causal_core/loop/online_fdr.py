"""The loop's online error control state (LORD++ in stats.online_level), persisted so a
resumed loop holds every test to exactly the level it had.

One entry per confirmatory cycle (a single-switch or multi-arm cycle; screening cycles make
no claim and spend nothing): its test index, the level alpha_t, the gate's alpha, and, once
analysed, whether it confirmed anything. The level of a cycle is fixed when it is planned
(written before any run), so a kill between plan and analysis cannot change it.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from causal_core.atomic import atomic_write_json, file_lock
from causal_core.experiments.stats import gate_alpha, online_level
from causal_core.loop.layout import LoopLayout

RULE = "LORD++"


class OnlineTest(BaseModel):
    cycle: int
    index: int                      # 1-based position in the loop's sequence of tests
    level: float                    # alpha_t: the false-confirmation probability this test may spend
    gate_alpha: float               # the two-sided alpha handed to stats.decide (2 * level)
    arms: list[str] = Field(default_factory=list)
    rejected: bool | None = None    # None until the cycle is analysed


class Ledger(BaseModel):
    rule: str = RULE
    alpha: float = 0.05             # the nominal FDR of the loop's whole life
    w0: float = 0.025               # LORD++ initial wealth (alpha / 2)
    horizon: int | None = None      # tests the loop expects (stats.lord_gamma); fixed when the ledger is made
    tests: list[OnlineTest] = Field(default_factory=list)

    def rejections(self) -> list[int]:
        return [t.index for t in self.tests if t.rejected]


def horizon(params) -> int:
    """The most confirmatory tests the loop can run: max_cycles, and with a run budget the tests it
    pays for at one control and one treatment arm on `seeds` (a screen or replication only lowers it)."""
    n = params.max_cycles
    if params.max_runs:
        n = min(n, max(1, params.max_runs // (2 * len(params.seeds))))
    return max(1, n)


def load(path: Path, alpha: float = 0.05, horizon: int | None = None) -> Ledger:
    """The stored ledger (its alpha and horizon as they were made, so a resumed loop keeps them), or a new one."""
    if path.is_file():
        return Ledger.model_validate_json(path.read_text())
    return Ledger(alpha=alpha, w0=alpha / 2, horizon=horizon)


def level_for(layout: LoopLayout, cycle: int, arms: list[str], alpha: float = 0.05,
              horizon: int | None = None) -> OnlineTest:
    """The cycle's test: the recorded one on resume, else the next index at its LORD++ level.
    An earlier test still pending (planned, never analysed) counts as no rejection."""
    with file_lock(layout.online_ledger):
        led = load(layout.online_ledger, alpha, horizon)
        for t in led.tests:
            if t.cycle == cycle:
                return t
        index = len(led.tests) + 1
        level = online_level(index, led.rejections(), led.alpha, led.w0, led.horizon)
        test = OnlineTest(cycle=cycle, index=index, level=level, gate_alpha=gate_alpha(level), arms=list(arms))
        led.tests.append(test)
        atomic_write_json(layout.online_ledger, led.model_dump())
        return test


def peek(layout: LoopLayout, alpha: float = 0.05, horizon: int | None = None) -> float:
    """The gate alpha the next new test would get (writes nothing): sizes a plan before approval."""
    led = load(layout.online_ledger, alpha, horizon)
    return gate_alpha(online_level(len(led.tests) + 1, led.rejections(), led.alpha, led.w0, led.horizon))


def next_gate(layout: LoopLayout, params) -> float:
    """The gate alpha the loop's next test would get: its LORD++ level at the loop's horizon, or the
    fixed alpha when online error control is off. One place for the flow's plans and the re-test sizing."""
    return peek(layout, params.alpha, horizon(params)) if params.online_fdr else params.alpha


def release(layout: LoopLayout, cycle: int) -> bool:
    """Drop the cycle's test when it is the last one and was never analysed: its arms could not
    be planned (a failed calibration), no run was trained, so it spent nothing. Returns whether it did."""
    with file_lock(layout.online_ledger):
        if not layout.online_ledger.is_file():
            return False
        led = load(layout.online_ledger)
        if not led.tests or led.tests[-1].cycle != cycle or led.tests[-1].rejected is not None:
            return False
        led.tests.pop()
        atomic_write_json(layout.online_ledger, led.model_dump())
        return True


def record_outcome(layout: LoopLayout, cycle: int, rejected: bool) -> None:
    """Set the cycle's outcome (idempotent; a cycle without a test is left alone)."""
    with file_lock(layout.online_ledger):
        led = load(layout.online_ledger)
        for t in led.tests:
            if t.cycle == cycle and t.rejected != rejected:
                t.rejected = rejected
                atomic_write_json(layout.online_ledger, led.model_dump())
        return None


def describe(test: OnlineTest, alpha: float) -> str:
    return (f"{RULE} test {test.index}: level alpha_t {test.level:.4g} of the loop's FDR {alpha:g} "
            f"(gate: two-sided p < {test.gate_alpha:.4g}, confirms improvements only)")
