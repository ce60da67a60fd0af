"""Bad input to prepare-data: one clear line naming the problem, exit code 2, and
nothing half-written (no output dir, no temp dirs, an earlier build left intact)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from causal_core.cli import main
from causal_core.data import prepare
from causal_core.data.shards import write_shard


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """prepare-data through causal_core.cli.main: a domain error -> one stderr line naming the flag, exit 2."""
    capsys.readouterr()
    rc = main(["prepare-data", *argv])
    # Progress lines may precede it; the error itself is exactly one line.
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(errors) == (rc != 0)
    return rc, errors[0] if errors else ""


def _paragraphs(n: int, words: int = 40) -> str:
    rng = np.random.default_rng(0)
    vocab = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    return "\n\n".join(" ".join(rng.choice(vocab, words)) for _ in range(n)) + "\n"


def _assert_nothing_written(parent: Path, keep: set[str] = frozenset()) -> None:
    left = {p.name for p in parent.iterdir()} - {"in.txt"} - set(keep)
    assert left <= {"out.lock"}, left


@pytest.mark.parametrize("case,content,expect", [
    ("missing", None, "input file not found"),
    ("empty", b"", "input file is empty"),
    ("blank", b"\n  \n\t\n", "input file is empty"),
    ("binary", b"PK\x03\x04\x00\x00 some zip", "looks binary (NUL byte at offset 4)"),
    ("latin1", "caf\u00e9 cr\u00e8me\n\nna\u00efve".encode("latin-1"), "not UTF-8 text (invalid byte at offset 3)"),
])
def test_bad_input_files(tmp_path, capsys, case, content, expect):
    src = tmp_path / "in.txt"
    if content is not None:
        src.write_bytes(content)
    rc, err = cli(["--input", str(src), "--out", str(tmp_path / "out")], capsys)
    assert rc == 2
    assert expect in err and str(src) in err
    _assert_nothing_written(tmp_path)


def test_vocab_too_large_for_the_text(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text(_paragraphs(30))
    rc, err = cli(["--input", str(src), "--out", str(tmp_path / "out"), "--vocab-size", "4000",
                   "--min-doc-chars", "10"], capsys)
    assert rc == 2
    assert "vocab_size=4000" in err and "lower --vocab-size" in err
    _assert_nothing_written(tmp_path)


def test_failed_rebuild_leaves_the_previous_build_intact(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text(_paragraphs(30))
    out = tmp_path / "out"
    m = prepare.prepare_text_files([src], out, vocab_size=300, min_doc_chars=10)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rc, err = cli(["--input", str(src), "--out", str(out), "--vocab-size", "4000", "--min-doc-chars", "10"], capsys)
    assert rc == 2 and "vocab_size=4000" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((out / "manifest.json").read_text()) == m
    _assert_nothing_written(tmp_path, {"out"})


def test_validation_split_would_be_empty(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text(_paragraphs(3))
    rc, err = cli(["--input", str(src), "--out", str(tmp_path / "out"), "--min-doc-chars", "10",
                   "--val-fraction", "0.1"], capsys)
    assert rc == 2 and "validation split would be empty: 3 documents x --val-fraction 0.1" in err
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize("argv,expect", [
    (["--val-fraction", "1.5"], "--val-fraction must be between 0 and 1 (exclusive), got 1.5"),
    (["--vocab-size", "100"], "--vocab-size must be in 261..65536"),
    (["--size-mb", "0"], "--size-mb must be positive, got 0.0"),
])
def test_bad_parameters(tmp_path, capsys, argv, expect):
    rc, err = cli(["--out", str(tmp_path / "out"), *argv], capsys)
    assert rc == 2 and expect in err
    _assert_nothing_written(tmp_path)


def test_out_dir_is_a_file(tmp_path, capsys):
    (tmp_path / "out").write_text("not a dir")
    rc, err = cli(["--embedded", "--out", str(tmp_path / "out"), "--size-mb", "0.02"], capsys)
    assert rc == 2 and f"output path exists and is not a directory: {tmp_path / 'out'}" in err
    assert (tmp_path / "out").read_text() == "not a dir"


def test_out_dir_holding_other_files_is_not_replaced(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    rc, err = cli(["--out", str(tmp_path / "out"), "--size-mb", "0.02"], capsys)
    assert rc == 2 and "not a prepare-data output" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def _shard_dir(tmp_path: Path, tiny_data_dir: Path) -> Path:
    d = tmp_path / "shards"
    d.mkdir()
    for f in ("tokenizer.model", "fineweb_train_000000.bin", "fineweb_val_000000.bin"):
        (d / f).write_bytes((tiny_data_dir / f).read_bytes())
    return d


def test_check_mode(tmp_path, capsys, tiny_data_dir):
    d = _shard_dir(tmp_path, tiny_data_dir)
    rc, _ = cli(["--check", str(d)], capsys)
    assert rc == 0
    # Bad magic.
    bad = bytearray((d / "fineweb_val_000000.bin").read_bytes())
    bad[0] ^= 0xFF
    (d / "fineweb_val_000000.bin").write_bytes(bytes(bad))
    rc, err = cli(["--check", str(d)], capsys)
    assert rc == 2 and "bad magic" in err and "fineweb_val_000000.bin" in err
    # Truncated body.
    good = (tiny_data_dir / "fineweb_val_000000.bin").read_bytes()
    (d / "fineweb_val_000000.bin").write_bytes(good[:-2])
    rc, err = cli(["--check", str(d)], capsys)
    assert rc == 2 and "size mismatch" in err
    # Token id beyond the tokenizer's vocabulary.
    write_shard(d / "fineweb_val_000000.bin", np.array([1, 5, 60000]))
    rc, err = cli(["--check", str(d)], capsys)
    assert rc == 2 and "token id 60000 out of range" in err
    # No val shards at all / not a directory.
    (d / "fineweb_val_000000.bin").unlink()
    rc, err = cli(["--check", str(d)], capsys)
    assert rc == 2 and "no fineweb_val_*.bin shards" in err
    rc, err = cli(["--check", str(tmp_path / "nope")], capsys)
    assert rc == 2 and "not a directory" in err
