"""Turn a finished, analysed experiment into a record folder in the challenge layout.

RAW_RESULT is an experiment out dir (or its raw_runs.json): raw_runs.json is required;
stats.json beside it is used when it belongs to the same experiment (it carries the
cycle's Holm adjustment), else the experiment is analysed on the spot as a family of one.

The folder is RECORDS_DIR/track_causal_golf/<date>_<experiment_id>/ with README.md and
submission.json. <date> is the day the experiment finished and experiment_id hashes the
config, so writing the same experiment twice rewrites the same folder (idempotent).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from statistics import fmean

from causal_core.atomic import atomic_write_json, atomic_write_text, file_lock
from causal_core.experiments.scale import trainer_scale
from causal_core.safe_paths import UnsafePathError, first_missing, safe_name, within

TRACK = "track_causal_golf"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _load(raw_result_path: str | Path):
    from causal_core.experiments.results import RawRuns
    from causal_core.experiments.stats import Analysis, analyze
    p = Path(raw_result_path)
    d = p if p.is_dir() else p.parent
    raw = RawRuns.load(d / "raw_runs.json" if p.is_dir() else p)
    stats_p = d / "stats.json"
    a = None
    if stats_p.is_file():
        obj = json.loads(stats_p.read_text())
        cands = obj if isinstance(obj, list) else [obj]
        a = next((Analysis.model_validate(o) for o in cands if isinstance(o, dict) and o.get("experiment_id") == raw.experiment_id), None)
    return raw, a or analyze(raw), d


def _fmt(v, nd=6):
    return "n/a" if v is None else f"{v:.{nd}f}"


def _readme(raw, a) -> str:
    cfg = raw.config
    rows = [f"| {s} | {_fmt(c)} | {_fmt(t)} | {t - c:+.6f} |"
            for s, c, t in zip(a.seeds, a.control_bpb, a.treatment_bpb)]
    failed = [f"- {r.condition} seed {r.seed}: {r.status} ({r.error})" for r in raw.runs if not r.complete]
    ci_t = "n/a" if a.ci_t is None else f"[{a.ci_t[0]:+.6f}, {a.ci_t[1]:+.6f}]"
    ci_b = "n/a" if a.ci_boot is None else f"[{a.ci_boot[0]:+.6f}, {a.ci_boot[1]:+.6f}]"
    env = lambda d: ", ".join(f"{k}={v}" for k, v in d.items()) or "(none)"  # noqa: E731
    return "\n".join([
        f"# causal-golf experiment: {raw.intervention}",
        "",
        f"**Decision: {a.decision}** | effect {_fmt(a.effect_bpb)} val_bpb (treatment - control; negative = better) "
        f"| {a.n_pairs} paired seeds | platform {raw.platform}",
        "",
        f"- Intervention: `{raw.intervention}`; treatment: {env(cfg.treatment)}; control: {env(cfg.control)}",
        f"- Base environment: {env(cfg.base_env)}; budget {cfg.budget_s:g}s per run",
        *([f"- Decided under {raw.budget.describe()}"] if raw.budget else []),
        *([f"- Stacked on (confirmed earlier, on in both conditions): "
           + "; ".join(f"`{n}` ({env(o)})" for n, o in cfg.stack.items())] if cfg.stack else []),
        f"- Experiment id: `{raw.experiment_id}`; finished {raw.finished_at}",
        "",
        "| Seed | control val_bpb | treatment val_bpb | difference |",
        "|---|---|---|---|",
        *rows,
        "",
        f"- Mean paired difference: {_fmt(a.effect_bpb)} (sd {_fmt(a.sd_diff)})",
        f"- 95% paired t interval: {ci_t}; {a.boot_method} bootstrap interval (reported only): {ci_b}",
        f"- Paired t-test p = {_fmt(a.p_value, 4)}; Holm-adjusted over {a.family_size} test(s): {_fmt(a.p_adjusted, 4)}",
        f"- Gate: MDE {a.mde_bpb:g} val_bpb, alpha {a.alpha:g} (rules: docs/experiments.md)",
        *(["", "Runs that did not complete:", *failed] if failed else []),
        *(["", "Notes: " + "; ".join(a.notes)] if a.notes else []),
        "",
    ])


def _folder(raw, records_dir: str | Path) -> Path:
    """RECORDS_DIR/track_causal_golf/<date>_<experiment_id>: both parts come from raw_runs.json,
    so they are checked (safe_paths) before anything is written."""
    date = (raw.finished_at or "")[:10] or "undated"
    if date != "undated" and not _DATE.fullmatch(date):
        raise UnsafePathError(f"finished_at {raw.finished_at!r} does not start with a YYYY-MM-DD date")
    safe_name(raw.experiment_id, "experiment_id")
    return within(records_dir, TRACK, f"{date}_{raw.experiment_id}", what="experiment record folder")


def experiment_record_folder(raw_result_path: str | Path, records_dir: str | Path) -> Path:
    """Where write_experiment_record would write (raises UnsafePathError / ValueError as it would)."""
    from causal_core.experiments.results import RawRuns
    p = Path(raw_result_path)
    return _folder(RawRuns.load(p / "raw_runs.json" if p.is_dir() else p), records_dir)


def write_experiment_record(raw_result_path: str | Path, records_dir: str | Path) -> Path:
    """Write (or rewrite) the record folder of one experiment; returns the folder.
    A folder this call created is removed again if writing it fails."""
    from causal_core.experiments.stats import to_outcome
    raw, a, _ = _load(raw_result_path)
    folder = _folder(raw, records_dir)
    date = folder.name.split("_", 1)[0]
    treat = [r for r in raw.runs if r.condition == "treatment" and r.complete]
    losses = [r.val_loss for r in treat if r.val_loss is not None]
    bytes_total = [r.bytes_total for r in treat if r.bytes_total]
    if not bytes_total and all(r.bytes_model for r in treat) and treat:
        tp = raw.config.trainer_path()
        code = tp.stat().st_size if tp and tp.is_file() else None
        bytes_total = [r.bytes_model + code for r in treat] if code else []
    sub = {
        "name": f"causal-golf: {raw.intervention} ({a.decision})",
        "author": "causal-golf",
        "date": date,
        "track": TRACK,
        "val_bpb": fmean(r.val_bpb for r in treat) if treat else None,
        "val_loss": fmean(losses) if losses else None,
        "bytes_total": max(bytes_total) if bytes_total else None,
        "seeds": [r.seed for r in treat],
        "seed_results": {str(r.seed): {"val_bpb": r.val_bpb, "val_loss": r.val_loss} for r in treat},
        "control_val_bpb": fmean(a.control_bpb) if a.control_bpb else None,
        "platform": raw.platform,
        "interventions": [*raw.config.stack, raw.intervention],     # what the treatment arm ran
        "budget_mode": raw.config.budget_mode,
        "time_budget_s": raw.config.time_budget_s,
        "arm_steps": {c: b.steps for c, b in raw.budget.arms.items()} if raw.budget else None,
        "arm_step_ms": {c: b.step_ms or b.run_step_ms for c, b in raw.budget.arms.items()} if raw.budget else None,
        "causal_golf_experiment": to_outcome(a).model_copy(update={
            "stacked_on": list(raw.config.stack), "scale": trainer_scale(raw.config.base_env)}).model_dump(),
    }
    # One writer per experiment at a time; files are replaced atomically.
    with file_lock(Path(records_dir) / ".causal_golf_records"):   # lock file outside the track folder
        created = first_missing(folder)
        try:
            atomic_write_text(folder / "README.md", _readme(raw, a))
            atomic_write_json(folder / "submission.json", sub)
        except BaseException:
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            raise
    return folder
