"""Records are untrusted (public pull requests): extract stays inside its root, ends, and
bounds what it reads. Real symlinks, FIFOs and large files built in tmp_path."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from causal_core.cli import main
from causal_core.records import extract_records
from causal_core.records.guard import FILE_CAPS

README = "# Record: 11L + EMA\n\n**val_bpb: 1.1500**\n\n- 11 transformer layers\n- EMA weight averaging\n"
# What an attacker points at: if this title or score shows up, a file outside the root was read.
CANARY = "# CANARY outside the root\n\n**val_bpb: 1.0101**\n\n- SmearGate\n"


def record(root: Path, rel: str, readme: str | None = README) -> Path:
    d = root / rel
    d.mkdir(parents=True)
    if readme is not None:
        (d / "README.md").write_text(readme)
    return d


def canary(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "README.md").write_text(CANARY)
    (out / "train.log").write_text("step:10/10 val_loss:2.0 val_bpb:1.0101\nfinal_int8_zlib_roundtrip_exact "
                                   "val_loss:2.0 val_bpb:1.0101\n")
    return out


def dump(result) -> str:
    return result.model_dump_json()


def test_two_symlink_loops_end_and_give_no_duplicates(tmp_path):
    root = tmp_path / "root"
    rec = record(root, "track/2026-05-01_A")
    (rec / "logs").mkdir()
    os.symlink("..", rec / "logs" / "up")            # loop inside a record (walked for logs)
    os.symlink(".", rec / "self")                    # a second one
    os.symlink("..", root / "track" / "again")       # loop at the container level
    t0 = time.monotonic()
    r = extract_records([root])
    assert time.monotonic() - t0 < 10
    assert [e.record_id for e in r.records] == ["track/2026-05-01_A"]
    assert any("already walked" in s.reason for s in r.skipped)


def test_folder_link_out_of_root_is_not_walked(tmp_path):
    out = canary(tmp_path)
    root = tmp_path / "root"
    record(root, "track/2026-05-01_A")
    os.symlink(out, root / "track" / "2026-05-02_Elsewhere")
    r = extract_records([root])
    assert [e.record_id for e in r.records] == ["track/2026-05-01_A"]
    assert "CANARY" not in dump(r) and "1.0101" not in dump(r)
    refused = [s for s in r.skipped if s.path.endswith("2026-05-02_Elsewhere")]
    assert refused and "out of the records root" in refused[0].reason


def test_readme_and_log_linking_out_are_refused_and_reported(tmp_path):
    out = canary(tmp_path)
    root = tmp_path / "root"
    rec = record(root, "2026-05-01_Linked", readme=None)
    (rec / "submission.json").write_text(json.dumps({"name": "Linked"}))
    os.symlink(out / "README.md", rec / "README.md")
    os.symlink(out / "train.log", rec / "train_seed1.log")
    r = extract_records([root])
    e = r.records[0]
    assert e.name == "Linked" and e.val_bpb is None and "smeargate" not in e.intervention_names()
    assert "CANARY" not in dump(r) and "1.0101" not in dump(r)
    reasons = {Path(s.path).name: s.reason for s in r.skipped}
    assert "out of the records root" in reasons["README.md"]
    assert "out of the records root" in reasons["train_seed1.log"]


def test_links_inside_the_root_are_followed(tmp_path):
    root = tmp_path / "root"
    shared = root / "_assets"
    shared.mkdir(parents=True)
    (shared / "readme.txt").write_text(README)
    rec = root / "2026-05-01_In"
    rec.mkdir()
    os.symlink("../_assets/readme.txt", rec / "README.md")
    e = extract_records([root]).records[0]
    assert e.val_bpb == 1.15 and "ema" in e.intervention_names()


def test_dangling_link_and_fifo_are_refused_without_blocking(tmp_path):
    root = tmp_path / "root"
    rec = record(root, "2026-05-01_A")
    os.symlink(tmp_path / "nowhere", rec / "train.log")
    os.mkfifo(rec / "train_seed2.log")                   # opening it for reading would block
    r = extract_records([root])
    reasons = {Path(s.path).name: s.reason for s in r.skipped}
    assert "dangling" in reasons["train.log"]
    assert "not a regular file" in reasons["train_seed2.log"]
    assert r.records[0].val_bpb == 1.15


def test_huge_readme_is_read_in_part_with_a_warning(tmp_path):
    root = tmp_path / "root"
    rec = record(root, "2026-05-01_Big")
    line = "- 11 transformer layers with EMA weight averaging | val_bpb: 1.1500 |\n"
    with open(rec / "README.md", "a") as f:
        f.write(line * (20_000_000 // len(line)))          # 20 MB
    e = extract_records([root]).records[0]
    assert any(f"over the {FILE_CAPS['README.md']}-byte cap" in w for w in e.warnings)
    assert e.val_bpb == 1.15


def test_deep_nesting_is_bounded(tmp_path):
    root = tmp_path / "root"
    d = root
    for i in range(40):
        d = d / f"d{i}"
    record(root, "2026-05-01_Shallow")
    d.mkdir(parents=True)
    (d / "README.md").write_text(README)
    r = extract_records([root])
    assert [e.record_id for e in r.records] == ["2026-05-01_Shallow"]
    assert any("deeper than" in s.reason for s in r.skipped)


def test_cli_reports_refusals_and_writes_nothing_from_outside(tmp_path, capsys):
    out = canary(tmp_path)
    root = tmp_path / "root"
    record(root, "2026-05-01_A")
    os.symlink(out, root / "escape")
    assert main(["extract", "--records", str(root), "--out", str(tmp_path / "i.json")]) == 0
    err = capsys.readouterr().err
    assert "escape: link out of the records root" in err
    assert "CANARY" not in (tmp_path / "i.json").read_text()
