"""Embedded synthetic English-like corpus with an exactly computable entropy rate.

Each document is a sequence of *events* (visible choices) sampled from a small
probabilistic grammar; `render` turns events into text and `parse` recovers the
events from the text. Because `parse(render(e)) == e`, rendering is injective, so
the probability of a text equals the probability of its event sequence, which
`score` computes exactly (latent choices -- the document topic and which mixture
component picked a noun -- are summed out, not sampled into the score). The sum of
-log2 p over documents divided by their UTF-8 bytes is therefore the entropy of the
sample: no model can beat it in expectation (see docs/data.md).

Structure a language model can exploit, each tied to a model intervention:
- Zipfian lexicons of made-up words (nouns, verbs, adjectives, names): unigram stats.
- Document topics mixing into the noun/verb/adjective distributions: document context.
- Adjective->noun and verb->object collocations: local (hashed-)bigram structure.
- A protagonist named in the first sentence, later referred to by name (copying) or
  by a pronoun whose form depends on the name's ending; one tense per document:
  long-range agreement, so longer context helps.
- Subject-verb number agreement, determiners agreeing with nouns, sentence-initial
  capitals, commas/conjunctions, '.'/'!', and paragraph breaks.
"""
from __future__ import annotations

import bisect
import math
import random
import re
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np

GENERATOR_VERSION = 1

# Function words; lexicon stems (and their inflections) never collide with them.
FUNCTION_WORDS = ("once", "there", "was", "a", "named", "the", "some", "in", "near", "with",
                  "under", "and", "but", "ka", "mo")
PREPOSITIONS = ("in", "near", "with", "under")
PRONOUN = {True: "ka", False: "mo"}  # by name class (name ends in a/e/i or not)

# Topic-independent choice tables (probabilities are part of the process definition).
TENSE = {"pres": 0.5, "past": 0.5}
SUBJECT = {"name": 0.2, "pron": 0.3, "np": 0.5}
NUMBER = {"sg": 0.6, "pl": 0.4}
DET = {"sg": {"the": 0.6, "a": 0.4}, "pl": {"the": 0.5, "some": 0.5}}
CONJ = {"": 0.8, "and": 0.12, "but": 0.08}
PUNCT = {".": 0.9, "!": 0.1}
SEP = {" ": 0.85, "\n": 0.15}

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "t", "v", "z",
           "sh", "th", "ch", "br", "kr", "st", "tr", "pl", "gl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ee")
_CODAS = ("", "", "", "n", "r", "l", "m")


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 0
    n_topics: int = 16
    n_nouns: int = 1500
    n_verbs: int = 500
    n_adjs: int = 400
    n_names: int = 600
    zipf_s: float = 1.05
    topic_size: int = 60        # words in each topic's own Zipf list (per category)
    topic_weight: float = 0.5   # mixture weight of the topic list vs the global list
    n_collocates: int = 3       # preferred nouns per adjective / objects per verb
    colloc_prob: float = 0.35
    intro_adj_prob: float = 0.5
    adj_prob: float = 0.3
    pp_prob: float = 0.25
    min_sentences: int = 3
    stop_prob: float = 0.12     # per sentence after min_sentences: geometric doc length
    version: int = GENERATOR_VERSION

    def to_dict(self) -> dict:
        return asdict(self)


class ParseError(ValueError):
    pass


def _zipf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    return w / w.sum()


