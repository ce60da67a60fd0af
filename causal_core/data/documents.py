"""How a plain text file becomes documents (each gets its own BOS in the shards).

Rule: paragraphs are separated by blank lines (lines holding only whitespace).
Consecutive paragraphs of one file are packed into a document until it reaches
`min_chars` characters (so a file of short speeches, like tinyshakespeare, does not
get a BOS every 150 bytes); a paragraph longer than `max_chars` (a file with no blank
lines) is cut at line ends into pieces of at most about `max_chars`. Documents never
span two files. Inside a document the text is kept verbatim (paragraphs re-joined by
one blank line), except that each document is stripped of leading/trailing
whitespace: after BOS the challenge's byte count treats a leading space as 0 bytes.
"""
from __future__ import annotations

import re

_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n\s*")
DEFAULT_MIN_CHARS = 1000
DEFAULT_MAX_CHARS = 20000


def _cut_long(par: str, max_chars: int) -> list[str]:
    if len(par) <= max_chars:
        return [par]
    pieces, cur, n = [], [], 0
    for line in par.split("\n"):
        if cur and n + len(line) + 1 > max_chars:
            pieces.append("\n".join(cur))
            cur, n = [], 0
        cur.append(line)
        n += len(line) + 1
    if cur:
        pieces.append("\n".join(cur))
    return [p.strip() for p in pieces if p.strip()]


def split_documents(text: str, *, min_chars: int = DEFAULT_MIN_CHARS,
                    max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    text = text.replace("\r\n", "\n")
    paragraphs: list[str] = []
    for par in _BLANK_LINES.split(text):
        par = par.strip()
        if par:
            paragraphs.extend(_cut_long(par, max_chars))
    docs: list[str] = []
    cur: list[str] = []
    n = 0
    for par in paragraphs:
        cur.append(par)
        n += len(par) + 2
        if n >= min_chars:
            docs.append("\n\n".join(cur))
            cur, n = [], 0
    if cur:  # a short tail joins the previous document rather than standing alone
        if docs and n < min_chars // 2:
            docs[-1] = docs[-1] + "\n\n" + "\n\n".join(cur)
        else:
            docs.append("\n\n".join(cur))
    return docs
