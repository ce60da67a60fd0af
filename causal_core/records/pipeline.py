"""`extract_records(roots)`: walk, build one entry per record, cross-reference, measure coverage."""
from __future__ import annotations

from pathlib import Path

from causal_core.records import build, crossref, discover
from causal_core.records.guard import RootGuard
from causal_core.schemas import InterventionsFile, RecordEntry, SkippedFolder

COVERAGE_FIELDS = ("val_bpb", "name", "date", "interventions")


class RecordsError(ValueError):
    """The records roots cannot be read at all (missing, not a folder, no records)."""


def coverage(entries: list[RecordEntry]) -> dict[str, float]:
    n = len(entries)
    if n == 0:
        return {}
    has = {
        "val_bpb": lambda e: e.val_bpb is not None,
        "name": lambda e: bool(e.name),
        "date": lambda e: bool(e.date),
        "interventions": lambda e: bool(e.interventions),
    }
    out = {f: round(sum(has[f](e) for e in entries) / n, 4) for f in COVERAGE_FIELDS}
    out["all_four"] = round(sum(all(has[f](e) for f in COVERAGE_FIELDS) for e in entries) / n, 4)
    for f in ("author", "bytes_total", "val_loss", "track", "seeds", "parent", "base_bpb", "delta_bpb"):
        out[f] = round(sum(bool(getattr(e, f) not in (None, [], {}, "")) for e in entries) / n, 4)
    out["records"] = n
    return out


def extract_records(roots: list[Path]) -> InterventionsFile:
    roots = [Path(r) for r in roots]
    if not roots:
        raise RecordsError("no records folder given")
    out = InterventionsFile(records_roots=[str(r) for r in roots])
    seen: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            raise RecordsError(f"{root}: not a folder")
        guard = RootGuard(root)
        folders, skipped = discover.walk(root, guard)
        for d, reason in skipped:
            out.skipped.append(SkippedFolder(path=str(d), reason=reason))
        for d in folders:
            rid = d.relative_to(root).as_posix()
            if rid in seen:
                out.skipped.append(SkippedFolder(
                    path=str(d), reason=f"duplicate record_id {rid!r}: already read from {seen[rid]}"))
                continue
            seen[rid] = root
            try:
                out.records.append(build.build_entry(d, root, guard))
            except Exception as e:      # one unreadable record must not lose the others
                out.skipped.append(SkippedFolder(path=str(d), reason=f"{type(e).__name__}: {e}"))
            for p, reason in guard.take_refused():     # files refused inside the record
                out.skipped.append(SkippedFolder(path=str(p), reason=reason))
    if not out.records:
        what = "; ".join(f"{s.path}: {s.reason}" for s in out.skipped[:3])
        raise RecordsError(f"no records found under {', '.join(map(str, roots))}" + (f" ({what})" if what else ""))
    crossref.link(out.records)
    out.field_coverage = coverage(out.records)
    return out
