"""causal_core's imports read one way: no import circles, every module imports on its own,
and no Prefect import in the domain layer.

Two checks, because each alone misses something:
  * the static graph counts every import, also the ones inside functions, which is how the
    old circles (runner <-> sequential <-> stats, cycle <-> stack) hid: lazy imports load
    fine in every order, yet still tie the modules together;
  * the import check runs each module first, in a child interpreter with no causal_core
    module loaded, which catches a module that only works when another was imported first.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "causal_core"


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """causal_core modules `name` imports anywhere in its body. `from pkg import sub` is an
    edge to pkg.sub (importing a submodule always runs its package's __init__ anyway)."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text())
    # Imports under `if TYPE_CHECKING:` never run: annotations only, not an import circle.
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in mods and t != name)
    return out


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_circles_in_causal_core():
    mods = _modules()
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    assert _circles(graph) == []


def test_circle_finder_finds_a_circle():
    """The check above can fail: a two-module and a three-module circle are found, a chain is not."""
    g = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}, "g": set()}
    assert sorted(_circles(g)) == [["a", "b"], ["c", "d", "e"]]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_two_old_circles_read_one_way():
    mods = _modules()
    imp = {m: _imports(m, p, mods) for m, p in mods.items()}
    ex = "causal_core.experiments."
    assert ex + "results" in imp[ex + "runner"] and ex + "results" in imp[ex + "stats"]
    assert ex + "runner" not in imp[ex + "sequential"] | imp[ex + "stats"] | imp[ex + "results"]
    assert ex + "stats" in imp[ex + "sequential"] and ex + "sequential" not in imp[ex + "stats"]
    assert "causal_core.loop.cycle" not in imp["causal_core.loop.stack"]


def test_no_prefect_import_in_causal_core():
    mods = _modules()
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "prefect" for n in names), f"{m} imports Prefect"


_CHILD = r"""
import importlib, json, sys, traceback
failed = {}
for name in json.loads(sys.argv[1]):
    for m in [m for m in sys.modules if m == "causal_core" or m.startswith("causal_core.")]:
        del sys.modules[m]
    try:
        importlib.import_module(name)
    except BaseException:
        failed[name] = traceback.format_exc(limit=-3)
print(json.dumps(failed))
"""


def test_each_module_imports_on_its_own():
    """Each module is imported first, with no causal_core module loaded (third-party
    libraries stay loaded between modules: a circle is a causal_core matter, and one
    interpreter per module would cost ~100 interpreter starts)."""
    names = list(_modules())
    r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(names)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {}


def test_old_circles_import_in_a_fresh_interpreter():
    """The modules of the old circles, each first in its own fresh interpreter."""
    for name in ("causal_core.experiments.sequential", "causal_core.experiments.stats", "causal_core.loop.stack"):
        r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{name}: {r.stderr[-1500:]}"


def test_production_code_does_not_ask_whether_pytest_is_loaded():
    """Behaviour is chosen by explicit parameters or settings, never by sniffing the test runner."""
    for top in ("causal_core", "flows", "tasks", "deployments"):
        for p in (ROOT / top).rglob("*.py"):
            assert "sys.modules" not in p.read_text() or '"pytest"' not in p.read_text(), p
