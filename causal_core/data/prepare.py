"""`causal-golf prepare-data`: text files (or the embedded synthetic corpus) ->
SentencePiece tokenizer + challenge-format shards + manifest.json.

Output directory layout (what train_gpt_mlx.py reads through DATA_PATH / TOKENIZER_PATH):
    tokenizer.model, tokenizer.vocab
    fineweb_train_000000.bin ...   fineweb_val_000000.bin ...
    manifest.json
Every document is prefixed with BOS (id 1) and has no EOS, as in the challenge's
shards. The directory is built next to its destination and swapped in whole, so it
never holds a mix of two builds; a re-run with the same inputs is a no-op.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from causal_core.atomic import atomic_write_json, file_lock
from causal_core.cli import CliError
from causal_core.data import documents as _documents
from causal_core.data.shards import HEADER_BYTES, write_shard
from causal_core.data.synthetic import GeneratorConfig, entropy_bpb, generate_corpus
from causal_core.data.tokenizer import BOS_ID, SETTINGS, sha256_file, train_tokenizer
from causal_core.errors import DataError

# Bump when the output for identical inputs changes (invalidates existing manifests).
FORMAT_VERSION = 1
DEFAULT_VOCAB = 1024
DEFAULT_SIZE_MB = 3.0
DEFAULT_VAL_FRACTION = 0.1
SHARD_TOKENS = 100_000_000  # the challenge's shard size
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.model"

Log = Callable[[str], None] | None


def _tool_version() -> str:
    try:
        from importlib.metadata import version

        return version("causal-golf")
    except Exception:  # running from a bare checkout
        return "0+unknown"


def default_embedded_dir(root: Path = Path("."), vocab_size: int = DEFAULT_VOCAB) -> Path:
    return Path(root) / "data" / f"embedded_sp{vocab_size}"


# ---- inputs ----------------------------------------------------------------------------
def _read_text_file(path: Path) -> tuple[str, dict]:
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    if not path.is_file():
        raise DataError(f"input is not a regular file: {path}")
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"input file is empty: {path}")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(f"input file looks binary (NUL byte at offset {nul}): {path}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"input file is not UTF-8 text (invalid byte at offset {e.start}): {path}") from None
    return text, {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _check_params(vocab_size: int, val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise DataError(f"{{param}} must be between 0 and 1 (exclusive), got {val_fraction}", "val_fraction")
    if not 261 <= vocab_size <= 65536:
        raise DataError(f"{{param}} must be in 261..65536 (byte fallback uses 260 ids; shards are uint16), got {vocab_size}", "vocab_size")


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"output path exists and is not a directory: {out_dir}")
    if out_dir.is_dir() and not (out_dir / MANIFEST).is_file() and any(out_dir.iterdir()):
        raise DataError(f"output directory is not empty and holds no {MANIFEST} (not a prepare-data output; refusing to replace it): {out_dir}")


def split_val(n_docs: int, val_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation documents: round(n * fraction) of them, chosen by seed."""
    n_val = int(round(n_docs * val_fraction))
    if n_val == 0:
        raise DataError(f"validation split would be empty: {n_docs} documents x {{param}} {val_fraction} rounds to 0 (add text or raise the fraction)", "val_fraction")
    if n_val >= n_docs:
        raise DataError(f"training split would be empty: {n_docs} documents x {{param}} {val_fraction} rounds to {n_val}", "val_fraction")
    mask = np.zeros(n_docs, dtype=bool)
    mask[np.random.default_rng(seed).choice(n_docs, n_val, replace=False)] = True
    return mask


