"""Shared plumbing of the checkpoint diagnostics: the trainer module, checkpoints, data, output.

A checkpoint is what train_gpt_mlx.py writes: `OUT_DIR/RUN_ID_config.json` (resolved env,
`weights` path) plus `OUT_DIR/RUN_ID_mlx_model.npz`. Functions here accept the config JSON,
the npz (its `_config.json` sibling is used) or a directory holding exactly one config.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from causal_core.atomic import atomic_write_json
from causal_core.errors import CausalGolfError
from causal_core.trainer import DEFAULT_PRESET, REPO_ROOT, TOKENIZER_FILE, TRAINER, load_trainer

DEFAULT_OUT = Path("results/causal/diagnostics")
DEFAULT_CKPT_DIR = DEFAULT_OUT / "checkpoints"
DEFAULT_RUN_ID = "diag_default"


class DiagnosticError(CausalGolfError):
    """A user-facing diagnostic failure (bad checkpoint, failed check): one line, exit 2."""


def trainer():
    """The repository's train_gpt_mlx module (imported, not executed: no BLAS re-exec here)."""
    return load_trainer()


def maybe_bootstrap_fast_blas(owns_process: bool) -> None:
    """Re-exec once with a fast OpenBLAS (the trainer's bootstrap), only when the diag command
    owns its process (run from its own command line: cli.main sets args.owns_process). Called
    as a library or from a test, it never re-execs: that would restart the host process.
    CAUSAL_GOLF_DIAG_NO_BOOTSTRAP=1 turns it off."""
    if not owns_process or os.environ.get("CAUSAL_GOLF_DIAG_NO_BOOTSTRAP"):
        return
    trainer().bootstrap_fast_blas()


# ---------------------------------------------------------------------------- checkpoints

@dataclass
class Checkpoint:
    config_path: Path
    weights_path: Path
    meta: dict

    @property
    def run_id(self) -> str:
        return str(self.meta.get("env", {}).get("RUN_ID", self.config_path.stem.removesuffix("_config")))


def resolve_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Config JSON / npz / directory -> Checkpoint; DiagnosticError naming what is missing or malformed."""
    p = Path(path)
    if not p.exists():
        raise DiagnosticError(f"checkpoint {p} does not exist")
    if p.is_dir():
        cfgs = sorted(p.glob("*_config.json"))
        if len(cfgs) != 1:
            raise DiagnosticError(f"checkpoint directory {p} holds {len(cfgs)} *_config.json files; name one")
        p = cfgs[0]
    if p.suffix == ".npz":
        cfg = p.with_name(p.name.removesuffix("_mlx_model.npz") + "_config.json")
        if not cfg.is_file():
            raise DiagnosticError(f"checkpoint {p} has no config beside it (expected {cfg.name})")
        weights, p = p, cfg
    else:
        weights = None
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise DiagnosticError(f"checkpoint config {p} is not readable JSON ({type(e).__name__})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("env"), dict):
        raise DiagnosticError(f"checkpoint config {p} has no 'env' object (not a train_gpt_mlx.py config)")
    if weights is None:
        w = meta.get("weights")
        cand = [Path(w)] if w else []
        cand.append(p.with_name(p.name.removesuffix("_config.json") + "_mlx_model.npz"))
        if w and not Path(w).is_absolute():
            cand.insert(1, p.parent / Path(w).name)
        weights = next((c for c in cand if c.is_file()), None)
        if weights is None:
            raise DiagnosticError(f"checkpoint {p}: weights file {cand[0]} does not exist")
    return Checkpoint(p, Path(weights), meta)


def resolve_tokenizer(data_path: str | os.PathLike, vocab_size: int | None, checkpoint_tokenizer: str | None) -> str:
    """The tokenizer for a --data override: DIR/tokenizer.model (a prepared corpus), else the
    checkpoint's own TOKENIZER_PATH when it exists, else the challenge's layout
    (data/datasets/fineweb10B_spN next to data/tokenizers/fineweb_N_bpe.model)."""
    data = Path(data_path)
    candidates = [data / TOKENIZER_FILE]
    if checkpoint_tokenizer:
        candidates.append(Path(checkpoint_tokenizer))
    if vocab_size:
        candidates.append(data.parent.parent / "tokenizers" / f"fineweb_{vocab_size}_bpe.model")
    for c in candidates:
        if c.is_file():
            return str(c)
    raise DiagnosticError(f"no tokenizer for data {data}: looked for " + ", ".join(map(str, candidates))
                          + "; name one with {param}", "tokenizer")


def out_folder(out: str | os.PathLike) -> Path:
    """Where a diagnostic's side files go: `out`, or its folder when `out` is a .json path."""
    out = Path(out)
    return out.parent if out.suffix == ".json" else out


