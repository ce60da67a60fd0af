"""README structure: sections, tables, and the three table formats records use.

Format A: `| Change | <parent> | This | Impact |` (a row per change, often a Total row).
Format B: `| | <parent> | This |` (a row per metric or changed setting, parent vs this).
Format C: anything else (headings, bullets, the blurb): only the text matcher applies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from causal_core.records import spellings

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_NEG_HEADING = re.compile(spellings.NEGATIVE_HEADING)
_DELTA_HEADING = re.compile(spellings.DELTA_HEADING)
_NUM = re.compile(r"[-+−]?\d+\.\d+")
_REF = re.compile(r"PR\s*#?\s*(\d+)|(naive baseline|baseline)", re.I)
# A table row whose status cell says the change was thrown away.
_DISCARDED_ROW = re.compile(r"\|\s*\**(?:discard\w*|rejected|reverted|dropped|failed)\b", re.I)
_SAME = re.compile(r"^\(?same\b|\(same\)\s*$", re.I)
_METRIC_ROW = re.compile(r"bpb|loss|artifact|size|steps?\b|time|memory|everything else|params|bytes|ms/", re.I)


def clean(text: str) -> str:
    """Markdown noise that hides spellings: bold markers, escaped underscores, link targets."""
    text = text.replace("\\_", "_").replace("**", "").replace("__", " ")
    return re.sub(r"\]\((?:https?://|/)[^)]*\)", "]", text)


@dataclass
class Section:
    heading: str                        # "" for the text before the first heading
    path: tuple[str, ...]               # headings from the top, this one last
    body: str
    negative: bool = False              # a "what didn't work" / future-work section
    delta: bool = False                 # a "what's new over the parent" section


def sections(text: str) -> list[Section]:
    out: list[Section] = []
    stack: list[tuple[int, str]] = []
    cur_heading, buf = "", []
    in_code = False

    def flush():
        path = tuple(h for _, h in stack)
        neg = any(_NEG_HEADING.search(h) for h in path)
        delta = any(_DELTA_HEADING.search(h) for h in path)
        out.append(Section(cur_heading, path, "\n".join(buf), neg, delta))

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            flush()
            level, cur_heading, buf = len(m.group(1)), m.group(2).strip(), []
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, cur_heading))
        else:
            buf.append(line)
    flush()
    return [s for s in out if s.body.strip() or s.heading]


def prose(body: str) -> str:
    """The body without table rows: tables speak through `table_facts`, not as prose."""
    return "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("|"))


def split_discarded(body: str) -> tuple[str, str]:
    """(kept text, discarded table rows): rows marked discard/rejected are negative evidence."""
    kept, dropped = [], []
    for line in body.splitlines():
        (dropped if line.lstrip().startswith("|") and _DISCARDED_ROW.search(line) else kept).append(line)
    return "\n".join(kept), "\n".join(dropped)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    section: str


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|"):
        s = s[:-1]
    return [clean(c).strip() for c in s.split("|")]


def tables(text: str) -> list[Table]:
    out: list[Table] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _HEADING.match(lines[i])
        if m:
            section = m.group(2)
        if (lines[i].strip().startswith("|") and i + 1 < len(lines)
                and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", lines[i + 1]) and "-" in lines[i + 1]):
            header = _cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out.append(Table(header, rows, section))
            continue
        i += 1
    return out


def _num(cell: str) -> float | None:
    m = _NUM.search(cell.replace("−", "-"))
    return float(m.group(0).replace("−", "-")) if m else None


def _ref(cell: str) -> str | None:
    m = _REF.search(cell)
    if not m:
        return None
    return f"PR #{m.group(1)}" if m.group(1) else "Naive Baseline"


@dataclass
class TableFacts:
    fmt: str = "C"
    parent: str | None = None
    base_bpb: float | None = None
    this_bpb: float | None = None
    delta_bpb: float | None = None
    delta_rows: list[str] = field(default_factory=list)     # row labels naming a change
    evidence: str | None = None


def _is_format_a(h: list[str]) -> bool:
    return (len(h) >= 3 and re.search(r"change|technique|modification|component", h[0], re.I) is not None
            and re.search(r"impact|delta|effect|gain|Δ", h[-1], re.I) is not None)


def _is_format_b(h: list[str]) -> bool:
    return (len(h) == 3 and (h[0] == "" or re.fullmatch(r"metric|setting|component|change", h[0], re.I) is not None)
            and re.search(r"\bthis\b|ours|submission|new", h[2], re.I) is not None)


def table_facts(ts: list[Table]) -> TableFacts:
    """Parent, base/this bpb and changed rows from the first format A or B table."""
    for t in ts:
        h = t.header
        if _is_format_a(h):
            f = TableFacts(fmt="A", parent=_ref(h[1]) if len(h) >= 4 else None, evidence=" | ".join(h))
            for r in t.rows:
                label = r[0]
                if re.search(r"total", label, re.I):
                    nums = [_num(c) for c in r[1:]]
                    if len(h) >= 4 and nums[0] is not None and nums[1] is not None:
                        f.base_bpb, f.this_bpb = nums[0], nums[1]
                    f.delta_bpb = nums[-1]
                elif re.search(r"baseline|\bbase\b", " ".join(r[-1:] + r[:1]), re.I) and len(h) == 3:
                    f.base_bpb = _num(r[1])
                    f.parent = f.parent or _ref(label)
                else:
                    f.delta_rows.append(label)
            return f
        if _is_format_b(h):
            f = TableFacts(fmt="B", parent=_ref(h[1]), evidence=" | ".join(h))
            for r in t.rows:
                if len(r) < 3:
                    continue
                label = r[0]
                if re.search(r"bpb", label, re.I) and not re.search(r"pre[- ]?quant", label, re.I):
                    b, th = _num(r[1]), _num(r[2])
                    if b is not None and th is not None:
                        f.base_bpb, f.this_bpb = b, th
                elif not _METRIC_ROW.search(label) and r[1].strip() != r[2].strip() and not _SAME.search(r[2]):
                    f.delta_rows.append(label)
            if f.base_bpb is not None and f.this_bpb is not None:
                f.delta_bpb = round(f.this_bpb - f.base_bpb, 8)
            return f
    return TableFacts()


# The record's own headline score when submission.json does not give one.
_HEADLINE = [
    re.compile(r"val_bpb\s*[:=]?\s*\**\s*[:=]?\s*(\d\.\d{3,})", re.I),
    re.compile(r"(\d\.\d{3,})\s*(?:val_)?BPB", re.I),
]
_BOLD_BPB_LINE = re.compile(r"\*\*(\d\.\d{3,})\*\*")


def headline_bpb(text: str) -> tuple[float, str] | None:
    head = "\n".join(text.splitlines()[:25])
    for rx in _HEADLINE:
        m = rx.search(head)
        if m:
            return float(m.group(1)), m.group(0)
    # Last resort: the first bold score in the opening lines (a results table whose header says BPB).
    for line in text.splitlines()[:40]:
        m = _BOLD_BPB_LINE.search(line)
        if m and "bpb" in text.lower():
            return float(m.group(1)), line.strip()[:200]
    return None


def title(text: str) -> str | None:
    for line in text.splitlines()[:15]:
        m = _HEADING.match(line)
        if m and m.group(1) in ("#", "##"):
            return clean(m.group(2)).strip() or None
    return None
