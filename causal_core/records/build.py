"""One record folder -> one RecordEntry: every field with the place it came from."""
from __future__ import annotations

import math
import re
from pathlib import Path

from causal_core.catalog import NAMES
from causal_core.records import logs, matcher, readme_formats as rf, submission
from causal_core.records.guard import RootGuard
from causal_core.schemas import Evidence, ExperimentOutcome, InterventionMention, RecordEntry

_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})[_ -]?(.*)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])")
# "Built on PR #549", "on top of PR #374", "started this submission from PR #1179", "PR #1394 sp8192 stack".
_PARENT = [
    re.compile(r"(?:built|builds|based|building|started[\w ]{0,25}?)\s+(?:on|from|upon)\s+(?:top of\s+)?(?:the\s+)?\[?(PR\s*#\s*\d+)", re.I),
    re.compile(r"(?:on top of|changes from|innovations over|improvements over|stacked on)\s+\[?(PR\s*#\s*\d+)", re.I),
    re.compile(r"\[?(PR\s*#\s*\d+)\]?(?:\([^)]*\))?(?:'s)?\s+(?:\w+\s+)?(?:stack|scaffold|base|architecture|recipe)\b", re.I),
    re.compile(r"(?:changes|improvements?) (?:from|over|on) (?:the )?(naive baseline|baseline)", re.I),
    re.compile(r"stacked improvements on the (naive baseline)", re.I),
]
_RECORD_PATH = re.compile(r"records/(track_[\w-]+/\d{4}-\d{2}-\d{2}_[^/\s)\]]+)")
_BASE_BPB = [
    re.compile(r"baseline[^.\n|]{0,60}?[:=]\s*\**\s*(\d\.\d{3,})", re.I),
    re.compile(r"\(baseline:?\s*(\d\.\d{3,})", re.I),
]
_BEATS_BY = re.compile(r"beats?\s+(PR\s*#\s*\d+)[^.\n]{0,20}?\bby\s+(\d\.\d+)\s*bpb", re.I)


def _norm_pr(s: str) -> str:
    m = re.search(r"PR\s*#\s*(\d+)", s, re.I)
    if m:
        return f"PR #{m.group(1)}"
    return "Naive Baseline" if "baseline" in s.lower() else s.strip()


def folder_text(name: str) -> str:
    """Folder names are evidence too: `2026-03-24_..._15L_8192BPE_YaRN` -> words, both as written
    and with CamelCase split (`SlidingWindowEval` -> `Sliding Window Eval`)."""
    words = re.sub(r"[_]+", " ", name)
    return words + "\n" + _CAMEL.sub(" ", words)


def _read_readme(path: Path, guard: RootGuard, warnings: list[str]) -> str | None:
    data = guard.read(path, warnings)
    if data is None:
        return None
    if b"\x00" in data[:8192]:
        warnings.append(f"{path.name}: binary file, not a text README; ignored")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{path.name}: not UTF-8; decoded with replacement characters")
        return data.decode("utf-8", errors="replace")


