"""dag.json / dag.dot / dag.png / dag.svg, each written atomically.

Graphviz `dot` renders when the binary is installed (shutil.which); otherwise, or when an
installed `dot` fails (e.g. its layout plugins are not registered), a pure-Python drawing
(networkx layered layout + matplotlib Agg) with one warning line, so no system package is required.
The .dot text itself is built with the graphviz Python package, which needs no binary.
"""
from __future__ import annotations

import io
import logging
import shutil
import subprocess
from pathlib import Path

import graphviz

from causal_core.atomic import atomic_write_bytes, atomic_write_text
from causal_core.dag import skeleton
from causal_core.dag.models import DagResult

log = logging.getLogger(__name__)

COLOURS = {"expert_imposed": "#7f7f7f", "data_confirmed": "#2ca02c",
           "data_contradicted": "#d62728", "uncertain": "#ff7f0e"}
STYLE = {"data_contradicted": "dashed", "uncertain": "solid", "expert_imposed": "dotted", "data_confirmed": "bold"}


def _used(dag: DagResult) -> list[str]:
    """Nodes worth drawing: mediators, the outcome, and interventions some record uses."""
    used = {e.intervention for e in dag.effects if e.n_present or e.source != "prior_only"}
    return [n for n in dag.nodes if n in used or n in skeleton.MEDIATORS or n == skeleton.OUTCOME]


def to_dot(dag: DagResult) -> graphviz.Digraph:
    g = graphviz.Digraph("dag", graph_attr={"rankdir": "LR", "fontsize": "10"},
                         node_attr={"fontsize": "10", "shape": "box", "style": "rounded"})
    keep = set(_used(dag))
    for n in keep:
        shape = "ellipse" if n in skeleton.MEDIATORS else "doubleoctagon" if n == skeleton.OUTCOME else "box"
        g.node(n, shape=shape)
    for e in dag.edges:
        if e.source in keep and e.target in keep:
            g.edge(e.source, e.target, color=COLOURS[e.tag], style=STYLE[e.tag], tooltip=e.reason)
    return g


def _matplotlib(dag: DagResult, fmt: str) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx
    from matplotlib.lines import Line2D

    keep = _used(dag)
    g = nx.DiGraph()
    g.add_nodes_from(keep)
    for e in dag.edges:
        if e.source in g and e.target in g:
            g.add_edge(e.source, e.target, tag=e.tag)
    # columns = topological generations, so adoption edges (intervention -> intervention) show
    for depth, layer in enumerate(nx.topological_generations(g)):
        for n in layer:
            g.nodes[n]["layer"] = depth
    pos = nx.multipartite_layout(g, subset_key="layer", align="vertical")
    fig, ax = plt.subplots(figsize=(14, max(8, 0.32 * len(keep))))
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=60, node_color=["#9467bd" if n in skeleton.MEDIATORS or n == skeleton.OUTCOME else "#1f77b4" for n in g])
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=7, horizontalalignment="left")
    for tag, colour in COLOURS.items():
        es = [(u, v) for u, v, d in g.edges(data=True) if d["tag"] == tag]
        nx.draw_networkx_edges(g, pos, edgelist=es, ax=ax, edge_color=colour, arrows=True, arrowsize=8,
                               width=1.6 if tag == "data_confirmed" else 0.8,
                               style="dashed" if tag == "data_contradicted" else "solid")
    ax.legend(handles=[Line2D([], [], color=c, label=t) for t, c in COLOURS.items()], loc="lower right", fontsize=8)
    nxt = dag.next_intervention.intervention if dag.next_intervention else "none"
    ax.set_title(f"causal-golf DAG, cycle {dag.cycle}: {dag.n_records} records; next_intervention = {nxt}")
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _graphviz(dot: graphviz.Digraph) -> dict[str, bytes] | None:
    """PNG and SVG from the `dot` binary, or None (with one warning line) when it fails."""
    try:
        # quiet: dot's stderr is kept for the one warning line instead of echoed as is
        return {fmt: dot.pipe(format=fmt, quiet=True) for fmt in ("png", "svg")}
    except (graphviz.ExecutableNotFound, subprocess.CalledProcessError, OSError) as e:
        stderr = getattr(e, "stderr", None)
        detail = stderr.decode(errors="replace").strip().splitlines() if isinstance(stderr, bytes) else []
        why = detail[0] if detail else str(e).splitlines()[0]
        log.warning("warning: Graphviz dot failed (%s); drawing the DAG with matplotlib instead", why)
        return None


def render(dag: DagResult, out_dir) -> dict[str, Path]:
    """Write dag.json, dag.dot, dag.png and dag.svg into out_dir (each atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dot = to_dot(dag)
    # Render everything in memory first, so a failure leaves no half-set of files behind.
    images = _graphviz(dot) if shutil.which("dot") else None
    if images is None:
        images = {fmt: _matplotlib(dag, fmt) for fmt in ("png", "svg")}
    paths = {"json": out / "dag.json", "dot": out / "dag.dot", "png": out / "dag.png", "svg": out / "dag.svg"}
    atomic_write_bytes(paths["png"], images["png"])
    atomic_write_bytes(paths["svg"], images["svg"])
    atomic_write_text(paths["dot"], dot.source)
    atomic_write_text(paths["json"], dag.model_dump_json(indent=2) + "\n")   # last: its presence means complete
    return paths
