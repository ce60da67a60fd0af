"""What `extract` may read under one records root: records come from public pull
requests, so every folder listed and every file read goes through a RootGuard.

The promise (docs/records.md, "Untrusted records"): nothing outside the root is read,
the walk ends, and its cost is bounded.
- A link (file or folder) is followed only when its target resolves inside the root;
  a link out of the root, a dangling link and anything that is neither a regular file
  nor a folder (a FIFO would block the reader) is refused and reported in `skipped`.
- Each real folder is visited once (symlink loops end; a folder reached twice is not
  read twice).
- The walk is bounded in depth, in entries listed and in bytes read; a file larger than
  its cap is read in part (head and tail: logs state the script's defaults at the top and
  their final score at the bottom), with a warning.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

# Bounds of one walk (per records root). The real corpus peaks at 3 folders deep, 182 files,
# a 24 KB README, a 4 KB submission.json and a 205 KB log: these leave 5-20x headroom. The
# README and submission.json caps also bound the intervention matcher, whose ~100 patterns
# cost about 2 s per 100 KB of adversarial text (e.g. a page of table pipes) on one core.
MAX_DEPTH = 12
MAX_ENTRIES = 50_000                 # folder entries listed
MAX_TOTAL_BYTES = 256 * 2**20         # bytes read, all files together
MAX_FILES_PER_RECORD = 200           # logs read inside one record folder
FILE_CAPS = {                         # bytes read per file, by kind
    "README.md": 128 * 2**10,
    "submission.json": 64 * 2**10,
    ".log": 2 * 2**20,
}
DEFAULT_CAP = 128 * 2**10


def cap_for(path: Path) -> int:
    return FILE_CAPS.get(path.name) or FILE_CAPS.get(path.suffix) or DEFAULT_CAP


@dataclass
class RootGuard:
    root: Path
    refused: list[tuple[Path, str]] = field(default_factory=list)
    entries: int = 0
    bytes_read: int = 0
    _real_root: Path = field(init=False)
    _stopped: bool = field(default=False, init=False)
    _refused_paths: set[Path] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._real_root = self.root.resolve()

    # --- checks ---------------------------------------------------------------------
    def refuse(self, path: Path, reason: str) -> None:
        if path not in self._refused_paths:      # a path looked at twice is reported once
            self._refused_paths.add(path)
            self.refused.append((path, reason))

    def take_refused(self) -> list[tuple[Path, str]]:
        out, self.refused = self.refused, []
        return out

    def real(self, path: Path) -> Path | None:
        """The real path of `path` if it stays inside the root, else None (refusal recorded)."""
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            self.refuse(path, "dangling link: its target does not exist")
            return None
        except (OSError, RuntimeError) as e:     # RuntimeError: a link loop on older Pythons
            self.refuse(path, f"cannot resolve: {getattr(e, 'strerror', None) or e}")
            return None
        if not real.is_relative_to(self._real_root):
            self.refuse(path, f"link out of the records root (to {real}); not read")
            return None
        return real

    def kind(self, path: Path) -> str | None:
        """'file' or 'dir' for an entry that may be read, None (refused or absent) otherwise."""
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        except OSError as e:
            self.refuse(path, f"cannot stat: {e.strerror}")
            return None
        if stat.S_ISLNK(st.st_mode):
            real = self.real(path)
            if real is None:
                return None
            st = real.stat()
        if stat.S_ISDIR(st.st_mode):
            return "dir"
        if stat.S_ISREG(st.st_mode):
            return "file"
        self.refuse(path, "not a regular file or folder (device, FIFO or socket); not read")
        return None

    def listdir(self, d: Path) -> list[Path] | None:
        """Sorted entries of `d`, counted against MAX_ENTRIES; None when unreadable or over the bound."""
        if self._stopped:
            return None
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            self.refuse(d, f"cannot list folder: {e.strerror}")
            return None
        self.entries += len(names)
        if self.entries > MAX_ENTRIES:
            self._stopped = True
            self.refuse(d, f"walk stopped: more than {MAX_ENTRIES} entries under the records root")
            return None
        return [d / n for n in names]

    # --- reads ------------------------------------------------------------------------
    def file(self, path: Path) -> Path | None:
        """`path` if it is a regular file that may be read (a refusal is recorded otherwise)."""
        return path if self.kind(path) == "file" else None

    def read(self, path: Path, warnings: list[str] | None = None) -> bytes | None:
        """At most the file's cap in bytes (head and tail when larger); None when refused."""
        if self.kind(path) != "file":
            return None
        cap = cap_for(path)
        if self.bytes_read >= MAX_TOTAL_BYTES:
            self.refuse(path, f"not read: the walk already read {MAX_TOTAL_BYTES} bytes")
            return None
        try:
            # O_NONBLOCK: should the entry have become a FIFO since kind() looked, open does not block.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            self.refuse(path, f"cannot open: {e.strerror}")
            return None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                self.refuse(path, "not a regular file; not read")
                return None
            if st.st_size <= cap:
                data = f.read(cap + 1)[:cap]
            else:
                half = cap // 2
                head = f.read(half)
                f.seek(max(half, st.st_size - half))
                data = head + b"\n" + f.read(half)
                if warnings is not None:
                    warnings.append(f"{path.name}: {st.st_size} bytes, over the {cap}-byte cap; "
                                    f"read its first and last {half} bytes")
        self.bytes_read += len(data)
        return data

    def files_under(self, folder: Path, suffix: str) -> list[Path]:
        """Files named *suffix under a record folder (links inside the root followed once), bounded."""
        out: list[Path] = []
        seen: set[Path] = set()

        def visit(d: Path, depth: int) -> None:
            real = d.resolve()
            if real in seen or depth > MAX_DEPTH:
                return
            seen.add(real)
            for p in self.listdir(d) or []:
                k = self.kind(p)
                if k == "dir":
                    visit(p, depth + 1)
                elif k == "file" and p.name.endswith(suffix):
                    if len(out) >= MAX_FILES_PER_RECORD:
                        self.refuse(p, f"not read: over {MAX_FILES_PER_RECORD} {suffix} files in one record")
                        continue
                    out.append(p)

        visit(folder, 0)
        return sorted(out)