def load_checkpoint(ckpt: Checkpoint, data_path: str | None = None, overrides: dict[str, Any] | None = None,
                    tokenizer_path: str | None = None):
    """(model, Config) with the weights checked name by name and shape by shape against the config."""
    T = trainer()
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    env = dict(ckpt.meta["env"])
    if data_path is not None:
        env["DATA_PATH"] = str(data_path)
        vocab = env.get("VOCAB_SIZE")
        env["TOKENIZER_PATH"] = tokenizer_path or resolve_tokenizer(
            data_path, int(vocab) if vocab else None, env.get("TOKENIZER_PATH"))
    elif tokenizer_path is not None:
        env["TOKENIZER_PATH"] = str(tokenizer_path)
    for k, v in (overrides or {}).items():
        if k not in T.VAR_BY_NAME:
            raise DiagnosticError(f"override {k}: not a train_gpt_mlx.py variable")
        try:
            env[k] = T._parse_value(T.VAR_BY_NAME[k], v)
        except T.TrainerError as e:
            raise DiagnosticError(str(e)) from None
    missing = [k for k in ("MODEL_DIM", "NUM_LAYERS", "VOCAB_SIZE") if k not in env]
    if missing:
        raise DiagnosticError(f"checkpoint config {ckpt.config_path} lacks {', '.join(missing)}")
    c = T.Config.from_values(env, ckpt.meta.get("preset", ""))
    try:
        T.validate_config(c)
    except T.TrainerError as e:
        raise DiagnosticError(f"checkpoint config {ckpt.config_path}: {e}") from None
    try:
        weights = mx.load(str(ckpt.weights_path))
    except Exception as e:  # mlx raises plain RuntimeError/ValueError on bad files
        raise DiagnosticError(f"checkpoint weights {ckpt.weights_path} are not a readable npz ({e})") from None
    model = T.build_model(c)
    expected = {k: tuple(v.shape) for k, v in tree_flatten(model.parameters())}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != got:
        miss = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        shape = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        parts = []
        if shape:
            parts.append(f"{shape[0]} has shape {got[shape[0]]}, config implies {expected[shape[0]]}"
                         + (f" (+{len(shape) - 1} more)" if len(shape) > 1 else ""))
        if miss:
            parts.append(f"missing {miss[0]}" + (f" (+{len(miss) - 1} more)" if len(miss) > 1 else ""))
        if extra:
            parts.append(f"unexpected {extra[0]}" + (f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""))
        raise DiagnosticError(f"checkpoint config {ckpt.config_path.name} does not match weights "
                              f"{ckpt.weights_path.name}: " + "; ".join(parts))
    model.update(tree_unflatten(list(weights.items())))
    mx.eval(model.parameters())
    return model, c


