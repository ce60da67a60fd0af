"""submission.json: the core fields, tolerant of the shapes records actually use.

Seen in the wild: numbers as strings ("15,863,489"), bpb under `mean_val_bpb` or
`mean_bpb`, bpb mislabeled as `val_loss`, `seeds` as a list, a dict of per-seed results
or next to a parallel `seed_scores` list, `seed_results[seed].val_bpb`, `artifact_bytes`
for `bytes_total`, NaN or negative scores, empty author strings.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

# A bits-per-byte score outside this range is not a real FineWeb score.
BPB_RANGE = (0.3, 5.0)

# Keys whose string values are prose worth scanning for interventions (in this order).
TEXT_KEYS = ("name", "run_name", "blurb", "technique_summary", "architecture", "our_contribution",
             "tokenizer")


@dataclass
class Submission:
    data: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)       # field -> value
    sources: dict = field(default_factory=dict)      # field -> "submission.json:key"
    warnings: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    seed_scores: dict[str, float] = field(default_factory=dict)


def to_float(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip().replace(",", "").replace("_", "")
        try:
            return float(s)
        except ValueError:
            return None
    return None


def to_int(v) -> int | None:
    f = to_float(v)
    return int(f) if f is not None and math.isfinite(f) else None


def valid_bpb(v) -> bool:
    return v is not None and math.isfinite(v) and BPB_RANGE[0] <= v <= BPB_RANGE[1]


def load(path: Path, raw: bytes | None = None) -> Submission:
    """Parse submission.json; `raw` is its content when the caller read it already (capped)."""
    sub = Submission()
    try:
        raw = path.read_bytes() if raw is None else raw
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        sub.warnings.append(f"{path.name}: not UTF-8 text; ignored")
        return sub
    except json.JSONDecodeError as e:
        sub.warnings.append(f"{path.name}: invalid JSON (line {e.lineno} column {e.colno}: {e.msg}); ignored")
        return sub
    except RecursionError:        # "[[[[..." thousands deep: json's parser gives up
        sub.warnings.append(f"{path.name}: JSON nested too deeply; ignored")
        return sub
    if not isinstance(data, dict):
        sub.warnings.append(f"{path.name}: top level is {type(data).__name__}, expected an object; ignored")
        return sub
    sub.data = data
    _core(sub, data)
    _seeds(sub, data)
    return sub


def _set(sub: Submission, fld: str, value, key: str) -> None:
    if value is not None and fld not in sub.values:
        sub.values[fld] = value
        sub.sources[fld] = f"submission.json:{key}"


def _core(sub: Submission, d: dict) -> None:
    for key in ("name", "run_name"):
        if isinstance(d.get(key), str) and d[key].strip():
            _set(sub, "name", d[key].strip(), key)
    for key in ("author", "github_id"):
        if isinstance(d.get(key), str) and d[key].strip():
            _set(sub, "author", d[key].strip(), key)
    if isinstance(d.get("date"), str):
        m = re.match(r"\s*(\d{4}-\d{2}-\d{2})", d["date"])
        if m:
            _set(sub, "date", m.group(1), "date")
        else:
            sub.warnings.append(f"submission.json: date {d['date']!r} is not ISO; ignored")
    if isinstance(d.get("track"), str) and d["track"].strip():
        _set(sub, "track", d["track"].strip(), "track")
    for key in ("val_bpb", "mean_val_bpb", "mean_bpb"):
        if key not in d or d[key] is None:
            continue
        v = to_float(d[key])
        if valid_bpb(v):
            _set(sub, "val_bpb", v, key)
        else:
            sub.warnings.append(f"submission.json: {key}={d[key]!r} is not a valid bpb score; ignored")
    for key in ("val_loss", "mean_val_loss", "mean_val_loss_nats"):
        if key not in d or d[key] is None:
            continue
        v = to_float(d[key])
        if v is None or not math.isfinite(v) or v <= 0:
            sub.warnings.append(f"submission.json: {key}={d[key]!r} is not a valid loss; ignored")
            continue
        _set(sub, "val_loss", v, key)
    for key in ("bytes_total", "artifact_bytes", "artifact_bytes_mean"):
        v = to_int(d.get(key))
        if v is not None and v > 0:
            _set(sub, "bytes_total", v, key)
    for key, fld in (("base_pr", "parent"), ("based_on", "parent"), ("comparison_baseline_pr", "parent")):
        if d.get(key) not in (None, ""):
            v = d[key]
            _set(sub, fld, f"PR #{v}" if isinstance(v, int) or str(v).isdigit() else str(v), key)
    v = to_float(d.get("comparison_baseline_bpb"))
    if valid_bpb(v):
        _set(sub, "base_bpb", v, "comparison_baseline_bpb")
    for key in d:
        if re.fullmatch(r"delta_vs_(?:pr\d+|baseline|parent)_bpb", key) and to_float(d[key]) is not None:
            _set(sub, "delta_bpb", to_float(d[key]), key)


def _seeds(sub: Submission, d: dict) -> None:
    seeds = d.get("seeds")
    results = d.get("seed_results")
    if isinstance(seeds, dict):           # {"0": {"val_bpb": ...}, ...}
        results = results if isinstance(results, dict) else seeds
        seeds = list(seeds)
    if isinstance(seeds, list):
        sub.seeds = [s for s in (to_int(x) for x in seeds) if s is not None]
    if isinstance(results, dict):
        for seed, r in results.items():
            score = None
            if isinstance(r, dict):
                for key in ("val_bpb", "bpb", "val_var_bpb"):
                    score = to_float(r.get(key))
                    if score is not None:
                        break
            else:
                score = to_float(r)
            if valid_bpb(score):
                sub.seed_scores[str(seed)] = score
            if to_int(seed) is not None and to_int(seed) not in sub.seeds:
                sub.seeds.append(to_int(seed))
    scores = d.get("seed_scores")
    if isinstance(scores, list) and len(scores) == len(sub.seeds):
        for s, v in zip(sub.seeds, scores):
            if valid_bpb(to_float(v)):
                sub.seed_scores.setdefault(str(s), to_float(v))
    if sub.seeds or sub.seed_scores:
        sub.sources["seeds"] = "submission.json:seeds"


def text_sources(sub: Submission) -> list[tuple[str, str]]:
    """(source label, text) for the prose fields, then top-level scalar settings rendered as
    `KEY=value` lines so the env spellings read `"num_layers": 11` like `NUM_LAYERS=11`."""
    out = []
    for key in TEXT_KEYS:
        v = sub.data.get(key)
        if isinstance(v, str) and v.strip():
            out.append((f"submission.json:{key}", v))
    lines = []
    for key, v in sub.data.items():
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, (int, float)) and not key.startswith(("val_", "bytes", "artifact", "pre_quant")):
            lines.append(f"{key.upper()}={v}")
    if lines:
        out.append(("submission.json:settings", "\n".join(lines)))
    return out
