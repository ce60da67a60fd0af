"""Check the expert skeleton against the records with causal-learn's FCI.

Why FCI: three of the four mediators are latent, and stacks are adopted together, so
causal sufficiency fails; FCI's PAG allows latent confounders where PC does not.
Why G-square (causal-learn `gsq`): the interventions are binary. causal-learn 0.1.4.8 has
no mixed-data test (fisherz assumes joint Gaussianity, KCI needs far more than ~45 rows),
so val_bpb and artifact_bytes are cut into tertiles and every test is a discrete G-test,
whose degrees of freedom causal-learn reduces for empty cells (what keeps sparse tables honest).
Why alpha = 0.01 and depth = 2: with ~45 records a conditioning set of k binary variables
splits the data into 2^k strata; beyond k=2 strata hold ~5 records and the test has no power,
so deeper tests would only delete edges by noise. alpha=0.01 keeps spurious adjacencies
(from stack co-occurrence) rare, and we never delete an expert edge on non-adjacency alone.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np
from causallearn.search.ConstraintBased.FCI import fci
from causallearn.utils.PCUtils.BackgroundKnowledge import BackgroundKnowledge
from causallearn.graph.GraphNode import GraphNode

from causal_core.dag import skeleton
from causal_core.dag.encode import Encoding
from causal_core.dag.models import FciReport

ALPHA = 0.01
DEPTH = 2
TEST = "gsq"


@dataclass
class Pag:
    variables: list[str]
    adjacent: set[frozenset[str]] = field(default_factory=set)
    reversed_: set[tuple[str, str]] = field(default_factory=set)   # (a, b): PAG says b --> a definitely

    def is_adjacent(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.adjacent


def tertiles(v: np.ndarray) -> np.ndarray:
    cuts = np.quantile(v, [1 / 3, 2 / 3])
    return np.digitize(v, cuts, right=True).astype(float)


def min_count(n: int) -> int:
    """A column needs this many records on each side to be tested at all."""
    return max(2, int(np.ceil(0.05 * n)))


def design(enc: Encoding) -> tuple[np.ndarray, list[str], list[str]]:
    """The matrix FCI sees: varying presence columns, then artifact_bytes, then val_bpb (tertiles)."""
    k = min_count(enc.n)
    counts = enc.presence.sum(axis=0)
    keep = [j for j, c in enumerate(counts) if k <= c <= enc.n - k]
    dropped = [enc.names[j] for j, c in enumerate(counts) if 0 < c and j not in keep]
    cols = [enc.presence[:, j] for j in keep]
    names = [enc.names[j] for j in keep]
    if enc.artifact_bytes is not None and np.ptp(enc.artifact_bytes) > 0:
        cols.append(tertiles(enc.artifact_bytes))
        names.append("artifact_bytes")
    cols.append(tertiles(enc.y))
    names.append(skeleton.OUTCOME)
    return np.column_stack(cols), names, dropped


def background(names: list[str]) -> BackgroundKnowledge:
    """Tiers: interventions (0) -> artifact_bytes (1) -> val_bpb (2); nothing points back."""
    bk = BackgroundKnowledge()
    for n in names:
        tier = 2 if n == skeleton.OUTCOME else 1 if n in skeleton.MEDIATORS else 0
        bk.add_node_to_tier(GraphNode(n), tier)
    bk.forbid_within_tier(1)
    bk.forbid_within_tier(2)
    return bk


def run_fci(data: np.ndarray, names: list[str], alpha: float = ALPHA, depth: int = DEPTH,
            test: str = TEST, bk: BackgroundKnowledge | None = None) -> Pag:
    with contextlib.redirect_stdout(io.StringIO()):   # causal-learn prints each BK orientation
        g, _ = fci(data, test, alpha, depth=depth, background_knowledge=bk, show_progress=False,
                   node_names=names, verbose=False)
    return pag_from_matrix(g.graph, names)


def pag_from_matrix(m: np.ndarray, names: list[str]) -> Pag:
    # causal-learn encodes i --> j as m[j, i] == 1 and m[i, j] == -1.
    pag = Pag(variables=list(names))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if m[i, j] != 0 or m[j, i] != 0:
                pag.adjacent.add(frozenset((names[i], names[j])))
                if m[j, i] == 1 and m[i, j] == -1:
                    pag.reversed_.add((names[j], names[i]))   # i --> j contradicts an expert j -> i
                if m[i, j] == 1 and m[j, i] == -1:
                    pag.reversed_.add((names[i], names[j]))
    return pag


def validate(enc: Encoding, alpha: float = ALPHA, depth: int = DEPTH) -> tuple[Pag | None, FciReport]:
    """Run FCI, or explain why the expert skeleton is kept unvalidated (degenerate input/output)."""
    rep = FciReport(ran=False, alpha=alpha, depth=depth, test=TEST, n_records=enc.n)
    if enc.n < 3:
        rep.fallback = f"only {enc.n} usable record(s); no test is possible"
        return None, rep
    data, names, dropped = design(enc)
    rep.variables, rep.dropped_constant = names, dropped
    if len(names) < 2 or np.ptp(data[:, -1]) == 0:
        rep.fallback = "val_bpb or every intervention column is (near-)constant"
        return None, rep
    # count every intervention some record uses, not only the columns that survive the
    # near-constant filter: with few records that filter would hide how underdetermined we are
    n_vars = int((enc.presence.sum(axis=0) > 0).sum()) + len(names) - sum(n in enc.names for n in names)
    if enc.n < n_vars:
        rep.fallback = f"{enc.n} records for {n_vars} variables: too few to test independences"
        return None, rep
    try:
        pag = run_fci(data, names, alpha, depth, bk=background(names))
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, FloatingPointError, AssertionError) as e:
        rep.fallback = f"FCI failed numerically ({type(e).__name__}: {e}); expert skeleton kept"
        return None, rep
    n_pairs = len(names) * (len(names) - 1) // 2
    if not pag.adjacent:
        rep.fallback = "FCI returned an empty graph (no dependence detectable); expert skeleton kept"
        return None, rep
    if len(pag.adjacent) == n_pairs:
        rep.fallback = "FCI returned a fully connected graph; expert skeleton kept"
        return None, rep
    rep.ran = True
    rep.pag_edges = sorted(" - ".join(sorted(p)) for p in pag.adjacent)
    return pag, rep
