"""Fuzz-style: seeded random trees of malformed records (encodings, JSON shapes, sizes,
links) through `causal-golf extract`, in-process. Each tree must end in bounded time, without a
traceback, and without reading anything outside the root: a canary outside the root
carries a title, a score and a marker that must never appear in the output."""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from causal_core.cli import main

MARKER = "CANARYzz9"
CANARY_README = f"# {MARKER} record\n\n**val_bpb: 1.0101**\n\n- SmearGate {MARKER}\n"
CANARY_SUB = json.dumps({"name": f"{MARKER} sub", "val_bpb": 1.0101, "blurb": f"{MARKER} EMA"})
CANARY_LOG = f"{MARKER}\nfinal_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.0101\n"
GOOD_README = "# Record: 11L + EMA\n\n**val_bpb: 1.1500**\n\n- 11 transformer layers\n- EMA weight averaging\n"


def canary(outside: Path) -> None:
    (outside / "deep").mkdir(parents=True)
    (outside / "README.md").write_text(CANARY_README)
    (outside / "submission.json").write_text(CANARY_SUB)
    (outside / "train.log").write_text(CANARY_LOG)
    (outside / "deep" / "README.md").write_text(CANARY_README)


def readme_bytes(rng: random.Random) -> bytes:
    text = rng.choice([GOOD_README, "# Title ñ é ü — ok\n\nval_bpb 1.2 | EMA |\n", "|" * 500 + "\n" + "- " * 300])
    kind = rng.choice(["utf8", "latin1", "utf16", "invalid", "nul", "empty", "large", "bom", "crlf", "junk"])
    if kind == "latin1":
        return text.encode("latin-1", errors="replace")
    if kind == "utf16":
        return text.encode("utf-16")
    if kind == "invalid":
        return text.encode()[:20] + b"\xff\xfe\xc3\x28\xa0\xa1" + text.encode()[20:]
    if kind == "nul":
        return b"\x00" * 10 + text.encode()
    if kind == "empty":
        return b""
    if kind == "large":
        return (text * (3_000_000 // max(1, len(text)))).encode()          # 3 MB: over the cap
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if kind == "crlf":
        return text.replace("\n", "\r\n").encode()
    return rng.randbytes(rng.randrange(1, 4000))


def submission_bytes(rng: random.Random) -> bytes:
    shapes = [
        [1, 2, 3], "just a string", None, 42, {"val_bpb": float("nan")}, {"val_bpb": 1e308 * 10},
        {"val_bpb": "1.1x", "seeds": {"a": {"b": [None]}}, "seed_scores": "oops"},
        {"name": ["not", "a", "string"], "date": 20260501, "track": {"x": 1}, "bytes_total": -5},
        {"val_bpb": 10 ** 400, "seeds": list(range(2000)), "interventions": [1, None, "ema", {"x": 1}]},
        {"causal_golf_experiment": {"intervention": 5, "decision": "maybe"}, "interventions": "ema"},
        {"nested": [[[[[[[[[[{"deep": True}]]]]]]]]]]}, {"seed_results": {"1": "x", "2": {"val_bpb": "nan"}}},
    ]
    obj = rng.choice(shapes)
    kind = rng.choice(["json", "json", "truncated", "utf16", "nan-literal", "deep"])
    text = json.dumps(obj, allow_nan=True) if not (isinstance(obj, int) and obj > 1e300) else str(obj)
    if kind == "truncated":
        return text[: max(1, len(text) // 2)].encode()
    if kind == "utf16":
        return text.encode("utf-16")
    if kind == "nan-literal":
        return b'{"val_bpb": NaN, "val_loss": Infinity, "name": -Infinity}'
    if kind == "deep":
        return b"[" * 5000 + b"]" * 5000                       # deep nesting (json's recursion limit)
    return text.encode()


def log_bytes(rng: random.Random) -> bytes:
    kind = rng.choice(["score", "garbage", "nul", "huge", "nan"])
    if kind == "score":
        return b"step:10/10 val_loss:2.0 val_bpb:1.3\nfinal_int8_zlib_roundtrip_exact val_loss:2.0 val_bpb:1.3\n"
    if kind == "nul":
        return b"\x00\x01" * 1000
    if kind == "huge":
        return b"step:1/9 train_loss:3.0\n" * 200_000                 # ~4.8 MB: over the cap
    if kind == "nan":
        return b"final_int8_zlib_roundtrip_exact val_loss:nan val_bpb:nan\n"
    return rng.randbytes(rng.randrange(1, 3000))


def build_tree(root: Path, outside: Path, rng: random.Random) -> None:
    root.mkdir(parents=True)
    folders = [root]
    for i in range(rng.randrange(4, 10)):
        parent = rng.choice(folders)
        d = parent / rng.choice([f"2026-0{rng.randrange(1, 10)}-1{i}_Rec{i}", f"track_{i}", f"ünï_{i}", f"sp ace {i}"])
        if d.exists():
            continue
        d.mkdir()
        folders.append(d)
        if rng.random() < 0.7:
            (d / "README.md").write_bytes(readme_bytes(rng))
        if rng.random() < 0.5:
            (d / "submission.json").write_bytes(submission_bytes(rng))
        for k in range(rng.randrange(0, 3)):
            (d / f"train_seed{k}.log").write_bytes(log_bytes(rng))
    # Links: loops, out of the root (folders and each kind of file), dangling, into the root.
    for _ in range(rng.randrange(3, 8)):
        d = rng.choice(folders)
        name = f"link{rng.randrange(10**6)}"
        target = rng.choice([
            "..", ".", str(root), str(outside), str(outside / "deep"), str(outside / "README.md"),
            str(outside / "train.log"), str(root.parent / "nowhere"), str(outside.parent),
        ])
        as_name = rng.choice([name, "README.md", "submission.json", f"{name}.log"])
        if not (d / as_name).exists() and not (d / as_name).is_symlink():
            os.symlink(target, d / as_name)


@pytest.mark.parametrize("seed", range(8))
def test_extract_survives_hostile_trees(tmp_path, capsys, seed):
    """In-process (an uncaught exception fails the test as a traceback would end the command)."""
    rng = random.Random(seed)
    outside = tmp_path / "outside"
    canary(outside)
    root = tmp_path / "records"
    build_tree(root, outside, rng)
    out = tmp_path / "i.json"
    t0 = time.monotonic()
    rc = main(["extract", "--records", str(root), "--out", str(out)])
    elapsed = time.monotonic() - t0
    captured = capsys.readouterr()
    assert elapsed < 60, f"extract took {elapsed:.1f} s"      # bounded: a hang or a blow-up fails
    assert rc in (0, 2)
    if rc == 2:                                            # e.g. no record survived: one line
        assert len([ln for ln in captured.err.splitlines() if ": error: " in ln]) == 1, captured.err
        assert not out.exists()
    else:
        text = out.read_text()
        assert MARKER not in text and "1.0101" not in text and "SmearGate" not in text
        json.loads(text)
    assert MARKER not in captured.out + captured.err.replace(str(outside), "")
