"""Find intervention mentions in a piece of text, with polarity.

A mention is positive, negated (dropped: "without QAT", "(vs 9 baseline)"), a veto (the
text says plainly the final run did not use it: "No TTT", "LATE_QAT ... had no effect"),
or an explicit OFF assignment (`QAT=0`). `decide()` turns a record's mentions into
its intervention set. Patterns come from `spellings.py`; nothing here names a technique.
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

Cond = tuple | None

from causal_core.records import spellings

# Letter/digit boundaries instead of \b: `_` separates words in folder names and env names.
_LEAD = r"(?<![^\W_])"
_TRAIL = r"(?![^\W\d_])"
_CLAUSE_END = re.compile(r"[.!?](?=\s|$)|[;|\n]|\s[-–—]\s")
_NEG_BEFORE = re.compile(spellings.NEGATION_BEFORE, re.I)
_NEG_AFTER = re.compile(spellings.NEGATION_AFTER, re.I)
_VETO_AFTER = re.compile(spellings.VETO_AFTER, re.I)
_VETO_BEFORE = re.compile(r"^[^A-Za-z]*no\s+$|[,(:]\s*no\s+$", re.I)
# A veto in a clause about another PR or a metric label ("Quantized BPB (no TTT)") says nothing
# about this record's final configuration.
_OTHER_WORK = re.compile(r"PR\s*#\s*\d+|@\w+|\bbpb\b|val_loss|\bnats\b", re.I)
_VALUE = r"[\"']?(\d{1,3}(?:,\d{3})+(?![\d.])|[\w.+-]+)"


@dataclass
class Mention:
    name: str
    kind: str                   # "text" | "env"
    polarity: str               # "pos" | "neg" | "veto" | "off"
    source: str
    span: str
    attrs: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _compiled():
    """One alternation per canonical name (one pass per name instead of one per spelling);
    group names get a per-spelling prefix `s<i>_` so each spelling keeps its own condition."""
    grouped: dict[str, list[tuple[int, str, Cond]]] = {}
    for i, (name, rx, cond) in enumerate(spellings.TEXT):
        grouped.setdefault(name, []).append((i, rx, cond))
    text = []
    for name, items in grouped.items():
        parts, conds = [], {}
        for i, rx, cond in items:
            parts.append(f"(?P<s{i}>" + re.sub(r"\(\?P<(\w+)>", rf"(?P<s{i}_\1>", rx) + ")")
            conds[f"s{i}"] = cond
        text.append((name, re.compile(_LEAD + "(?:" + "|".join(parts) + ")" + _TRAIL, re.I), conds))
    # All assignments in one pass; the variable found is then matched against each entry.
    env_any = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(f"(?:{v})" for _, v, _, _ in spellings.ENV)
                         + r")\s*=\s*" + _VALUE)
    env = [(name, re.compile(var), attr, cond) for name, var, attr, cond in spellings.ENV]
    return text, (env_any, env)


def _num(s: str):
    try:
        f = float(s.replace(",", ""))
    except ValueError:
        low = s.lower()
        if low in ("true", "yes", "on"):
            return 1
        if low in ("false", "no", "off", "none", "null"):
            return 0
        return s
    if not math.isfinite(f):
        return s
    return int(f) if f.is_integer() and "." not in s else f


def _holds(cond, value) -> bool:
    if cond is None:
        return True
    op = cond[0]
    if op == "ne_str":
        return str(value).lower() != cond[1]
    if isinstance(value, str):
        return op == "truthy" and value.lower() not in ("0", "false", "none", "off", "")
    if op == "truthy":
        return bool(value)
    if op == "gt":
        return value > cond[1]
    if op == "ge":
        return value >= cond[1]
    if op == "lt":
        return value < cond[1]
    if op == "ne":
        return not math.isclose(value, cond[1], rel_tol=1e-9)
    if op == "between":
        return cond[1] < value < cond[2]
    raise ValueError(f"unknown condition {cond!r}")


# Encoded values in names: WD085 -> 0.085, Muon097 -> 0.97, "4k seq" -> 4096, "786K batch" -> 786432.
_DECODE = {
    "wd_code": ("wd", lambda s: float("0." + s)),
    "muon_momentum_code": ("muon_momentum", lambda s: float("0." + s[1:])),
    "seq_len_k": ("seq_len", lambda s: int(s) * 1024),
    "batch_k": ("batch_tokens", lambda s: int(s) * 1000),
    "bits_b": ("bits", int),
}


def _attrs(groups: dict) -> dict:
    out = {}
    for k, v in groups.items():
        if v is None:
            continue
        if k in _DECODE:
            k, fn = _DECODE[k]
            out[k] = fn(v)
        else:
            out[k] = _num(v)
    if "bits_a" in out and "bits_c" in out:
        out = {"bits": f"int{out.pop('bits_a')}/int{out.pop('bits_c')}", **out}
    return out


def _cond_value(name: str, attrs: dict):
    # The condition reads the first numeric attribute of the pattern (e.g. layers for "11L").
    for v in attrs.values():
        if isinstance(v, (int, float)):
            return v
    return None


class Clauses:
    """Clause boundaries of a text: negation never crosses a sentence, table cell or bullet."""

    def __init__(self, text: str):
        self.text = text
        self.ends = [m.start() for m in _CLAUSE_END.finditer(text)]

    def around(self, start: int, end: int) -> tuple[int, int]:
        i = bisect.bisect_left(self.ends, start)
        lo = self.ends[i - 1] + 1 if i > 0 else 0
        j = bisect.bisect_left(self.ends, end)
        hi = self.ends[j] if j < len(self.ends) else len(self.text)
        return lo, hi


def _evidence(text: str, lo: int, hi: int, start: int, end: int) -> str:
    span = text[lo:hi].strip(" |*-\t")
    if len(span) > 200:
        a = max(lo, start - 90)
        span = text[a:min(hi, end + 90)].strip()
    return " ".join(span.split())


def scan(text: str, source: str, negative_context: bool = False) -> list[Mention]:
    """All mentions in `text`. With negative_context (a 'what didn't work' section) every
    positive mention is demoted to negated."""
    text_rx, env_rx = _compiled()
    clauses = Clauses(text)
    out: list[Mention] = []
    for name, rx, conds in text_rx:
        for m in rx.finditer(text):
            which = next(k for k in conds if m.group(k) is not None)
            cond = conds[which]
            attrs = _attrs({k[len(which) + 1:]: v for k, v in m.groupdict().items()
                            if k.startswith(which + "_")})
            value = _cond_value(name, attrs)
            if cond is not None and value is not None and not _holds(cond, value):
                continue            # a stated baseline value ("9L", "MLP 2x"): no mention at all
            lo, hi = clauses.around(m.start(), m.end())
            before, after = text[lo:m.start()], text[m.end():hi]
            if _VETO_BEFORE.search(before) or _VETO_AFTER.search(after):
                # "PR #1412: parallel residuals, no TTT" is another record; "BPB (no TTT)" a metric.
                pol = "neg" if _OTHER_WORK.search(text[lo:hi]) else "veto"
            elif negative_context or _NEG_BEFORE.search(before) or _NEG_AFTER.search(after):
                pol = "neg"
            else:
                pol = "pos"
            out.append(Mention(name, "text", pol, source, _evidence(text, lo, hi, m.start(), m.end()), attrs))
    env_any, env_specs = env_rx
    for m in env_any.finditer(text):
        var, value = m.group(1), _num(m.group(2))
        lo, hi = clauses.around(m.start(), m.end())
        for name, var_rx, attr, cond in env_specs:
            if not var_rx.fullmatch(var):
                continue
            on = _holds(cond, value)
            pol = "neg" if negative_context else ("pos" if on else "off")
            out.append(Mention(name, "env", pol, source, _evidence(text, lo, hi, m.start(), m.end()),
                               {attr: value} if on else {}))
    return out


@dataclass
class Decision:
    name: str
    attributes: dict
    evidence: list[Mention]


def decide(mentions: list[Mention]) -> list[Decision]:
    """The final configuration: a plain veto beats everything; an explicit ON assignment
    beats an OFF one; an OFF assignment beats prose; otherwise any positive mention counts."""
    by_name: dict[str, list[Mention]] = {}
    for m in mentions:
        by_name.setdefault(m.name, []).append(m)
    out = []
    for name, ms in by_name.items():
        pols = {(m.kind, m.polarity) for m in ms}
        if any(p == "veto" for _, p in pols):
            continue
        env_on = ("env", "pos") in pols
        if not (env_on or (("text", "pos") in pols and ("env", "off") not in pols)):
            continue
        pos = [m for m in ms if m.polarity == "pos"]
        attrs: dict = {}
        for m in pos:           # mentions arrive in source-priority order: first stated value wins
            for k, v in m.attrs.items():
                attrs.setdefault(k, v)
        out.append(Decision(name, attrs, pos))
    return out
