"""Scores from training logs written by parameter-golf-style trainers.

Logs of the challenge also echo the training script's source, so only numeric
literals count (`val_bpb:{val_bpb:.4f}` in an f-string never matches).

Rules (checked against the 45 real records, see docs/experiments.md):

* A run's score is its LAST post-training score line (`final_*`, `quantized_*`,
  `legal_ttt*`, ...). Trainers print a rounded line and then its `_exact` twin, so the
  last line is the full-precision one; a trailing summary that merely repeats the
  value is replaced by the last `_exact` line when they agree. Periodic step evals
  (`step:N/M val_loss` or `N/M val_loss`) only count when a log has no post-training
  line at all (a run whose artifact was never round-tripped).
* A record's official score is the mean of the per-seed scores of the seeds its
  submission.json names; without named seeds, `train.log` (the canonical run, the
  extra `train_seed*.log` files being reproducibility reruns); else the mean of all
  `train_seed*.log`. A seed's eval-only re-score in a subfolder (`SUB/seed_S.log` or
  `SUB/train_seed_S.log`: the same artifact re-evaluated, no retraining) supersedes the
  score in its training log.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

_NUM = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
# `val_bpb:1.23`, `val_bpb: 1.23`, `val_bpb=1.23` (TTT logs use '=').
_BPB = re.compile(rf"\bval_bpb\s*[:=]\s*({_NUM})(?![\w.])")
_LOSS = re.compile(rf"\bval_loss\s*[:=]\s*({_NUM})(?![\w.])")
_LABEL = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?([A-Za-z][\w:/ -]*?)\s+(?:stride:\d+\s+)?val_loss")
# `step:200/200 val_loss...` (baseline trainers) or `5967/20000 val_loss...` (newer ones).
_STEP = re.compile(r"\bstep:(\d+)/(\d+)|^\s*(\d+)/(\d+)\s+val_loss")
# Evaluations that are not the submission's score even though they run after training.
_DIAGNOSTIC = re.compile(r"diagnostic|pre-quantization|pre_quant|post_ema|ttt_sliding:", re.I)


@dataclass(frozen=True)
class ScoreLine:
    line_no: int
    label: str          # e.g. "final_int8_zlib_roundtrip_exact", "step:200/200"
    val_bpb: float
    val_loss: float | None
    exact: bool         # printed at full precision by a `*_exact` line
    final: bool         # a post-training score line (not a periodic step eval)
    diagnostic: bool = False   # post-training but not a score (pre-quant, EMA check, TTT progress)
    decimals: int = 8          # digits printed after the point (precision of the value)


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
        raw = m.group(1)
        out.append(ScoreLine(
            line_no=i + 1,
            label=label,
            val_bpb=float(raw),
            val_loss=float(loss.group(1)) if loss else None,
            exact=label.endswith("_exact"),
            final=step is None and not label.startswith("step"),
            diagnostic=bool(_DIAGNOSTIC.search(line)),
            decimals=len(raw.split(".", 1)[1]) if "." in raw else 0,
        ))
    return out


def final_score(text: str, allow_step: bool = True) -> ScoreLine | None:
    """The run's score (module docstring); None when the log has none.

    allow_step=False refuses step evals: a runner must not mistake the last periodic
    eval of a crashed run for its final score.
    """
    lines = score_lines(text)
    finals = [s for s in lines if s.final and not s.diagnostic]
    if finals:
        last = finals[-1]
        if not last.exact:
            exact = [s for s in finals if s.exact]
            # A trailing summary (`val_bpb: 1.1227`) repeating the exact line: keep the precise one.
            if exact and round(exact[-1].val_bpb, last.decimals) == last.val_bpb:
                return exact[-1]
        return last
    if not allow_step:
        return None
    steps = [s for s in lines if not s.final]
    return steps[-1] if steps else None


def score_file(path: str | Path, allow_step: bool = True) -> ScoreLine | None:
    return final_score(Path(path).read_text(errors="replace"), allow_step=allow_step)


# --- records ---------------------------------------------------------------------------

@dataclass
class RecordScore:
    folder: str
    official: float | None                  # submission.json's val_bpb (or mean_val_bpb)
    official_decimals: int | None
    rule: str                               # which rule produced `recovered` (or why none)
    recovered: float | None
    per_log: dict[str, float | None] = field(default_factory=dict)
    used_logs: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool | None:
        """Equal up to the official value's printed precision."""
        if self.official is None or self.recovered is None:
            return None
        # One unit in the last printed digit: some officials are rounded means of rounded seeds.
        tol = 10 ** -(self.official_decimals or 8) + 1e-9
        return abs(self.recovered - self.official) <= tol


