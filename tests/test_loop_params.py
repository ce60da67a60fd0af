"""LoopParams is the loop's one parameter contract: the flow's parameters (names, defaults,
types, descriptions in Prefect's schema) and the README table are derived from it."""
from __future__ import annotations

import inspect
from pathlib import Path

from causal_core.loop import params_doc
from causal_core.loop.params import LoopParams

ROOT = Path(__file__).resolve().parents[1]


def test_the_flow_takes_exactly_loop_params():
    from flows.cycle_loop import cycle_loop
    sig = inspect.signature(cycle_loop.fn)
    assert list(sig.parameters) == list(LoopParams.model_fields)
    for name, f in LoopParams.model_fields.items():
        p = sig.parameters[name]
        assert p.default == f.get_default(call_default_factory=True), name
        assert p.annotation == f.annotation, name
    # What Prefect publishes (UI form, deployment schema, `--param` checks) follows.
    props = cycle_loop.parameters.model_dump()["properties"]
    assert list(props) == list(LoopParams.model_fields)
    for name, f in LoopParams.model_fields.items():
        assert props[name]["description"] == f.description, name
        assert props[name]["default"] == LoopParams().model_dump(mode="json")[name], name
    assert props["on_timeout"]["enum"] == ["approve", "stop"]


def test_every_parameter_is_described():
    assert [n for n, f in LoopParams.model_fields.items() if not (f.description or "").strip()] == []


def test_the_readme_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert params_doc.with_table(readme) == readme, "run: python -m causal_core.loop.params_doc README.md"
    for name in LoopParams.model_fields:
        assert f"| `{name}` |" in readme


def test_a_new_field_reaches_the_table_and_the_signature():
    from pydantic import Field

    class More(LoopParams):
        probe_every: int = Field(2, description="probe every N cycles")

    assert "| `probe_every` | `2` | probe every N cycles |" in params_doc.params_table(More)
    assert params_doc.flow_signature(More).parameters["probe_every"].default == 2


def test_budget_s_is_described_once_and_truthfully():
    d = LoopParams.model_fields["budget_s"].description
    assert "timeout" in d and "MAX_WALLCLOCK_SECONDS" in d and "Not passed" in d