class Lexicon:
    """Word lists, topic distributions and collocations, all derived from the config seed."""

    def __init__(self, cfg: GeneratorConfig):
        self.cfg = cfg
        rng = random.Random(f"lexicon-{cfg.seed}")
        sizes = {"noun": cfg.n_nouns, "verb": cfg.n_verbs, "adj": cfg.n_adjs, "name": cfg.n_names}
        words = self._word_pool(rng, sum(sizes.values()))
        # Deal the pool (shortest first) so each category's frequent ranks get short words,
        # as in natural language.
        lists: dict[str, list[str]] = {k: [] for k in sizes}
        for w in words:
            k = min(sizes, key=lambda c: (len(lists[c]) / sizes[c], c))
            lists[k].append(w)
        self.nouns, self.verbs, self.adjs = lists["noun"], lists["verb"], lists["adj"]
        self.names = [w.capitalize() for w in lists["name"]]
        self.noun_id = {w: i for i, w in enumerate(self.nouns)}
        self.verb_id = {w: i for i, w in enumerate(self.verbs)}
        self.adj_id = {w: i for i, w in enumerate(self.adjs)}
        self.name_id = {w: i for i, w in enumerate(self.names)}

        k = cfg.n_topics
        self.name_p = _zipf(cfg.n_names, cfg.zipf_s)
        # p[cat][t, w]: topic t's distribution = mix of the global Zipf and a topic Zipf list.
        self.p: dict[str, np.ndarray] = {}
        for cat, n in (("noun", cfg.n_nouns), ("verb", cfg.n_verbs), ("adj", cfg.n_adjs)):
            g = _zipf(n, cfg.zipf_s)
            m = np.empty((k, n))
            tz = _zipf(min(cfg.topic_size, n), cfg.zipf_s)
            for t in range(k):
                own = np.zeros(n)
                own[rng.sample(range(n), len(tz))] = tz
                m[t] = (1 - cfg.topic_weight) * g + cfg.topic_weight * own
            self.p[cat] = m
        self.logp = {cat: np.log(m) for cat, m in self.p.items()}
        self.adj_coll = [tuple(rng.sample(range(cfg.n_nouns), cfg.n_collocates)) for _ in range(cfg.n_adjs)]
        self.verb_coll = [tuple(rng.sample(range(cfg.n_nouns), cfg.n_collocates)) for _ in range(cfg.n_verbs)]
        # Cumulative tables for fast sampling with bisect (same probabilities as self.p).
        self.cum = {cat: [np.cumsum(m[t]).tolist() for t in range(k)] for cat, m in self.p.items()}
        self.name_cum = np.cumsum(self.name_p).tolist()

    @staticmethod
    def _word_pool(rng: random.Random, n: int) -> list[str]:
        """`n` distinct vowel-final stems, shortest first. Vowel-final stems make the
        inflections (+s plural / 3sg, +d past) end in a consonant, so no inflected form
        equals a stem and distinct stems inflect to distinct words."""
        reserved = set(FUNCTION_WORDS)
        seen: set[str] = set()
        out: list[str] = []
        for n_syl in range(1, 6):
            batch = []
            for _ in range(n * 4 if n_syl > 1 else 500):
                syl = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if i < n_syl - 1 else "")
                       for i in range(n_syl)]
                w = "".join(syl)
                if w in seen or {w, w + "s", w + "d"} & reserved:
                    continue
                seen.add(w)
                batch.append(w)
            rng.shuffle(batch)
            out.extend(batch)
            if len(out) >= n:
                return out[:n]
        raise AssertionError("word pool too small")

    @staticmethod
    def name_class(name: str) -> bool:
        return name[-1] in "aei"


def _draw(rng: random.Random, table: dict) -> str:
    u = rng.random()
    acc = 0.0
    last = None
    for k, p in table.items():
        acc += p
        last = k
        if u < acc:
            return k
    return last


def _pick(rng: random.Random, cum: list[float]) -> int:
    return min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)


