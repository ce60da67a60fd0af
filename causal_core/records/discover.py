"""Find record folders under a records root, at any depth.

A record is a folder with a README.md and/or a submission.json; its subfolders belong
to it (extra logs) and are not walked. The root itself is never a record: a README.md at
the top of a records folder describes the folder (the loop's records/ has one), unless no
record lies below it: then the root is the one record (`--records path/to/a_record`). A leaf folder with only training logs is read as
a record too (its name and logs carry the facts) and flagged; any other leaf folder is
reported as skipped. Folders that only contain other folders are containers (tracks).

Every entry goes through a RootGuard (guard.py): links out of the root, loops and
special files are refused and reported; depth and entries are bounded.
"""
from __future__ import annotations

from pathlib import Path

from causal_core.records.guard import MAX_DEPTH, RootGuard

MARKERS = ("README.md", "submission.json")


def walk(root: Path, guard: RootGuard | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    guard = guard or RootGuard(root)
    records: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    visited: dict[Path, Path] = {}          # real folder -> the path it was first reached by

    def visit(d: Path, depth: int) -> None:
        real = d.resolve()
        if real in visited:
            skipped.append((d, f"already walked as {visited[real]} (a link back into the walk); not read twice"))
            return
        visited[real] = d
        if depth > MAX_DEPTH:
            skipped.append((d, f"deeper than {MAX_DEPTH} folders; not walked"))
            return
        children = guard.listdir(d)
        if children is None:
            return
        kinds = {c: guard.kind(c) for c in children}
        names = {c.name for c, k in kinds.items() if k == "file"}
        if d != root and any(m in names for m in MARKERS):
            records.append(d)
            return
        subdirs = [c for c, k in kinds.items() if k == "dir" and not c.name.startswith(".")]
        if subdirs:
            for c in subdirs:
                visit(c, depth + 1)
            return
        if d == root:
            return
        if any(n.endswith(".log") for n in names):
            records.append(d)
        else:
            what = ", ".join(sorted(names)[:5]) or "empty"
            skipped.append((d, f"not a record: no README.md, submission.json or *.log ({what})"))

    visit(root, 0)
    if not records and any(guard.file(root / m) for m in MARKERS):
        records.append(root)
    return records, skipped + guard.take_refused()
