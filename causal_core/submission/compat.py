"""Is a combination of findings one coherent trainer configuration?

The rules are data (EXCLUSIVE, REQUIRES below); `check` applies them, plus one rule that
is always on: two findings may not set the same variable to different values.
Rules are evaluated on the *effective* environment: the trainer's built-in default <
PRESET < explicit variable, read from the trainer file itself (`trainer_spec`, by parsing
its VARS/PRESETS tables, without importing MLX).
"""
from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from causal_core.errors import CausalGolfError

# Variables the runner sets per run: never part of "the configuration".
PER_RUN = frozenset({"SEED", "RUN_ID", "OUT_DIR"})

# Interventions that cannot be stacked, with the reason shown when a combination has both.
EXCLUSIVE: list[dict[str, Any]] = [
    {"id": "low_bit_vs_mixed_quant", "interventions": ["low_bit_quant", "mixed_precision_quant"],
     "reason": "conflicting quant settings: QUANT_BITS_MLP/QUANT_BITS_ATTN override QUANT_BITS on the MLP and "
               "attention matrices, so the measured low_bit_quant effect would not carry over"},
    {"id": "ema_vs_swa", "interventions": ["ema", "swa"],
     "reason": "both replace the exported weights and the trainer exports SWA when both are on, "
               "so the measured EMA effect would not carry over"},
]

# (variable, operator, value) conditions on the effective environment. A rule fires when all
# of `when` hold; it is satisfied when at least one of `require_any` holds.
REQUIRES: list[dict[str, Any]] = [
    {"id": "qat_needs_low_bits", "when": [("QAT", "==", 1)],
     "require_any": [("QUANT_BITS", "<", 8), ("QUANT_BITS_MLP", "in", (4, 5, 6)), ("QUANT_BITS_ATTN", "in", (4, 5, 6))],
     "reason": "QAT without low bits: QAT=1 fake-quantizes at the export bit width, which is 8 here "
               "(set QUANT_BITS, QUANT_BITS_MLP or QUANT_BITS_ATTN below 8)"},
    {"id": "qat_starts", "when": [("QAT", "==", 1)], "require_any": [("QAT_START_FRAC", "<", 1)],
     "reason": "QAT=1 with QAT_START_FRAC >= 1 never fake-quantizes"},
    {"id": "eval_stride_below_window", "when": [("EVAL_STRIDE", ">", 0)],
     "require_any": [("EVAL_STRIDE", "<", "TRAIN_SEQ_LEN")],
     "reason": "EVAL_STRIDE must be smaller than the evaluation window TRAIN_SEQ_LEN"},
    {"id": "swa_snapshots", "when": [("SWA_START_FRAC", ">", 0)], "require_any": [("SWA_EVERY", ">", 0)],
     "reason": "SWA needs SWA_EVERY > 0"},
]


@dataclass(frozen=True)
class Conflict:
    rule: str
    message: str


class AssembleError(CausalGolfError, ValueError):
    """The submission cannot be assembled (nothing to assemble, missing runs, incompatible findings)."""


class IncompatibleError(AssembleError):
    def __init__(self, conflicts: list[Conflict]):
        self.conflicts = conflicts
        super().__init__("incompatible combination: " + "; ".join(f"[{c.rule}] {c.message}" for c in conflicts))


# --- the trainer's own defaults ------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _spec(path: str, mtime: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    tree = ast.parse(Path(path).read_text())
    defaults: dict[str, Any] = {}
    presets: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        name = getattr(target, "id", None)
        value = getattr(node, "value", None)
        if name == "VARS" and isinstance(value, ast.List):
            for call in value.elts:
                if isinstance(call, ast.Call) and len(call.args) >= 3:
                    try:
                        defaults[ast.literal_eval(call.args[0])] = ast.literal_eval(call.args[2])
                    except ValueError:
                        continue
        elif name == "PRESETS" and value is not None:
            try:
                presets = ast.literal_eval(value)
            except ValueError:
                presets = {}
    return defaults, presets


def trainer_spec(trainer: str | Path | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(defaults, presets) of the trainer's VARS/PRESETS tables; empty when unreadable."""
    p = Path(trainer) if trainer else None
    if p is None or not p.is_file():
        return {}, {}
    try:
        return _spec(str(p.resolve()), p.stat().st_mtime)
    except (OSError, SyntaxError):
        return {}, {}


def norm(v: Any) -> str:
    """One spelling per value: 1 / 1.0 / "1" / True compare equal."""
    if isinstance(v, bool):
        return "1" if v else "0"
    s = str(v).strip()
    try:
        f = float(s)
    except ValueError:
        return s
    return repr(f) if not math.isnan(f) else s


def effective_env(explicit: dict[str, Any], trainer: str | Path | None) -> dict[str, str]:
    """What a run with these explicit variables actually uses (per-run variables dropped)."""
    defaults, presets = trainer_spec(trainer)
    explicit = {k: v for k, v in explicit.items() if str(v).strip() != ""}
    preset = presets.get(str(explicit.get("PRESET", "")).strip(), {})
    out: dict[str, str] = {k: norm(v) for k, v in defaults.items()}
    out.update({k: norm(v) for k, v in preset.items()})
    out.update({k: norm(v) for k, v in explicit.items()})
    if "{DATA_PATH}" in out.get("TOKENIZER_PATH", "") and "TOKENIZER_PATH" not in explicit:
        out["TOKENIZER_PATH"] = out["TOKENIZER_PATH"].replace("{DATA_PATH}", out.get("DATA_PATH", ""))
    for k in PER_RUN:
        out.pop(k, None)
    return out


# --- checks -----------------------------------------------------------------------------

def _num(s: str | None) -> float | None:
    try:
        return float(s) if s is not None else None
    except ValueError:
        return None


def _holds(env: dict[str, str], cond: tuple) -> bool:
    var, op, ref = cond
    have = env.get(var)
    if op == "in":
        return have is not None and norm(have) in {norm(x) for x in ref}
    if isinstance(ref, str) and ref in env:          # compare with another variable
        ref = env[ref]
    if op == "==":
        return have is not None and norm(have) == norm(ref)
    if op == "!=":
        return have is None or norm(have) != norm(ref)
    a, b = _num(have), _num(norm(ref))
    if a is None or b is None:
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def check(findings: list[tuple[str, dict[str, Any]]], env: dict[str, str]) -> list[Conflict]:
    """Conflicts of a combination: `findings` = (intervention, its treatment overrides);
    `env` = the effective environment of the combined configuration."""
    out: list[Conflict] = []
    seen: dict[str, tuple[str, str]] = {}
    for name, overrides in findings:
        for k, v in overrides.items():
            if k in seen and seen[k][1] != norm(v):
                other, ov = seen[k]
                out.append(Conflict("same_variable", f"{other} sets {k}={ov} but {name} sets {k}={norm(v)}"))
            seen.setdefault(k, (name, norm(v)))
    names = {n for n, _ in findings}
    for rule in EXCLUSIVE:
        if set(rule["interventions"]) <= names:
            out.append(Conflict(rule["id"], f"{' + '.join(rule['interventions'])}: {rule['reason']}"))
    for rule in REQUIRES:
        if all(_holds(env, c) for c in rule["when"]) and not any(_holds(env, c) for c in rule["require_any"]):
            out.append(Conflict(rule["id"], rule["reason"]))
    return out
