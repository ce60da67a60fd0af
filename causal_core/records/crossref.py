"""Cross-record pass: resolve parent references to record ids and complete base/delta.

A parent stated as "PR #549" stays a PR reference unless a record in the corpus names
that PR in its folder name; "Naive Baseline" and record paths resolve to the record.
Where a parent resolves and no base_bpb is stated, the parent's own score is the base.
"""
from __future__ import annotations

import re

from causal_core.schemas import RecordEntry


def _key(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", s.lower())


def link(entries: list[RecordEntry]) -> None:
    by_id = {e.record_id: e for e in entries}
    by_tail = {e.record_id.rsplit("/", 1)[-1]: e for e in entries}
    by_name = {_key(e.name): e for e in entries if e.name}
    by_pr: dict[str, RecordEntry] = {}
    for e in entries:
        m = re.search(r"(?:^|_)PR(\d+)(?:_|$)", e.record_id.rsplit("/", 1)[-1])
        if m:
            by_pr[f"PR #{m.group(1)}"] = e
    for e in entries:
        if not e.parent:
            continue
        target = (by_id.get(e.parent) or by_tail.get(e.parent.rsplit("/", 1)[-1])
                  or by_pr.get(e.parent) or by_name.get(_key(e.parent)))
        if target is not None and target is not e:
            src = e.field_sources.get("parent", "")
            e.field_sources["parent"] = f"{src} -> crossref:{e.parent}" if src else f"crossref:{e.parent}"
            e.parent = target.record_id
            if e.base_bpb is None and target.val_bpb is not None:
                e.base_bpb = target.val_bpb
                e.field_sources["base_bpb"] = f"crossref:{target.record_id}:val_bpb"
    for e in entries:
        if e.base_bpb is not None and e.val_bpb is not None:
            computed = round(e.val_bpb - e.base_bpb, 8)
            if e.delta_bpb is None:
                e.delta_bpb = computed
                e.field_sources["delta_bpb"] = "crossref:val_bpb - base_bpb"
            elif abs(e.delta_bpb - computed) > 0.002:
                e.warnings.append(f"stated delta_bpb {e.delta_bpb} differs from val_bpb - base_bpb = {computed}")
