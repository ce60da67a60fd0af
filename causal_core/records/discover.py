"""Find record folders under a records root, at any depth.

A record is a folder with a README.md and/or a submission.json; its subfolders belong
to it (extra logs) and are not walked. The root itself is never a record: a README.md at
the top of a records folder describes the folder (the loop's records/ has one), unless no
record lies below it: then the root is the one record (`--records path/to/a_record`). A leaf folder with only training logs is read as
a record too (its name and logs carry the facts) and flagged; any other leaf folder is
reported as skipped. Folders that only contain other folders are containers (tracks).
"""
from __future__ import annotations

from pathlib import Path

MARKERS = ("README.md", "submission.json")


def walk(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    records: list[Path] = []
    skipped: list[tuple[Path, str]] = []

    def visit(d: Path) -> None:
        try:
            children = sorted(d.iterdir())
        except OSError as e:
            skipped.append((d, f"cannot list folder: {e.strerror}"))
            return
        names = {c.name for c in children if c.is_file()}
        if d != root and any(m in names for m in MARKERS):
            records.append(d)
            return
        subdirs = [c for c in children if c.is_dir() and not c.name.startswith(".")]
        if subdirs:
            for c in subdirs:
                visit(c)
            return
        if d == root:
            return
        if any(n.endswith(".log") for n in names):
            records.append(d)
        else:
            what = ", ".join(sorted(names)[:5]) or "empty"
            skipped.append((d, f"not a record: no README.md, submission.json or *.log ({what})"))

    visit(root)
    root_names = {c.name for c in root.iterdir() if c.is_file()} if root.is_dir() else set()
    if not records and any(m in root_names for m in MARKERS):
        records.append(root)
    return records, skipped
