"""Paths built from data (raw_runs.json, configs) stay inside their root; output paths that
cannot be written are refused before any work, in one line with exit 2."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from causal_core.cli import main
from causal_core.experiments.config import from_catalog
from causal_core.experiments.results import RunResult, summarize
from causal_core.safe_paths import UnsafePathError, check_output_file, safe_name, within

README = "# Record: 11L + EMA\n\n**val_bpb: 1.1500**\n\n- 11 transformer layers\n- EMA weight averaging\n"


def raw_runs(tmp_path: Path, **override) -> Path:
    cfg = from_catalog("more_layers", seeds=[1, 2, 3])
    runs = [RunResult(run_id=cfg.run_id(c, s), condition=c, seed=s, status="ok", val_bpb=v + (s * 1e-3),
                      stdout_path="x", stderr_path="y")
            for s in (1, 2, 3) for c, v in (("control", 2.5), ("treatment", 2.49))]
    obj = json.loads(summarize(cfg, runs).model_dump_json())
    obj.update(override)
    p = tmp_path / "exp" / "raw_runs.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj))
    return p


def records_root(tmp_path: Path) -> Path:
    root = tmp_path / "records"
    (root / "2026-05-01_A").mkdir(parents=True)
    (root / "2026-05-01_A" / "README.md").write_text(README)
    return root


def files(d: Path) -> set[str]:
    return {p.relative_to(d).as_posix() for p in d.rglob("*")}


@pytest.mark.parametrize("field, value", [
    ("experiment_id", "../../../escape"),
    ("experiment_id", "x/../../escape"),
    ("experiment_id", ""),
    ("finished_at", "../../../../tmp/x"),
    ("finished_at", "../../../x/2026-05-01"),
])
def test_crafted_raw_runs_cannot_write_outside_the_records_root(tmp_path, capsys, field, value):
    raw = raw_runs(tmp_path, **{field: value})
    root = records_root(tmp_path)
    before = files(tmp_path)
    rc = main(["extract", "--records", str(root), "--out", str(tmp_path / "i.json"), "--append-experiment", str(raw)])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert field in err
    assert files(tmp_path) == before        # nothing written anywhere, inside or outside the root


def test_truncated_raw_runs_is_one_line(tmp_path, capsys):
    raw = raw_runs(tmp_path)
    raw.write_text(raw.read_text()[:300])
    root = records_root(tmp_path)
    before = files(tmp_path)
    rc = main(["extract", "--records", str(root), "--out", str(tmp_path / "i.json"), "--append-experiment", str(raw)])
    err = capsys.readouterr().err
    assert rc == 2 and "not a usable raw result" in err and len(err.strip().splitlines()) == 1
    assert files(tmp_path) == before


def test_append_then_failed_extraction_leaves_no_record_folder(tmp_path, capsys):
    raw = raw_runs(tmp_path)
    root = records_root(tmp_path)
    before = files(root)
    out = tmp_path / "i.json"
    out.mkdir()                              # refused before the append
    assert main(["extract", "--records", str(root), "--out", str(out), "--append-experiment", str(raw)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert files(root) == before
    # The append succeeds but the walk fails (the first root is not a folder): the new record goes too.
    assert main(["extract", "--records", str(tmp_path / "missing"), "--records", str(root),
                 "--out", str(tmp_path / "j.json"), "--append-experiment", str(raw)]) == 2
    assert files(root) - {".causal_golf_records.lock"} == before and not (tmp_path / "j.json").exists()


def test_good_append_still_writes_inside_the_root(tmp_path):
    raw = raw_runs(tmp_path)
    root = records_root(tmp_path)
    assert main(["extract", "--records", str(root), "--out", str(tmp_path / "i.json"), "--append-experiment", str(raw)]) == 0
    got = json.loads((tmp_path / "i.json").read_text())
    assert any(r["record_id"].startswith("track_causal_golf/") for r in got["records"])


def test_within_refuses_a_link_out_of_the_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(tmp_path, root / "track")
    with pytest.raises(UnsafePathError, match="outside"):
        within(root, "track", "x")
    assert within(root, "a", "b.json") == root.resolve() / "a" / "b.json"


@pytest.mark.parametrize("bad", ["..", ".", ".hidden", "a/b", "a\\b", "-rf", "", "x" * 200, "a\x00b", 5])
def test_safe_name_refuses(bad):
    with pytest.raises(UnsafePathError):
        safe_name(bad, "name")


def test_check_output_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsafePathError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(UnsafePathError, match="is a file, not a folder"):
        check_output_file(tmp_path / "f" / "deeper" / "out.json")
    assert check_output_file(tmp_path / "new" / "out.json") == tmp_path / "new" / "out.json"