def _submission(folder: Path) -> dict:
    p = folder / "submission.json"
    try:
        d = json.loads(p.read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _named_seeds(sub: dict) -> list[str]:
    seeds: list[str] = []
    for key in ("seeds", "seed_results"):
        v = sub.get(key)
        if isinstance(v, dict):
            seeds += [str(k) for k in v]
        elif isinstance(v, list):
            seeds += [str(s) for s in v if isinstance(s, (int, str))]
    return list(dict.fromkeys(seeds))


def _decimals(v) -> int | None:
    s = repr(v)
    return len(s.split(".", 1)[1]) if isinstance(v, float) and "." in s and "e" not in s else None


def _rescored(per_log: dict, seed: str) -> str | None:
    pat = re.compile(rf"[^/]+/(?:train_)?seed_?{re.escape(seed)}\.log")
    hits = [n for n in per_log if pat.fullmatch(n) and per_log[n] is not None]
    return hits[-1] if hits else None


def record_score(folder: str | Path) -> RecordScore:
    """Recover a record's official val_bpb from its own logs (module docstring rules)."""
    folder = Path(folder)
    sub = _submission(folder)
    official = sub.get("val_bpb", sub.get("mean_val_bpb"))
    official = float(official) if isinstance(official, (int, float)) else None
    per_log = {p.relative_to(folder).as_posix(): (s.val_bpb if (s := score_file(p)) else None)
               for p in sorted(folder.rglob("*.log"))}
    rs = RecordScore(str(folder), official, _decimals(official), "no logs", None, per_log)

    def use(rule: str, names: list[str]) -> RecordScore:
        vals = [per_log[n] for n in names]
        if any(v is None for v in vals):
            rs.rule = f"{rule}: a log has no score"
            return rs
        rs.rule, rs.used_logs, rs.recovered = rule, names, fmean(vals)
        return rs

    seeds = _named_seeds(sub)
    if len(seeds) > 1 and all(f"train_seed{s}.log" in per_log for s in seeds):
        names = [_rescored(per_log, s) or f"train_seed{s}.log" for s in seeds]
        rule = "mean of the seeds named in submission.json"
        if any("/" in n for n in names):
            rule += " (eval-only re-scores in a subfolder supersede)"
        return use(rule, names)
    if "train.log" in per_log:
        return use("train.log (canonical run)", ["train.log"])
    seed_logs = [n for n in per_log if re.fullmatch(r"train_seed\d+\.log", n)]
    if seed_logs:
        return use("mean of train_seed*.log", seed_logs)
    if per_log:
        rs.rule = "no train.log or train_seed*.log"
    return rs


# --- step times ------------------------------------------------------------------------

# `step:13780/20000 val_loss:... train_time:600030ms step_avg:43.54ms` (baseline trainers)
_STEP_AVG = re.compile(r"\bstep_avg\s*:\s*(\d+(?:\.\d+)?)\s*ms")
# `stopping_early: wallclock_cap train_time: 590009ms step: 5962/20000` (newer trainers)
_STOP = re.compile(r"stopping_early:.*?train_time\s*:\s*(\d+(?:\.\d+)?)\s*ms\s+step\s*:\s*(\d+)/\d+")
# `5500/20000 train_loss: 2.5668 train_time: 9.1m tok/s: ...` (minutes: ~1% precision)
_MINUTES = re.compile(r"^\s*(\d+)/\d+\s+train_loss\s*:\s*\S+\s+train_time\s*:\s*(\d+(?:\.\d+)?)m\b", re.M)


@dataclass(frozen=True)
class StepTime:
    step_avg_ms: float
    line_no: int
    how: str        # "step_avg", "stopping_early train_time/step", "train_time minutes/step"


def step_time(text: str) -> StepTime | None:
    """The run's training ms per step: its last `step_avg:` (the main run's final figure), else
    train_time/steps of its wall-clock stop line, else of its last `N/M train_loss ... train_time: Xm`."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if "{" in line:          # the echoed script source
            continue
        if m := _STEP_AVG.search(line):
            return StepTime(float(m.group(1)), i + 1, "step_avg")
    for i in range(len(lines) - 1, -1, -1):
        if (m := _STOP.search(lines[i])) and "{" not in lines[i] and int(m.group(2)) > 0:
            return StepTime(round(float(m.group(1)) / int(m.group(2)), 3), i + 1, "stopping_early train_time/step")
    last = None
    for m in _MINUTES.finditer(text):
        last = m
    if last and int(last.group(1)) > 0:
        line_no = text.count("\n", 0, last.start()) + 1
        return StepTime(round(float(last.group(2)) * 60000 / int(last.group(1)), 3), line_no, "train_time minutes/step")
    return None
