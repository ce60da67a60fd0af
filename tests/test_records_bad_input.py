"""Malformed and edge-case record folders, built in temp dirs: clear messages, no crash,
nothing written half-way."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from causal_core.cli import main
from causal_core.records import RecordsError, extract_records

README = "# Record: 11L + EMA\n\n**val_bpb: 1.1500**\n\n- 11 transformer layers\n- EMA weight averaging\n"


def record(root: Path, rel: str, readme: str | bytes | None = README, sub: dict | str | None = None) -> Path:
    d = root / rel
    d.mkdir(parents=True)
    if readme is not None:
        (d / "README.md").write_bytes(readme if isinstance(readme, bytes) else readme.encode())
    if sub is not None:
        (d / "submission.json").write_text(sub if isinstance(sub, str) else json.dumps(sub))
    return d


def test_single_record(tmp_path):
    record(tmp_path, "2026-05-01_Only", sub={"name": "Only", "val_bpb": 1.15, "date": "2026-05-01"})
    r = extract_records([tmp_path])
    assert [e.record_id for e in r.records] == ["2026-05-01_Only"]
    e = r.records[0]
    assert e.val_bpb == 1.15 and e.field_sources["val_bpb"] == "submission.json:val_bpb"
    assert {"more_layers", "ema"} <= set(e.intervention_names())
    assert r.field_coverage["all_four"] == 1.0


def test_malformed_json_warns_and_readme_still_parsed(tmp_path):
    record(tmp_path, "2026-05-01_BadJson", sub='{"name": "x", "val_bpb": 1.1,,}')
    e = extract_records([tmp_path]).records[0]
    assert any("submission.json: invalid JSON" in w and "line 1" in w for w in e.warnings)
    assert e.val_bpb == 1.15 and e.field_sources["val_bpb"] == "README.md:headline"
    assert "ema" in e.intervention_names()


def test_binary_readme_is_named_and_rest_parsed(tmp_path):
    record(tmp_path, "2026-05-01_Bin", readme=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
           sub={"name": "Bin", "val_bpb": 1.2, "blurb": "SmearGate and int6 QAT"})
    e = extract_records([tmp_path]).records[0]
    assert any("README.md: binary file" in w for w in e.warnings)
    assert e.val_bpb == 1.2
    assert {"smeargate", "qat", "low_bit_quant"} <= set(e.intervention_names())


@pytest.mark.parametrize("bad", ["NaN", "-1.2", "\"abc\"", "99.0"])
def test_invalid_scores_are_rejected_with_a_warning(tmp_path, bad):
    record(tmp_path, "2026-05-01_Nan", sub='{"name": "n", "val_bpb": ' + bad + '}')
    e = extract_records([tmp_path]).records[0]
    assert any("val_bpb=" in w and "not a valid bpb" in w for w in e.warnings)
    assert e.val_bpb == 1.15            # fell back to the README headline


def test_numbers_as_strings(tmp_path):
    record(tmp_path, "2026-05-01_Str", sub={"val_bpb": "1.1400", "bytes_total": "15,863,489",
                                            "seeds": ["1337", 42], "seed_scores": ["1.14", "1.15"]})
    e = extract_records([tmp_path]).records[0]
    assert e.val_bpb == 1.14 and e.bytes_total == 15863489
    assert e.seeds == [1337, 42] and e.seed_scores == {"1337": 1.14, "42": 1.15}


def test_duplicate_record_ids_across_roots(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    record(a, "track/2026-05-01_Same")
    record(b, "track/2026-05-01_Same")
    record(b, "track/2026-05-02_Other")
    r = extract_records([a, b])
    assert sorted(e.record_id for e in r.records) == ["track/2026-05-01_Same", "track/2026-05-02_Other"]
    assert len(r.skipped) == 1 and "duplicate record_id 'track/2026-05-01_Same'" in r.skipped[0].reason
    assert str(a) in r.skipped[0].reason


def test_non_record_folder_is_skipped_and_reported(tmp_path):
    record(tmp_path, "2026-05-01_Real")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    r = extract_records([tmp_path])
    assert len(r.records) == 1
    assert r.skipped[0].path.endswith("notes") and "not a record" in r.skipped[0].reason


def test_empty_records_folder_is_an_error(tmp_path):
    with pytest.raises(RecordsError, match="no records found"):
        extract_records([tmp_path])


def test_cli_empty_folder_exit_2_one_line_and_no_output(tmp_path, capsys):
    out = tmp_path / "out.json"
    (tmp_path / "empty").mkdir()
    assert main(["extract", "--records", str(tmp_path / "empty"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no records found" in err[0]
    assert not out.exists()


def test_cli_failure_leaves_previous_output_intact(tmp_path):
    out = tmp_path / "out.json"
    out.write_text('{"previous": true}')
    assert main(["extract", "--records", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert json.loads(out.read_text()) == {"previous": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]       # no temp file left behind


def test_cli_writes_valid_file(tmp_path):
    root = tmp_path / "records"
    record(root, "2026-05-01_A", sub={"name": "A", "val_bpb": 1.2, "date": "2026-05-01"})
    out = tmp_path / "out.json"
    assert main(["extract", "--records", str(root), "--out", str(out)]) == 0
    from causal_core.schemas import InterventionsFile
    f = InterventionsFile.model_validate_json(out.read_text())
    assert f.records[0].record_id == "2026-05-01_A" and f.field_coverage["val_bpb"] == 1.0


def test_loop_written_record(tmp_path):
    exp = {"intervention": "ema", "decision": "confirmed", "effect_bpb": -0.004, "n_pairs": 4}
    record(tmp_path, "loop/2026-05-03_ema", readme=None,
           sub={"name": "loop ema", "val_bpb": 1.3, "date": "2026-05-03", "interventions": ["ema", "bogus"],
                "causal_golf_experiment": exp})
    e = extract_records([tmp_path]).records[0]
    assert e.source_format == "experiment"
    assert e.experiment is not None and e.experiment.decision == "confirmed"
    assert e.intervention_names() == ["ema"]
    assert any("'bogus' is not a canonical name" in w for w in e.warnings)


def test_append_experiment_bad_input_fails_clearly(tmp_path, capsys):
    # Without the experiments writer: a clear error naming it. With it: a missing raw result
    # file is named. Either way exit 2 and no interventions.json.
    root = tmp_path / "records"
    record(root, "2026-05-01_A")
    out = tmp_path / "o.json"
    rc = main(["extract", "--records", str(root), "--out", str(out),
               "--append-experiment", str(tmp_path / "missing_raw.json")])
    assert rc == 2
    err = capsys.readouterr().err
    if importlib.util.find_spec("causal_core.experiments.record_writer") is None:
        assert "record_writer" in err
    else:
        assert "missing_raw.json" in err
    assert not out.exists()


def test_a_readme_at_the_root_describes_the_folder_and_the_records_below_are_read(tmp_path):
    from causal_core.records.pipeline import extract_records

    (tmp_path / "README.md").write_text("# records written by the loop\n")
    rec = tmp_path / "track_causal_golf" / "2026-11-21_ema-123"
    rec.mkdir(parents=True)
    (rec / "submission.json").write_text('{"name": "ema run", "date": "2026-11-21", "val_bpb": 1.23, '
                                         '"interventions": ["ema"]}')
    out = extract_records([tmp_path])
    assert [r.record_id for r in out.records] == ["track_causal_golf/2026-11-21_ema-123"]


def test_a_root_that_is_itself_a_record_is_read(tmp_path):
    from causal_core.records.pipeline import extract_records

    (tmp_path / "submission.json").write_text('{"name": "one", "date": "2026-03-20", "val_bpb": 1.2}')
    (tmp_path / "README.md").write_text("# one\nSliding window eval, stride 64.\n")
    out = extract_records([tmp_path])
    assert len(out.records) == 1 and out.records[0].val_bpb == 1.2