def ensure_checkpoint(checkpoint: str | os.PathLike | None, *, out_dir: str | os.PathLike = DEFAULT_CKPT_DIR,
                      data_root: str | os.PathLike | None = None, extra_env: dict[str, str] | None = None,
                      log=print) -> tuple[Checkpoint, dict]:
    """The given checkpoint, or (none given) the default one, trained first if absent.

    Returns (checkpoint, provenance); provenance says whether a short run was trained here.
    """
    if checkpoint is not None:
        return resolve_checkpoint(checkpoint), {"trained_here": False, "source": str(checkpoint)}
    out_dir = Path(out_dir)
    cfg = out_dir / f"{DEFAULT_RUN_ID}_config.json"
    if cfg.is_file():
        try:
            ck = resolve_checkpoint(cfg)
            log(f"no --checkpoint given: using the default checkpoint {cfg}")
            return ck, {"trained_here": False, "source": str(cfg), "default": True}
        except DiagnosticError:
            pass
    from causal_core.data.prepare import ensure_embedded_default
    data = ensure_embedded_default(Path(data_root) if data_root else REPO_ROOT, 1024)
    log(f"no --checkpoint given and none at {cfg}: training a short {DEFAULT_PRESET} run on {data} first")
    train_checkpoint(out_dir, DEFAULT_RUN_ID, {"PRESET": DEFAULT_PRESET, "DATA_PATH": str(data), **(extra_env or {})})
    return resolve_checkpoint(cfg), {"trained_here": True, "source": str(cfg), "default": True, "data": str(data)}


def train_checkpoint(out_dir: str | os.PathLike, run_id: str, env: dict[str, str], *, script: str | os.PathLike | None = None,
                     timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run train_gpt_mlx.py (as a script: it re-execs itself with fast BLAS) into out_dir/run_id_*."""
    T = trainer()
    full = {k: v for k, v in os.environ.items() if k not in T.VAR_BY_NAME and k != "PRESET"}
    full.update({k: str(v) for k, v in env.items()})
    full["OUT_DIR"], full["RUN_ID"] = str(out_dir), run_id
    full.setdefault("OPENBLAS_NUM_THREADS", "1")
    script = Path(script) if script else TRAINER
    r = subprocess.run([sys.executable, str(script)], env=full, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise DiagnosticError(f"training {run_id} with {script.name} failed (exit {r.returncode}): {tail}")
    return r


# ---------------------------------------------------------------------------- data

def token_loss_fn(model):
    """Compiled per-token loss bound to the model's whole state (as the trainer's eval; weights may change)."""
    import mlx.core as mx
    return mx.compile(lambda x, y: model.token_losses(x, y), inputs=model.state, outputs=model.state)


def val_data(c):
    """(val_tokens, byte LUTs) of the checkpoint's config; DiagnosticError on missing data."""
    T = trainer()
    try:
        return T.load_val_tokens(c), T.build_byte_luts(c.tokenizer_path, c.vocab_size)
    except T.TrainerError as e:
        raise DiagnosticError(f"{e} (set {{param}} to the data directory)", "data_path") from None


def train_files(c) -> list[Path]:
    T = trainer()
    try:
        return T.shard_files(c.data_path, "train")
    except T.TrainerError as e:
        raise DiagnosticError(f"{e} (set {{param}} to the data directory)", "data_path") from None


def load_tokens(files):  # -> np.ndarray
    import numpy as np
    T = trainer()
    try:
        return np.concatenate([T.load_shard(Path(f)) for f in files]) if files else np.zeros(0, np.int32)
    except T.TrainerError as e:
        raise DiagnosticError(str(e)) from None


# ---------------------------------------------------------------------------- output

def finite(x: Any) -> Any:
    """JSON-safe numbers: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            return x
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_result(out: str | os.PathLike, name: str, result: dict) -> Path:
    """Atomically write `out/name.json` (or `out` itself when it ends in .json)."""
    out = Path(out)
    path = out if out.suffix == ".json" else out / f"{name}.json"   # out_folder() holds the side files
    result = dict(result)
    result.setdefault("written_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
    atomic_write_json(path, finite(result))
    return path


@dataclass
class Timer:
    t0: float = field(default_factory=time.perf_counter)

    def s(self) -> float:
        return round(time.perf_counter() - self.t0, 3)