def build_entry(folder: Path, root: Path, guard: RootGuard | None = None) -> RecordEntry:
    """Every file is read through `guard` (links out of the root refused, sizes capped)."""
    guard = guard or RootGuard(root)
    rid = folder.relative_to(root).as_posix()
    e = RecordEntry(record_id=rid)
    warnings: list[str] = []
    sub = submission.Submission()
    if (raw_sub := guard.read(folder / "submission.json", warnings)) is not None:
        sub = submission.load(folder / "submission.json", raw_sub)
        warnings += sub.warnings
    readme = _read_readme(folder / "README.md", guard, warnings)
    log_scores, log_warn = logs.scores(folder, guard)
    warnings += log_warn

    # ---- interventions: sources in priority order (first stated attribute value wins)
    mentions: list[matcher.Mention] = []
    delta_mentions: list[matcher.Mention] = []
    sub_texts = submission.text_sources(sub)
    for label, text in sub_texts:
        if label.endswith(":settings"):
            mentions += matcher.scan(text, label)
    mentions += matcher.scan(folder_text(folder.name), "folder name")
    for label, text in sub_texts:
        if not label.endswith(":settings"):
            found = matcher.scan(text, label)
            mentions += found
            if label.endswith(":our_contribution"):
                delta_mentions += found
    facts = rf.TableFacts()
    if readme is not None:
        for sec in rf.sections(readme):
            kept, dropped = rf.split_discarded(sec.body)
            body = rf.clean(sec.heading + "\n" + kept)
            found = matcher.scan(body, "README.md", negative_context=sec.negative)
            mentions += found
            if sec.delta and not sec.negative:
                delta_mentions += matcher.scan(rf.clean(sec.heading + "\n" + rf.prose(kept)), "README.md")
            if dropped:
                mentions += matcher.scan(rf.clean(dropped), "README.md", negative_context=True)
        facts = rf.table_facts(rf.tables(readme))
        for row in facts.delta_rows:
            delta_mentions += matcher.scan(row, "README.md")
    if readme is None and not any(not l.endswith(":settings") for l, _ in sub_texts):
        defaults = logs.script_defaults(folder, guard)
        if defaults:
            mentions += matcher.scan(defaults, "train log (script defaults)")
            warnings.append("no README.md or submission.json: interventions read from the folder name "
                            "and the script defaults echoed in the log")

    decisions = {d.name: d for d in matcher.decide(mentions)}
    exp = sub.data.get("causal_golf_experiment") if sub.data else None
    listed = sub.data.get("interventions") if sub.data else None
    if exp is not None or isinstance(listed, list):
        e.source_format = "experiment"
        if exp is not None:
            try:
                e.experiment = ExperimentOutcome.model_validate(exp)
            except Exception as err:    # a malformed outcome must not lose the rest of the record
                warnings.append(f"submission.json: causal_golf_experiment is invalid ({err.__class__.__name__}: "
                                f"{str(err).splitlines()[0]}); ignored")
        if isinstance(listed, list):
            decisions = {}
            for n in listed:
                if n in NAMES:
                    decisions[n] = matcher.Decision(n, {}, [matcher.Mention(
                        n, "text", "pos", "submission.json:interventions", n)])
                else:
                    warnings.append(f"submission.json: intervention {n!r} is not a canonical name; ignored")
    for name in NAMES:                          # catalog order keeps output stable
        d = decisions.get(name)
        if d is None:
            continue
        ev, seen = [], set()
        for m in d.evidence:
            if (m.source, m.span) not in seen and len(ev) < 3:
                seen.add((m.source, m.span))
                ev.append(Evidence(source=m.source, text=m.span[:200]))
        attrs = {k: v for k, v in d.attributes.items() if isinstance(v, (str, int, float, bool))}
        e.interventions.append(InterventionMention(name=name, attributes=attrs, evidence=ev))
    have = set(e.intervention_names())
    delta = {m.name for m in delta_mentions if m.polarity == "pos"} & have
    e.delta_interventions = [n for n in NAMES if n in delta]
    if e.delta_interventions:
        e.field_sources["delta_interventions"] = "README.md:table" if facts.delta_rows else "README.md:section"
    if e.interventions:
        e.field_sources["interventions"] = "text"

    # ---- core fields
    for fld in ("name", "author", "date", "track", "val_bpb", "val_loss", "bytes_total"):
        if fld in sub.values:
            setattr(e, fld, sub.values[fld])
            e.field_sources[fld] = sub.sources[fld]
    m = _DATE_PREFIX.match(folder.name)
    if e.name is None and readme and rf.title(readme):
        e.name, e.field_sources["name"] = rf.title(readme), "README.md:title"
    if e.name is None:
        e.name = (m.group(2) if m and m.group(2) else folder.name).replace("_", " ").strip()
        e.field_sources["name"] = "folder name"
    if e.date is None and m:
        e.date, e.field_sources["date"] = m.group(1), "folder name"
    if e.track is None and folder.parent != root:
        e.track = re.sub(r"^track_", "", folder.parent.name)
        e.field_sources["track"] = "folder path"

    head = rf.headline_bpb(readme) if readme else None
    if e.val_bpb is None and "val_loss" in sub.data and head and e.val_loss is not None \
            and math.isclose(e.val_loss, head[0], abs_tol=5e-6):
        # bpb filed under val_loss: the README states the same number as the bpb.
        warnings.append(f"submission.json: val_loss={e.val_loss} is the bpb stated in README.md; read as val_bpb")
        e.val_bpb, e.val_loss = e.val_loss, None
        e.field_sources["val_bpb"] = "submission.json:val_loss (mislabeled; confirmed by README.md)"
        e.field_sources.pop("val_loss", None)
    if e.val_bpb is None and head and submission.valid_bpb(head[0]):
        e.val_bpb, e.field_sources["val_bpb"] = head[0], "README.md:headline"
    if e.val_bpb is None and log_scores:
        best = next((s for s in log_scores if s.file == "train.log"), log_scores[0])
        if submission.valid_bpb(best.score.val_bpb):
            e.val_bpb = best.score.val_bpb
            e.field_sources["val_bpb"] = f"{best.file}:{best.score.line_no} ({best.score.label})"
            if e.val_loss is None and best.score.val_loss is not None:
                e.val_loss = best.score.val_loss
                e.field_sources["val_loss"] = e.field_sources["val_bpb"]

    # ---- seeds: submission.json first, the per-seed logs second
    e.seeds, e.seed_scores = list(sub.seeds), dict(sub.seed_scores)
    if e.seeds or e.seed_scores:
        e.field_sources["seeds"] = "submission.json:seeds"
    elif log_scores:
        for s in log_scores:
            if s.seed is not None and submission.valid_bpb(s.score.val_bpb):
                e.seeds.append(s.seed)
                e.seed_scores[str(s.seed)] = s.score.val_bpb
        if e.seeds:
            e.field_sources["seeds"] = "train_seed*.log (final exact score lines)"

    # ---- parent, base and delta as stated (crossref.py links and completes them)
    parent = sub.values.get("parent")
    if parent:
        e.parent, e.field_sources["parent"] = _norm_pr(parent), sub.sources["parent"]
    elif facts.parent:
        e.parent, e.field_sources["parent"] = facts.parent, f"README.md:format {facts.fmt} table header"
    elif readme:
        text = rf.clean(readme)
        for rx in _PARENT:
            pm = rx.search(text)
            if pm:
                e.parent, e.field_sources["parent"] = _norm_pr(pm.group(1)), "README.md:text"
                break
        else:
            pm = next((p for p in _RECORD_PATH.finditer(readme)
                       if not p.group(1).endswith("/" + folder.name)), None)
            if pm and not re.search(r"merged SOTA", readme[max(0, pm.start() - 200):pm.start()], re.I):
                e.parent, e.field_sources["parent"] = pm.group(1), "README.md:record link"
    if "base_bpb" in sub.values:
        e.base_bpb, e.field_sources["base_bpb"] = sub.values["base_bpb"], sub.sources["base_bpb"]
    elif facts.base_bpb is not None:
        e.base_bpb, e.field_sources["base_bpb"] = facts.base_bpb, f"README.md:format {facts.fmt} table"
    elif readme:
        for rx in _BASE_BPB:
            bm = rx.search(rf.clean(readme))
            if bm and submission.valid_bpb(float(bm.group(1))):
                e.base_bpb, e.field_sources["base_bpb"] = float(bm.group(1)), "README.md:text"
                break
    if "delta_bpb" in sub.values:
        e.delta_bpb, e.field_sources["delta_bpb"] = sub.values["delta_bpb"], sub.sources["delta_bpb"]
    elif facts.delta_bpb is not None and e.base_bpb is None:
        e.delta_bpb, e.field_sources["delta_bpb"] = facts.delta_bpb, f"README.md:format {facts.fmt} table"
    elif readme and (bm := _BEATS_BY.search(readme)):
        e.delta_bpb, e.field_sources["delta_bpb"] = -float(bm.group(2)), "README.md:text"
        if e.parent is None:
            e.parent, e.field_sources["parent"] = _norm_pr(bm.group(1)), "README.md:text"

    if e.experiment is None and (st := logs.main_step_time(folder, guard)) is not None:
        e.h100_step_avg_ms = st[1].step_avg_ms
        e.field_sources["h100_step_avg_ms"] = f"{st[0]}:{st[1].line_no} ({st[1].how})"
    if e.experiment is None:
        if facts.fmt in ("A", "B"):
            e.source_format = facts.fmt
        elif readme is not None:
            e.source_format = "C"
        elif sub.data:
            e.source_format = "json_only"
        else:
            e.source_format = "log_only"
    e.warnings = warnings
    return e
