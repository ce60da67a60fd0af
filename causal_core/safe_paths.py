"""Paths built from data, and output paths given by the user: one helper for both.


raw_runs.json, configs and approval answers travel between machines; a field such as
`experiment_id` = "../../etc" must not steer a write out of its root. Every name taken
from data is a single safe component (`safe_name`), and the joined path must still
resolve inside the root (`within`): a symlink already in the tree cannot redirect it.
"""
from __future__ import annotations

import re
from pathlib import Path

# One path component: starts with a letter or digit (no dot files, no "..", no leading "-"),
# then letters, digits and . _ + - ; short enough for any filesystem.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,159}")


class UnsafePathError(ValueError):
    """A path cannot be used: a name taken from data would leave its root (or is not a
    plain file name), or an output path is a folder or sits under a file."""


def safe_name(value: object, what: str) -> str:
    """`value` if it is one plain path component, else UnsafePathError naming `what`."""
    if not isinstance(value, str) or not _SAFE.fullmatch(value) or ".." in value:
        raise UnsafePathError(f"{what} {value!r} is not a safe file name "
                              f"(letters, digits and . _ + - only, at most 160 characters)")
    return value


def within(root: str | Path, *names: str, what: str = "path") -> Path:
    """root/names..., each name a safe component, resolving inside `root` (links included)."""
    root_p = Path(root).resolve()
    p = root_p.joinpath(*(safe_name(n, what) for n in names))
    if not p.resolve().is_relative_to(root_p):
        raise UnsafePathError(f"{what} {p} resolves outside {root_p} (through a link)")
    return p


def check_output_file(path: str | Path, what: str = "--out") -> Path:
    """Refuse, before any work, an output file that could not be written: the path is a
    folder, or a parent on the way is a file (mkdir would fail only after the work)."""
    p = Path(path)
    if p.is_dir():
        raise UnsafePathError(f"{what} {p} is a folder; give a file path")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UnsafePathError(f"{what} {p}: {parent} is a file, not a folder")
            break
    return p


def check_output_dir(path: str | Path, what: str = "--out") -> Path:
    """The same for an output folder: it may be missing, but not a file nor under one."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                raise UnsafePathError(f"{what} {p}: {q} is a file, not a folder")
            break
    return p


def first_missing(path: str | Path) -> Path | None:
    """The topmost folder a write to `path` would create (None if `path` exists): what to
    remove so that a failed write leaves nothing behind."""
    p = Path(path)
    if p.exists():
        return None
    while not p.parent.exists() and p.parent != p:
        p = p.parent
    return p
