"""Scores from training logs written by parameter-golf-style trainers.

Logs of the challenge also echo the training script's source, so only numeric
literals count (`val_bpb:{val_bpb:.4f}` in an f-string never matches).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# `val_bpb:1.23`, `val_bpb: 1.23`, `val_bpb=1.23` (TTT logs use '=').
_BPB = re.compile(rf"\bval_bpb\s*[:=]\s*({_NUM})(?![\w.])")
_LOSS = re.compile(rf"\bval_loss\s*[:=]\s*({_NUM})(?![\w.])")
_LABEL = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?([A-Za-z][\w:/ -]*?)\s+(?:stride:\d+\s+)?val_loss")
_STEP = re.compile(r"\bstep:(\d+)/(\d+)")


@dataclass(frozen=True)
class ScoreLine:
    line_no: int
    label: str          # e.g. "final_int8_zlib_roundtrip_exact", "step:200/200"
    val_bpb: float
    val_loss: float | None
    exact: bool         # printed at full precision by a `*_exact` line
    final: bool         # a post-training score line (not a periodic step eval)


def score_lines(text: str) -> list[ScoreLine]:
    out: list[ScoreLine] = []
    for i, line in enumerate(text.splitlines()):
        m = _BPB.search(line)
        if not m or "{" in line:
            continue
        lm = _LABEL.search(line)
        label = lm.group(1).strip() if lm else ""
        loss = _LOSS.search(line)
        step = _STEP.search(line)
        out.append(ScoreLine(
            line_no=i + 1,
            label=label,
            val_bpb=float(m.group(1)),
            val_loss=float(loss.group(1)) if loss else None,
            exact=label.endswith("_exact"),
            final=step is None and not label.startswith("step"),
        ))
    return out


def final_score(text: str) -> ScoreLine | None:
    """The run's score: the LAST `*_exact` final line if any, else the last val_bpb line."""
    lines = score_lines(text)
    exact = [s for s in lines if s.exact and s.final]
    if exact:
        return exact[-1]
    return lines[-1] if lines else None
