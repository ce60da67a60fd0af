"""No tracebacks and nothing half-written: unusable output paths, a full disk (a real small
tmpfs), binary inputs, refused runs, killed writers' temporaries, and the umask."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from causal_core.atomic import TMP_SUFFIX, atomic_write_json, atomic_write_text
from causal_core.cli import main
from causal_core.experiments.config import from_catalog

README = "# Record: 11L + EMA\n\n**val_bpb: 1.1500**\n\n- 11 transformer layers\n- EMA weight averaging\n"
ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def records(tmp_path: Path) -> Path:
    d = tmp_path / "records" / "2026-05-01_A"
    d.mkdir(parents=True)
    (d / "README.md").write_text(README)
    return d.parent


def interventions(tmp_path: Path) -> Path:
    out = tmp_path / "interventions.json"
    assert main(["extract", "--records", str(records(tmp_path)), "--out", str(out)]) == 0
    return out


def raw_runs(tmp_path: Path) -> Path:
    from causal_core.experiments.results import RunResult, summarize
    cfg = from_catalog("more_layers", seeds=[1, 2, 3])
    runs = [RunResult(run_id=cfg.run_id(c, s), condition=c, seed=s, status="ok", val_bpb=v + s * 1e-3,
                      stdout_path="x", stderr_path="y") for s in (1, 2, 3) for c, v in (("control", 2.5), ("treatment", 2.49))]
    p = tmp_path / "exp" / "raw_runs.json"
    p.parent.mkdir(parents=True)
    p.write_text(summarize(cfg, runs).model_dump_json())
    return p


def commands(tmp_path: Path, out: str) -> dict[str, list[str]]:
    return {
        "extract": ["extract", "--records", str(records(tmp_path)), "--out", out],
        "make-config": ["make-config", "--intervention", "more_layers", "--no-check-trainer", "--out", out],
        "analyze": ["analyze", str(raw_runs(tmp_path)), "--bootstrap", "0", "--out", out],
    }


@pytest.mark.parametrize("cmd", ["extract", "make-config", "analyze"])
@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_unusable_out_is_one_line(tmp_path, capsys, cmd, where):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "adir" if where == "folder" else tmp_path / "afile" / "out.json"
    if where == "folder":
        out.mkdir()
    argv = commands(tmp_path, str(out))[cmd]
    capsys.readouterr()
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert ("is a folder" if where == "folder" else "is a file, not a folder") in err


def test_dag_out_under_a_file_is_refused_before_estimating(tmp_path, capsys):
    inter = interventions(tmp_path)
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert main(["dag", "--interventions", str(inter), "--out", str(tmp_path / "afile" / "dag")]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)


def test_run_experiment_out_that_is_a_file(tmp_path, capsys, repo_root):
    cfg = from_catalog("more_layers", trainer="tests/stub_trainer.py", workdir=str(repo_root), seeds=[1, 2])
    cfg.save(tmp_path / "c.json")
    (tmp_path / "o").write_text("x")
    assert main(["run-experiment", str(tmp_path / "c.json"), "--out", str(tmp_path / "o")]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)


def test_probe_gate_binary_file_is_one_line(tmp_path, capsys):
    log = tmp_path / "projection.jsonl"
    log.write_bytes(bytes(range(256)) * 4)
    assert main(["diag", "probe-gate", str(log), "--out", str(tmp_path / "d")]) == 2
    assert "not a UTF-8 JSON-lines file" in one_line_error(capsys)
    log.write_text("[1, 2]\n")
    assert main(["diag", "probe-gate", str(log), "--out", str(tmp_path / "d")]) == 2
    assert "not an object" in one_line_error(capsys)


@pytest.fixture
def full_disk(tmp_path):
    """A real 16 KiB tmpfs (needs mount privileges; skipped without them)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, full_disk, capsys):
    out = full_disk / "interventions.json"
    root = records(tmp_path)
    # Fill the disk but for a few hundred bytes, less than extract's output (the record caps
    # bound what one record can add, so a big record alone no longer overflows 64 KiB).
    filler = full_disk / "filler"
    st = os.statvfs(full_disk)
    filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - 1024))
    assert main(["extract", "--records", str(root), "--out", str(out)]) == 2
    err = one_line_error(capsys)
    assert "interventions.json: no space left on the device (disk full)" in err
    assert [p.name for p in full_disk.iterdir()] == ["filler"]    # no output, no temporary
    with pytest.raises(OSError):
        atomic_write_text(full_disk / "x.json", "y" * 200_000)
    assert [p.name for p in full_disk.iterdir()] == ["filler"]


def test_results_honour_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        p = atomic_write_json(tmp_path / "shared.json", {"a": 1})
        assert p.stat().st_mode & 0o777 == 0o664
        os.umask(0o077)
        p = atomic_write_json(tmp_path / "private.json", {"a": 1})
        assert p.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_the_trainers_own_outputs_honour_the_umask(repo_root, tmp_path):
    """The trainer writes its logs and configs with its own atomic helper (it runs standalone)."""
    code = ("import os, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import train_gpt_mlx as t; "
            "os.umask(0o002); t._atomic_write_text(Path(sys.argv[2]) / 'a.txt', 'x'); "
            "os.umask(0o077); t._atomic_write_text(Path(sys.argv[2]) / 'b.txt', 'x')")
    subprocess.run([sys.executable, "-c", code, str(repo_root), str(tmp_path)], check=True)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600


def test_stale_temporaries_of_killed_writers_are_swept(tmp_path):
    stale = tmp_path / f".raw_runs.json.abc123{TMP_SUFFIX}"
    fresh = tmp_path / f".stats.json.def456{TMP_SUFFIX}"
    for p in (stale, fresh):
        p.write_text("{half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    atomic_write_json(tmp_path / "other.json", {})
    assert not stale.exists() and fresh.exists()     # a fresh one may belong to a writer still running


def test_a_killed_writer_leaves_only_a_recognisable_temporary(tmp_path):
    """SIGKILL a process in the middle of atomic writes: the target is whole or absent."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from causal_core.atomic import atomic_write_bytes\n"
            "while True: atomic_write_bytes(%r, b'x' * 50_000_000)\n") % (str(ROOT), str(tmp_path / "big.bin"))
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(1.5)
    proc.kill()
    proc.wait()
    target = tmp_path / "big.bin"
    assert not target.exists() or target.stat().st_size == 50_000_000
    assert all(p.name.endswith(TMP_SUFFIX) for p in tmp_path.iterdir() if p != target)


def test_refused_train_run_leaves_nothing(tmp_path, capsys):
    empty = tmp_path / "nodata"
    empty.mkdir()
    out = tmp_path / "runs" / "sub"
    rc = main(["train", "--data", str(empty), "--out-dir", str(out), "--run-id", "r1", "--", "ITERATIONS=1"])
    assert rc == 2
    assert not (tmp_path / "runs").exists()