class Generator:
    def __init__(self, cfg: GeneratorConfig | None = None):
        self.cfg = cfg or GeneratorConfig()
        self.lex = Lexicon(self.cfg)

    # ---- sampling -------------------------------------------------------------------
    def sample_events(self, rng: random.Random) -> list[tuple]:
        cfg, lex = self.cfg, self.lex
        t = rng.randrange(cfg.n_topics)  # latent: never recorded, summed out in score()
        ev: list[tuple] = []
        tense = None  # drawn at the first verb: a tense with no verb to show it would be invisible

        def noun(ctx):
            coll = None if ctx is None else (lex.adj_coll if ctx[0] == "a" else lex.verb_coll)[ctx[1]]
            if coll is not None and rng.random() < cfg.colloc_prob:
                i = coll[rng.randrange(len(coll))]
            else:
                i = _pick(rng, lex.cum["noun"][t])
            ev.append(("noun", i, ctx))

        def np_(ctx):
            num = _draw(rng, NUMBER)
            ev.append(("num", num))
            ev.append(("det", _draw(rng, DET[num])))
            has_adj = rng.random() < cfg.adj_prob
            ev.append(("hasadj", has_adj))
            if has_adj:
                a = _pick(rng, lex.cum["adj"][t])
                ev.append(("adj", a))
                ctx = ("a", a)
            noun(ctx)

        def clause():
            subj = _draw(rng, SUBJECT)
            ev.append(("subj", subj))
            if subj == "np":
                np_(None)
            nonlocal tense
            if tense is None:
                tense = _draw(rng, TENSE)
                ev.append(("tense", tense))
            v = _pick(rng, lex.cum["verb"][t])
            ev.append(("verb", v))
            np_(("v", v))
            pp = rng.random() < cfg.pp_prob
            ev.append(("haspp", pp))
            if pp:
                ev.append(("prep", rng.choice(PREPOSITIONS)))
                np_(None)

        ev.append(("name", _pick(rng, lex.name_cum)))
        has_adj = rng.random() < cfg.intro_adj_prob
        ev.append(("iadj", has_adj))
        ctx = None
        if has_adj:
            a = _pick(rng, lex.cum["adj"][t])
            ev.append(("adj", a))
            ctx = ("a", a)
        noun(ctx)
        n_sent = 1
        while True:
            if n_sent >= cfg.min_sentences:
                stop = rng.random() < cfg.stop_prob
                ev.append(("stop", stop))
                if stop:
                    return ev
            ev.append(("sep", _draw(rng, SEP)))
            clause()
            conj = _draw(rng, CONJ)
            ev.append(("conj", conj))
            if conj:
                clause()
            ev.append(("punct", _draw(rng, PUNCT)))
            n_sent += 1

    # ---- rendering (mirrors sample_events) ----------------------------------------
    def render(self, ev: list[tuple]) -> str:
        lex, cfg = self.lex, self.cfg
        it = iter(ev)

        def nxt():
            return next(it)

        tense = None
        name = lex.names[nxt()[1]]
        pron = PRONOUN[lex.name_class(name)]

        def np_() -> tuple[list[str], str]:
            num = nxt()[1]
            ws = [nxt()[1]]
            if nxt()[1]:
                ws.append(lex.adjs[nxt()[1]])
            n = lex.nouns[nxt()[1]]
            ws.append(n + "s" if num == "pl" else n)
            return ws, num

        def clause() -> list[str]:
            nonlocal tense
            subj = nxt()[1]
            if subj == "np":
                ws, num = np_()
            else:
                ws, num = [name if subj == "name" else pron], "sg"
            e = nxt()
            if e[0] == "tense":
                tense = e[1]
                e = nxt()
            v = lex.verbs[e[1]]
            ws.append(v + "d" if tense == "past" else v + "s" if num == "sg" else v)
            ws += np_()[0]
            if nxt()[1]:
                ws.append(nxt()[1])
                ws += np_()[0]
            return ws

        words = ["Once", "there", "was", "a"]
        if nxt()[1]:
            words.append(lex.adjs[nxt()[1]])
        words += [lex.nouns[nxt()[1]], "named", name + "."]
        parts = [" ".join(words)]
        n_sent = 1
        while True:
            if n_sent >= cfg.min_sentences and nxt()[1]:
                break
            sep = nxt()[1]
            ws = clause()
            conj = nxt()[1]
            if conj:
                ws[-1] += ","
                ws.append(conj)
                ws += clause()
            ws[-1] += nxt()[1]
            ws[0] = ws[0][0].upper() + ws[0][1:]
            parts += [sep, " ".join(ws)]
            n_sent += 1
        return "".join(parts)

    # ---- parsing: the left inverse of render (proves injectivity) -------------------
    _INTRO = re.compile(r"Once there was a (?:([a-z]+) )?([a-z]+) named ([A-Z][a-z]+)\.")
    _SENT = re.compile(r"([ \n])([A-Za-z, ]+)([.!])")

    def parse(self, text: str) -> list[tuple]:
        lex, cfg = self.lex, self.cfg
        m = self._INTRO.match(text)
        if not m or m.group(3) not in lex.name_id:
            raise ParseError(f"bad intro: {text[:80]!r}")
        name = m.group(3)
        pron = PRONOUN[lex.name_class(name)]
        ev: list[tuple] = []
        ev.append(("name", lex.name_id[name]))
        ctx = None
        ev.append(("iadj", m.group(1) is not None))
        if m.group(1) is not None:
            a = self._lookup(lex.adj_id, m.group(1))
            ev.append(("adj", a))
            ctx = ("a", a)
        ev.append(("noun", self._lookup(lex.noun_id, m.group(2)), ctx))
        tense = None

        def np_(toks: list[str], ctx) -> str:
            det = toks.pop(0)
            w = toks.pop(0)
            adj = lex.adj_id.get(w)
            if w in lex.noun_id or (w.endswith("s") and w[:-1] in lex.noun_id):
                pass
            elif adj is None:
                raise ParseError(f"expected adjective or noun, got {w!r}")
            else:
                ctx = ("a", adj)
                w = toks.pop(0)
            if w in lex.noun_id:
                num, i = "sg", lex.noun_id[w]
            elif w.endswith("s") and w[:-1] in lex.noun_id:
                num, i = "pl", lex.noun_id[w[:-1]]
            else:
                raise ParseError(f"expected noun, got {w!r}")
            if det not in DET[num]:
                raise ParseError(f"determiner {det!r} does not agree with {w!r}")
            ev.extend([("num", num), ("det", det), ("hasadj", adj is not None)])
            if adj is not None:
                ev.append(("adj", adj))
            ev.append(("noun", i, ctx))
            return num

        def clause(toks: list[str]) -> None:
            nonlocal tense
            w = toks[0]
            if w == name:
                ev.append(("subj", "name"))
                toks.pop(0)
                num = "sg"
            elif w == pron:
                ev.append(("subj", "pron"))
                toks.pop(0)
                num = "sg"
            else:
                ev.append(("subj", "np"))
                num = np_(toks, None)
            v = toks.pop(0)
            if v.endswith("d") and v[:-1] in lex.verb_id:
                vt, i = "past", lex.verb_id[v[:-1]]
            elif num == "sg" and v.endswith("s") and v[:-1] in lex.verb_id:
                vt, i = "pres", lex.verb_id[v[:-1]]
            elif num == "pl" and v in lex.verb_id:
                vt, i = "pres", lex.verb_id[v]
            else:
                raise ParseError(f"expected verb agreeing with a {num} subject, got {v!r}")
            if tense is None:
                tense = vt
                ev.append(("tense", vt))
            elif vt != tense:
                raise ParseError(f"tense changes at {v!r}")
            ev.append(("verb", i))
            np_(toks, ("v", i))
            ev.append(("haspp", bool(toks)))
            if toks:
                p = toks.pop(0)
                if p not in PREPOSITIONS:
                    raise ParseError(f"expected preposition, got {p!r}")
                ev.append(("prep", p))
                np_(toks, None)
                if toks:
                    raise ParseError(f"trailing words {toks!r}")

        pos = m.end()
        n_sent = 1
        while True:
            if n_sent >= cfg.min_sentences:
                ev.append(("stop", pos == len(text)))
                if pos == len(text):
                    break
            s = self._SENT.match(text, pos)
            if not s:
                raise ParseError(f"bad sentence at {pos}: {text[pos:pos + 80]!r}")
            ev.append(("sep", s.group(1)))
            body = s.group(2)
            first = body.split(" ", 1)[0]
            if first not in lex.name_id:  # undo the sentence-initial capital
                if not first[:1].isupper():
                    raise ParseError(f"sentence must start with a capital: {body[:40]!r}")
                body = body[0].lower() + body[1:]
            clauses = body.split(", ")
            if len(clauses) > 2:
                raise ParseError(f"too many clauses: {body!r}")
            clause(clauses[0].split(" "))
            if len(clauses) == 2:
                conj, _, rest = clauses[1].partition(" ")
                if conj not in CONJ or not conj:
                    raise ParseError(f"bad conjunction {conj!r}")
                ev.append(("conj", conj))
                clause(rest.split(" "))
            else:
                ev.append(("conj", ""))
            ev.append(("punct", s.group(3)))
            pos = s.end()
            n_sent += 1
        return ev

    @staticmethod
    def _lookup(table: dict, w: str) -> int:
        if w not in table:
            raise ParseError(f"unknown word {w!r}")
        return table[w]

    # ---- exact log-probability ------------------------------------------------------
    def score(self, ev: list[tuple]) -> float:
        """Natural-log probability of an event sequence (= of its text), topic summed out."""
        cfg, lex = self.cfg, self.lex
        lp = 0.0
        adjs: list[int] = []
        verbs: list[int] = []
        nouns: list[int] = []
        colls: list[tuple | None] = []
        det_num = "sg"
        for e in ev:
            k, v = e[0], e[1]
            if k == "tense":
                lp += math.log(TENSE[v])
            elif k == "name":
                lp += math.log(lex.name_p[v])
            elif k == "iadj":
                lp += math.log(cfg.intro_adj_prob if v else 1 - cfg.intro_adj_prob)
            elif k == "hasadj":
                lp += math.log(cfg.adj_prob if v else 1 - cfg.adj_prob)
            elif k == "haspp":
                lp += math.log(cfg.pp_prob if v else 1 - cfg.pp_prob)
            elif k == "stop":
                lp += math.log(cfg.stop_prob if v else 1 - cfg.stop_prob)
            elif k == "prep":
                lp -= math.log(len(PREPOSITIONS))
            elif k == "subj":
                lp += math.log(SUBJECT[v])
            elif k == "num":
                lp += math.log(NUMBER[v])
                det_num = v
            elif k == "det":
                lp += math.log(DET[det_num][v])
            elif k == "conj":
                lp += math.log(CONJ[v])
            elif k == "punct":
                lp += math.log(PUNCT[v])
            elif k == "sep":
                lp += math.log(SEP[v])
            elif k == "adj":
                adjs.append(v)
            elif k == "verb":
                verbs.append(v)
            elif k == "noun":
                nouns.append(v)
                ctx = e[2]
                colls.append(None if ctx is None else (lex.adj_coll if ctx[0] == "a" else lex.verb_coll)[ctx[1]])
            else:
                raise ValueError(f"unknown event {e!r}")
        # Per-topic log-likelihood of the topic-dependent choices, then log-mean-exp over topics.
        per_topic = lex.logp["adj"][:, adjs].sum(1) + lex.logp["verb"][:, verbs].sum(1)
        pn = lex.p["noun"][:, nouns]  # (K, n)
        c = cfg.colloc_prob
        for j, coll in enumerate(colls):
            if coll is not None:
                pn[:, j] = (1 - c) * pn[:, j] + c * coll.count(nouns[j]) / len(coll)
        per_topic = per_topic + np.log(pn).sum(1)
        mx = per_topic.max()
        lp += float(mx + np.log(np.exp(per_topic - mx).sum()) - math.log(cfg.n_topics))
        return lp

    # ---- corpus ---------------------------------------------------------------------
    def documents(self, seed: int | None = None) -> Iterator[tuple[str, list[tuple]]]:
        """Endless stream of (text, events), deterministic in (config, seed)."""
        rng = random.Random(f"docs-{self.cfg.seed if seed is None else seed}")
        while True:
            ev = self.sample_events(rng)
            yield self.render(ev), ev


def generate_corpus(cfg: GeneratorConfig, n_bytes: int) -> tuple[list[str], list[float]]:
    """Documents totalling at least `n_bytes` UTF-8 bytes, and each one's exact
    natural-log probability under the process."""
    gen = Generator(cfg)
    texts: list[str] = []
    logps: list[float] = []
    total = 0
    for text, ev in gen.documents():
        texts.append(text)
        logps.append(gen.score(ev))
        total += len(text)  # ASCII only: characters == bytes
        if total >= n_bytes:
            break
    return texts, logps


def entropy_bpb(texts: list[str], logps: list[float]) -> float:
    """Bits per UTF-8 byte of the sample: sum(-log2 p(doc)) / sum(bytes)."""
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return -sum(logps) / math.log(2) / n_bytes
