"""prepare-data on the embedded corpus and on real text: shards, manifest, idempotence."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import sentencepiece as spm

from causal_core.data.check import check_data_dir
from causal_core.data.documents import split_documents
from causal_core.data.prepare import add_arguments, prepare_embedded, prepare_text_files, run, split_val
from causal_core.data.shards import read_shard
from causal_core.data.synthetic import GeneratorConfig, generate_corpus
from causal_core.data.tokenizer import BOS_ID, lut_byte_count


def _docs_from_shards(d: Path, split: str, sp) -> list[str]:
    tokens = np.concatenate([read_shard(p) for p in sorted(d.glob(f"fineweb_{split}_*.bin"))])
    assert tokens[0] == BOS_ID
    cuts = np.flatnonzero(tokens == BOS_ID)
    return [sp.decode(tokens[a + 1:b].tolist()) for a, b in zip(cuts, list(cuts[1:]) + [len(tokens)])]


def _check_consistent(d: Path, m: dict) -> spm.SentencePieceProcessor:
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    assert sp.vocab_size() == m["tokenizer"]["vocab_size"]
    assert {p.name for p in d.iterdir()} == {"tokenizer.model", "tokenizer.vocab", "manifest.json"} | {
        s["file"] for split in m["splits"].values() for s in split["shards"]}
    for name, split in m["splits"].items():
        tokens = np.concatenate([read_shard(d / s["file"]) for s in split["shards"]])
        assert len(tokens) == split["tokens"] == sum(s["tokens"] for s in split["shards"])
        assert int((tokens == BOS_ID).sum()) == split["documents"]
        assert tokens.max() < sp.vocab_size()
        # The challenge's eval (build_sentencepiece_luts) counts exactly the text's UTF-8 bytes.
        assert lut_byte_count(sp, tokens) == split["bytes"]
    return sp


def test_tiny_fixture_round_trips_to_the_generated_documents(tiny_data_dir):
    m = json.loads((tiny_data_dir / "manifest.json").read_text())
    sp = _check_consistent(tiny_data_dir, m)
    p = m["params"]
    docs, _ = generate_corpus(GeneratorConfig(seed=p["seed"]), int(p["size_mb"] * 1_000_000))
    val = split_val(len(docs), p["val_fraction"], p["seed"])
    assert _docs_from_shards(tiny_data_dir, "val", sp) == [d for d, v in zip(docs, val) if v]
    assert _docs_from_shards(tiny_data_dir, "train", sp) == [d for d, v in zip(docs, val) if not v]
    assert 0 < m["entropy_floor_bpb"] < 8
    assert m["kind"] == "embedded" and m["generator"]["seed"] == 0


def test_rerun_is_a_noop_and_new_inputs_replace_the_dir_whole(tmp_path):
    out = tmp_path / "emb"
    m1 = prepare_embedded(out, vocab_size=320, size_mb=0.05, shard_tokens=5000)
    assert len(m1["splits"]["train"]["shards"]) > 1
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    m2 = prepare_embedded(out, vocab_size=320, size_mb=0.05, shard_tokens=5000)
    assert m2 == m1 and {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    # Different inputs: a fresh build with fewer shards, and no file of the old build left.
    m3 = prepare_embedded(out, vocab_size=320, size_mb=0.05, seed=1)
    assert m3["build_key"] != m1["build_key"]
    _check_consistent(out, m3)
    assert len(m3["splits"]["train"]["shards"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb", "emb.lock"]  # no temp dirs left
    # A damaged build is not mistaken for up to date.
    os.truncate(out / m3["splits"]["val"]["shards"][0]["file"], 100)
    m4 = prepare_embedded(out, vocab_size=320, size_mb=0.05, seed=1)
    assert m4["build_key"] == m3["build_key"] and m4["created_at"] >= m3["created_at"]
    _check_consistent(out, m4)


def test_check_accepts_a_prepared_dir(tiny_data_dir):
    r = check_data_dir(tiny_data_dir)
    m = json.loads((tiny_data_dir / "manifest.json").read_text())
    assert r["summary"].startswith("ok: ")
    assert r["train_tokens"] == m["splits"]["train"]["tokens"] and r["vocab_size"] == m["tokenizer"]["vocab_size"]


def test_split_documents_rule():
    text = "a" * 30 + "\n\n\n" + "b" * 30 + "\n  \n" + "c" * 5 + "\n"
    assert split_documents(text, min_chars=20) == ["a" * 30, "b" * 30 + "\n\n" + "c" * 5]
    long = "\n".join(["x" * 9] * 100)  # no blank line at all: cut at line ends
    parts = split_documents(long, min_chars=10, max_chars=200)
    assert all(len(p) <= 200 for p in parts) and "\n".join(parts) == long


def test_shakespeare(shakespeare_path, tmp_path, capsys):
    out = tmp_path / "shake"
    m = prepare_text_files([shakespeare_path], out, vocab_size=512, val_fraction=0.1, seed=0)
    sp = _check_consistent(out, m)
    docs = split_documents(shakespeare_path.read_text(encoding="utf-8"))
    val = split_val(len(docs), 0.1, 0)
    assert _docs_from_shards(out, "val", sp) == [d for d, v in zip(docs, val) if v]
    assert _docs_from_shards(out, "train", sp) == [d for d, v in zip(docs, val) if not v]
    assert m["sources"][0]["bytes"] == shakespeare_path.stat().st_size
    assert m["splits"]["train"]["documents"] + m["splits"]["val"]["documents"] == len(docs)
    assert m["entropy_floor_bpb"] is None and 0.2 < m["tokens_per_byte"] < 0.6
    # Same inputs through the CLI: reported as a no-op, exit 0.
    p = argparse.ArgumentParser()
    add_arguments(p)
    capsys.readouterr()
    assert run(p.parse_args(["--input", str(shakespeare_path), "--out", str(out), "--vocab-size", "512"])) == 0
    assert "up to date" in capsys.readouterr().out