# ---- idempotence ---------------------------------------------------------------------------
def _build_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _up_to_date(out_dir: Path, key: str) -> dict | None:
    """The existing manifest if it was built from the same inputs and its files are intact."""
    try:
        m = json.loads((out_dir / MANIFEST).read_text())
        if m.get("build_key") != key:
            return None
        if sha256_file(out_dir / m["tokenizer"]["model"]) != m["tokenizer"]["sha256"]:
            return None
        for split in m["splits"].values():
            for s in split["shards"]:
                if (out_dir / s["file"]).stat().st_size != HEADER_BYTES + 2 * s["tokens"]:
                    return None
        return m
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---- build ------------------------------------------------------------------------------
def _write_split(tmp: Path, name: str, docs: list[str], sp, shard_tokens: int) -> dict:
    ids = sp.encode(docs, out_type=int, num_threads=2)
    stream = np.empty(sum(len(x) for x in ids) + len(ids), dtype=np.uint16)
    pos = 0
    for x in ids:  # BOS then the document, as the challenge's exporter does
        stream[pos] = BOS_ID
        stream[pos + 1:pos + 1 + len(x)] = x
        pos += 1 + len(x)
    shards = []
    for i, start in enumerate(range(0, len(stream), shard_tokens)):
        fname = f"fineweb_{name}_{i:06d}.bin"
        chunk = stream[start:start + shard_tokens]
        write_shard(tmp / fname, chunk)
        shards.append({"file": fname, "tokens": int(chunk.size)})
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    return {"documents": len(docs), "tokens": int(stream.size), "bytes": n_bytes,
            "tokens_per_byte": round(stream.size / n_bytes, 6), "shards": shards}


def _ratio_stderr(docs: list[str], logps: list[float]) -> float:
    """Standard error of sum(bits)/sum(bytes) over documents (delta method): how far
    the val sample's floor may sit from the process's true entropy rate."""
    bits = -np.asarray(logps) / np.log(2)
    nbytes = np.asarray([len(d.encode("utf-8")) for d in docs], dtype=np.float64)
    r = bits.sum() / nbytes.sum()
    n = len(docs)
    return float(np.sqrt(n / max(n - 1, 1) * ((bits - r * nbytes) ** 2).sum()) / nbytes.sum())


