"""End to end on the 45 real records: extract -> dag -> identifiability (skips without them)."""
from __future__ import annotations

import json
from typing import get_args

import pytest

from causal_core.catalog import actionable
from causal_core.cli import main
from causal_core.dag.models import DagResult, IdentifiabilityReport, Tag


@pytest.fixture(scope="module")
def out(records_dir, tmp_path_factory):
    pytest.importorskip("causal_core.records.extract", reason="the extract step (another helper's) is not built yet")
    d = tmp_path_factory.mktemp("e2e")
    roots = [f"--records={p}" for p in sorted(records_dir.iterdir()) if p.is_dir()]
    assert main(["extract", *roots, "--out", str(d / "interventions.json")]) == 0
    assert main(["dag", "--interventions", str(d / "interventions.json"), "--out", str(d / "dag")]) == 0
    assert main(["identifiability", "--interventions", str(d / "interventions.json"),
                 "--dag", str(d / "dag" / "dag.json"), "--out", str(d / "ident.json")]) == 0
    return d


def test_dag_outputs(out):
    dag = DagResult.model_validate_json((out / "dag" / "dag.json").read_text())
    assert dag.n_records >= 40
    assert {e.tag for e in dag.edges} <= set(get_args(Tag))
    # 45 real records are enough for FCI: it runs and confirms some expert edges from the data.
    assert dag.fci.ran and dag.fci.fallback is None
    assert any(e.tag == "data_confirmed" for e in dag.edges)
    assert dag.next_intervention is not None
    assert dag.next_intervention.intervention in {e.name for e in actionable()}
    png = (out / "dag" / "dag.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (out / "dag" / "dag.svg").stat().st_size > 0
    assert "digraph" in (out / "dag" / "dag.dot").read_text()


def test_identifiability_output(out):
    rep = IdentifiabilityReport.model_validate(json.loads((out / "ident.json").read_text()))
    assert rep.n_records >= 40 and 0 <= rep.identifiability_score <= 1
    assert rep.single_variable_records + rep.multi_variable_records + rep.baseline_records == rep.n_records
    # The report proceeds exactly when some edge can; on the real records some can.
    assert rep.recommendation == ("proceed" if any(e.recommendation == "proceed" for e in rep.edges) else "skip")
    assert rep.recommendation == "proceed"


def test_previous_dag_cycle(out):
    d2 = out / "dag2"
    assert main(["dag", "--interventions", str(out / "interventions.json"), "--out", str(d2),
                 "--previous-dag", str(out / "dag" / "dag.json")]) == 0
    dag = DagResult.model_validate_json((d2 / "dag.json").read_text())
    assert dag.cycle == 2 and dag.diff is not None
    assert all(e.stability.cycles_total == 2 for e in dag.edges)
