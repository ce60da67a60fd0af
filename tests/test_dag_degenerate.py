"""Bad and degenerate inputs: one-line errors or documented fallbacks; nothing half-written."""
from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest

from causal_core.cli import main
from causal_core.dag import estimate_dag
from causal_core.dag.synthetic import generate
from causal_core.schemas import InterventionMention, InterventionsFile, RecordEntry


def _write(tmp_path, data: InterventionsFile):
    p = tmp_path / "interventions.json"
    p.write_text(data.model_dump_json())
    return p


def _cli(*argv) -> int:
    return main(["dag", *map(str, argv)])


def test_malformed_json_one_line_error(tmp_path, capsys):
    p = tmp_path / "interventions.json"
    p.write_text("{not json")
    assert _cli("--interventions", p, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert "not valid JSON" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_schema_violation_and_missing_file(tmp_path, capsys):
    p = tmp_path / "interventions.json"
    p.write_text(json.dumps({"records": [{"record_id": "x", "interventions": [{"name": "not_a_thing"}]}]}))
    assert _cli("--interventions", p, "--out", tmp_path / "o") == 2
    assert "canonical" in capsys.readouterr().err
    assert _cli("--interventions", tmp_path / "nope.json", "--out", tmp_path / "o") == 2
    assert "not found" in capsys.readouterr().err


def test_no_records_and_all_nan(tmp_path, capsys):
    assert _cli("--interventions", _write(tmp_path, InterventionsFile()), "--out", tmp_path / "o") == 2
    assert "no records" in capsys.readouterr().err
    nan = InterventionsFile(records=[RecordEntry(record_id="a", val_bpb=float("nan"))])
    assert _cli("--interventions", _write(tmp_path, nan), "--out", tmp_path / "o") == 2
    assert "no usable records" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_single_record_falls_back_to_expert_skeleton():
    one = InterventionsFile(records=[RecordEntry(record_id="a", val_bpb=1.2,
                                                 interventions=[InterventionMention(name="ema")])])
    dag = estimate_dag(one)
    assert not dag.fci.ran and "record" in dag.fci.fallback
    assert {e.tag for e in dag.edges} == {"expert_imposed"}
    assert dag.next_intervention is not None
    for e in dag.effects:
        assert np.isfinite(e.ci_low) and np.isfinite(e.ci_high)


def test_numerical_failure_falls_back(monkeypatch):
    data, _ = generate(45, seed=1)
    with mock.patch("causal_core.dag.fci.run_fci", side_effect=np.linalg.LinAlgError("singular matrix")):
        dag = estimate_dag(data)
    assert not dag.fci.ran and "singular" in dag.fci.fallback
    assert {e.tag for e in dag.edges} == {"expert_imposed"}


def test_degenerate_fci_results_fall_back():
    from causal_core.dag.fci import Pag
    data, _ = generate(45, seed=1)
    with mock.patch("causal_core.dag.fci.run_fci", return_value=Pag(variables=["a"])):
        assert "empty graph" in estimate_dag(data).fci.fallback
    # n below the number of variables: 8 records for ~all interventions
    few, _ = generate(8, seed=2)
    d = estimate_dag(few)
    assert not d.fci.ran and d.fci.fallback


def test_render_failure_writes_nothing(tmp_path):
    data, _ = generate(20, seed=1)
    p = _write(tmp_path, data)
    with mock.patch("causal_core.dag.render._matplotlib", side_effect=RuntimeError("boom")), \
         mock.patch("causal_core.dag.render.shutil.which", return_value=None):
        with pytest.raises(RuntimeError):
            _cli("--interventions", p, "--out", tmp_path / "o")
    assert not list((tmp_path / "o").glob("dag.*")) if (tmp_path / "o").exists() else True


def test_no_records_gives_a_prior_only_dag_when_asked():
    """The loop in a clone without published records starts from the catalog priors."""
    from causal_core import catalog
    from causal_core.dag import DagInputError, estimate_dag
    from causal_core.schemas import InterventionsFile

    with pytest.raises(DagInputError, match="no usable records"):
        estimate_dag(InterventionsFile())
    dag = estimate_dag(InterventionsFile(), prior_only_ok=True)
    assert dag.n_records == 0 and dag.fci.fallback
    assert dag.next_intervention is not None and catalog.get(dag.next_intervention.intervention).actionable
    assert all(e.source == "prior_only" for e in dag.effects)