def _publish_modes(tmp: Path) -> None:
    """mkdtemp/mkstemp create owner-only (0700/0600) entries; give the published
    directory the modes a plain mkdir/open would have had (umask applied)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    for f in tmp.iterdir():
        os.chmod(f, 0o666 & ~umask)


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Replace out_dir by tmp. Between the two renames out_dir is briefly absent but
    never a mix of old and new files."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, old / "d")
    os.rename(tmp, out_dir)
    fd = os.open(out_dir.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(out_dir: Path, spec: dict, make_docs: Callable[[], tuple[list[str], list[float] | None, dict]],
           log: Log) -> tuple[dict, bool]:
    """Build (or find up to date) out_dir. Returns (manifest, built)."""
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    key = _build_key(spec)
    with file_lock(out_dir):  # concurrent preparers of one dir: the second finds it done
        existing = _up_to_date(out_dir, key)
        if existing is not None:
            return existing, False
        _check_out_dir(out_dir)
        docs, logps, extra = make_docs()
        rule = extra.pop("document_rule")
        p = spec["params"]
        val = split_val(len(docs), p["val_fraction"], p["seed"])
        train_docs = [d for d, v in zip(docs, val) if not v]
        val_docs = [d for d, v in zip(docs, val) if v]
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            if log:
                log(f"training a {p['vocab_size']}-piece BPE tokenizer on {len(train_docs)} documents")
            sp = train_tokenizer(train_docs, p["vocab_size"], tmp / "tokenizer", seed=p["seed"])   # TokenizerError is a DataError
            splits = {name: _write_split(tmp, name, d, sp, p["shard_tokens"])
                      for name, d in (("train", train_docs), ("val", val_docs))}
            total_tokens = sum(s["tokens"] for s in splits.values())
            total_bytes = sum(s["bytes"] for s in splits.values())
            manifest = {
                "format": FORMAT_VERSION,
                "tool": "causal-golf prepare-data",
                "tool_version": _tool_version(),
                "build_key": key,
                "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                **{k: v for k, v in spec.items() if k != "params"},
                **extra,
                "params": p,
                "tokenizer": {"model": TOKENIZER, "vocab": "tokenizer.vocab",
                              "sha256": sha256_file(tmp / TOKENIZER), "vocab_size": sp.vocab_size(),
                              "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "pad_id": sp.pad_id(),
                              "unk_id": sp.unk_id(), **{k: v for k, v in SETTINGS.items() if not k.endswith("_id")}},
                "documents": {"bos_per_document": True, "eos_per_document": False, "rule": rule},
                "splits": splits,
                "tokens_per_byte": round(total_tokens / total_bytes, 6),
                "entropy_floor_bpb": None,
            }
            if logps is not None:
                val_lp = [lp for lp, v in zip(logps, val) if v]
                train_lp = [lp for lp, v in zip(logps, val) if not v]
                manifest["entropy_floor_bpb"] = round(entropy_bpb(val_docs, val_lp), 6)
                manifest["entropy_floor_stderr_bpb"] = round(_ratio_stderr(val_docs, val_lp), 6)
                manifest["entropy_train_bpb"] = round(entropy_bpb(train_docs, train_lp), 6)
            atomic_write_json(tmp / MANIFEST, manifest)
            _publish_modes(tmp)
            _swap_in(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return manifest, True


def _prepare_text(paths: Sequence[str | os.PathLike], out_dir, *, vocab_size, val_fraction, seed,
                  min_doc_chars, shard_tokens, log) -> tuple[dict, bool]:
    _check_params(vocab_size, val_fraction)
    if not paths:
        raise DataError("no input files given")
    texts, sources = [], []
    for p in paths:
        text, src = _read_text_file(Path(p))
        texts.append(text)
        sources.append(src)
    params = {"vocab_size": vocab_size, "val_fraction": val_fraction, "seed": seed,
              "min_doc_chars": min_doc_chars, "max_doc_chars": _documents.DEFAULT_MAX_CHARS,
              "shard_tokens": shard_tokens}
    # Key on content, not paths: moving an input does not force a rebuild.
    spec = {"kind": "text", "format": FORMAT_VERSION, "params": params,
            "sources": [{"sha256": s["sha256"], "bytes": s["bytes"]} for s in sources]}

    def make_docs():
        docs = [d for t in texts for d in _documents.split_documents(t, min_chars=min_doc_chars)]
        rule = (f"blank-line-separated paragraphs packed to >= {min_doc_chars} chars per document "
                f"(paragraphs over {_documents.DEFAULT_MAX_CHARS} chars cut at line ends); never across files")
        return docs, None, {"sources": sources, "generator": None, "document_rule": rule}

    return _build(Path(out_dir), spec, make_docs, log)


def _prepare_embedded(out_dir, *, vocab_size, size_mb, seed, val_fraction, shard_tokens, log) -> tuple[dict, bool]:
    _check_params(vocab_size, val_fraction)
    if not size_mb > 0:
        raise DataError(f"{{param}} must be positive, got {size_mb}", "size_mb")
    cfg = GeneratorConfig(seed=seed)
    params = {"vocab_size": vocab_size, "val_fraction": val_fraction, "seed": seed,
              "size_mb": size_mb, "shard_tokens": shard_tokens}
    spec = {"kind": "embedded", "format": FORMAT_VERSION, "params": params, "generator": cfg.to_dict()}

    def make_docs():
        if log:
            log(f"generating {size_mb:g} MB of the embedded synthetic corpus (seed {seed})")
        docs, logps = generate_corpus(cfg, int(size_mb * 1_000_000))
        return docs, logps, {"sources": [], "document_rule": "one generated document each"}

    return _build(Path(out_dir), spec, make_docs, log)


# ---- public API --------------------------------------------------------------------------
def prepare_text_files(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                       vocab_size: int = DEFAULT_VOCAB, val_fraction: float = DEFAULT_VAL_FRACTION,
                       seed: int = 0, min_doc_chars: int = _documents.DEFAULT_MIN_CHARS,
                       shard_tokens: int = SHARD_TOKENS, log: Log = None) -> dict:
    """Tokenize text files into out_dir; returns the manifest (raises DataError on bad input)."""
    return _prepare_text(paths, out_dir, vocab_size=vocab_size, val_fraction=val_fraction, seed=seed,
                         min_doc_chars=min_doc_chars, shard_tokens=shard_tokens, log=log)[0]


def prepare_embedded(out_dir: str | os.PathLike, *, vocab_size: int = DEFAULT_VOCAB,
                     size_mb: float = DEFAULT_SIZE_MB, seed: int = 0,
                     val_fraction: float = DEFAULT_VAL_FRACTION, shard_tokens: int = SHARD_TOKENS,
                     log: Log = None) -> dict:
    """Generate and tokenize the embedded synthetic corpus into out_dir; returns the manifest."""
    return _prepare_embedded(out_dir, vocab_size=vocab_size, size_mb=size_mb, seed=seed,
                             val_fraction=val_fraction, shard_tokens=shard_tokens, log=log)[0]


def ensure_embedded_default(root: str | os.PathLike = Path("."), vocab_size: int = DEFAULT_VOCAB,
                            log: Log = None) -> Path:
    """data/embedded_sp{vocab_size} under root, prepared with defaults if missing or stale."""
    out = default_embedded_dir(Path(root), vocab_size)
    prepare_embedded(out, vocab_size=vocab_size, log=log)
    return out


# ---- CLI ---------------------------------------------------------------------------------
# The prepare-data command (flags are the CLI's; the functions above raise DataError).
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", action="append", metavar="FILE", default=[],
                        help="UTF-8 text file (repeatable); documents are blank-line-separated paragraphs "
                             "packed to --min-doc-chars")
    parser.add_argument("--embedded", action="store_true",
                        help="generate the embedded synthetic corpus (the default without --input)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default: data/embedded_sp{VOCAB} "
                        "for --embedded; required with --input)")
    parser.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB)
    parser.add_argument("--val-fraction", type=float, default=DEFAULT_VAL_FRACTION,
                        help="fraction of documents held out for validation")
    parser.add_argument("--seed", type=int, default=0, help="split seed (and generator seed for --embedded)")
    parser.add_argument("--size-mb", type=float, default=DEFAULT_SIZE_MB, help="embedded corpus size in MB of text")
    parser.add_argument("--min-doc-chars", type=int, default=_documents.DEFAULT_MIN_CHARS,
                        help="pack paragraphs into documents of at least this many characters")
    parser.add_argument("--shard-tokens", type=int, default=SHARD_TOKENS, help=argparse.SUPPRESS)
    parser.add_argument("--check", metavar="DIR", help="validate an existing shard directory and exit")
    parser.add_argument("--tokenizer", metavar="MODEL",
                        help="with --check: SentencePiece model to check ids against "
                             "(default: DIR/tokenizer.model if present)")


def _summary(m: dict, out_dir: Path) -> str:
    tr, va = m["splits"]["train"], m["splits"]["val"]
    return (f"{out_dir}: vocab {m['tokenizer']['vocab_size']}, train {tr['documents']} docs / "
            f"{tr['tokens']:,} tokens / {tr['bytes']:,} bytes, val {va['documents']} docs / "
            f"{va['tokens']:,} tokens / {va['bytes']:,} bytes, {m['tokens_per_byte']:.4f} tokens/byte")


def run(args: argparse.Namespace) -> int:
    if args.check:
        if args.input or args.embedded:
            raise CliError("--check takes no --input/--embedded")
        from causal_core.data.check import check_data_dir

        print(check_data_dir(Path(args.check), args.tokenizer)["summary"])
        return 0
    if args.tokenizer:
        raise CliError("--tokenizer is only used with --check")
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731  progress on stderr, results on stdout
    if args.input:
        if args.embedded:
            raise CliError("--embedded and --input are exclusive")
        if not args.out:
            raise CliError("--out DIR is required with --input")
        out = Path(args.out)
        m, built = _prepare_text(args.input, out, vocab_size=args.vocab_size, val_fraction=args.val_fraction,
                                 seed=args.seed, min_doc_chars=args.min_doc_chars,
                                 shard_tokens=args.shard_tokens, log=log)
    else:
        out = Path(args.out) if args.out else default_embedded_dir(Path("."), args.vocab_size)
        m, built = _prepare_embedded(out, vocab_size=args.vocab_size, size_mb=args.size_mb, seed=args.seed,
                                     val_fraction=args.val_fraction, shard_tokens=args.shard_tokens, log=log)
    print(("built " if built else "up to date (same inputs; nothing to do): ") + _summary(m, out))
    if m.get("entropy_floor_bpb") is not None:
        print(f"entropy floor for val_bpb: {m['entropy_floor_bpb']:.4f} bits/byte "
              f"(exact entropy of the generating process on the val split)")
    print(f"use: DATA_PATH={out} TOKENIZER_PATH={out / TOKENIZER} VOCAB_SIZE={m['tokenizer']['vocab_size']}")
    return 0
