"""Per-layer gradient norms over training, split into LR phases, correlated with the loss.

Our trainer logs them itself (GRAD_NORM_LOG=1 -> OUT_DIR/RUN_ID_gradnorms.jsonl). A foreign
trainer following the challenge's train_gpt_mlx.py conventions is instrumented on a COPY:

1. the LAST gradient-accumulation call (`... = accumulate*grad*(...)`) and its enclosing loop;
2. sentinel A: an assignment to `lr_mul` within 5 statements before that loop;
3. sentinel B: a `train_loss:` log string after the loop in the same block;
4. insert `_cg_log_grad_norms(step, lr_mul, <accumulator>[, train_loss])` right after the loop and
   the helper after the last top-level import; the result must pass ast.parse.
Any mismatch refuses with a message naming the missing sentinel; the original is never touched.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
from pathlib import Path

import numpy as np

from causal_core.atomic import atomic_write_text
from causal_core.diagnostics.common import (DEFAULT_OUT, DiagnosticError, Timer, out_folder, train_checkpoint,
                                         write_result)

SENTINEL_WINDOW = 5
MARK = "# >>> causal-golf grad-norm instrumentation"

HELPER = '''
# >>> causal-golf grad-norm instrumentation (helper)
def _cg_log_grad_norms(step, lr_mul, grads, loss=None):
    import json as _j, math as _m, os as _o
    import mlx.core as _mx
    from mlx.utils import tree_flatten as _tf
    path = _o.environ.get("GRAD_NORM_LOG_PATH")
    if not path:
        return
    flat = grads if isinstance(grads, dict) and all(hasattr(v, "shape") for v in grads.values()) else dict(_tf(grads))
    sq = {}
    for k, g in flat.items():
        p = k.split(".")
        layer = ".".join(p[:2]) if p[0] == "blocks" else p[0]
        sq[layer] = sq.get(layer, 0.0) + _mx.sum(g.astype(_mx.float32) ** 2)
    row = {"step": int(step) + 1, "lr_mul": float(lr_mul), "grad_norms": {k: _m.sqrt(float(v.item())) for k, v in sq.items()}}
    if loss is not None:
        row["train_loss"] = float(loss.item()) if hasattr(loss, "item") else float(loss)
    with open(path, "a", encoding="utf-8") as f:
        f.write(_j.dumps(row) + "\\n")
# <<< causal-golf grad-norm instrumentation (helper)
'''


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _bodies(node):
    for name in ("body", "orelse", "finalbody"):
        b = getattr(node, name, None)
        if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
            yield b
    for h in getattr(node, "handlers", []) or []:
        yield h.body


def _find_parent(tree, target):
    """(statement list, index) holding `target` directly."""
    stack = [tree]
    while stack:
        n = stack.pop()
        for body in _bodies(n):
            for i, s in enumerate(body):
                if s is target:
                    return body, i
                stack.append(s)
    return None, None


def _strings(node) -> list[str]:
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.append(n.value)
    return out


def instrument_source(src: str, name: str = "script") -> str:
    """Instrumented copy of a challenge-style trainer's source; DiagnosticError when the sentinels do not match."""
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise DiagnosticError(f"{name}: not valid Python ({e.msg} at line {e.lineno})") from None
    if MARK in src:
        raise DiagnosticError(f"{name}: already instrumented")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and re.search(r"accum", _call_name(n), re.I) and re.search(r"grad", _call_name(n), re.I)]
    if not calls:
        raise DiagnosticError(f"{name}: no gradient-accumulation call (accumulate*grad*(...)) found")
    call = max(calls, key=lambda n: (n.lineno, n.col_offset))
    # The enclosing loop: the innermost For/While whose body holds the call.
    loops = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))
             and n.lineno <= call.lineno <= n.end_lineno and any(call in list(ast.walk(s)) for s in n.body)]
    if not loops:
        raise DiagnosticError(f"{name}: the last gradient-accumulation call (line {call.lineno}) is not inside a loop")
    loop = max(loops, key=lambda n: n.lineno)
    assign = next((s for s in ast.walk(loop) if isinstance(s, ast.Assign) and s.value is call), None)
    if assign is None or not isinstance(assign.targets[0], ast.Name):
        raise DiagnosticError(f"{name}: the last gradient-accumulation call (line {call.lineno}) is not assigned to a name")
    acc_name = assign.targets[0].id
    body, idx = _find_parent(tree, loop)
    if body is None:
        raise DiagnosticError(f"{name}: cannot locate the accumulation loop (line {loop.lineno}) in its block")
    before = body[max(0, idx - SENTINEL_WINDOW):idx]
    lr = [s for s in before if isinstance(s, (ast.Assign, ast.AnnAssign))
          and any(isinstance(t, ast.Name) and t.id == "lr_mul" for t in (s.targets if isinstance(s, ast.Assign) else [s.target]))]
    if not lr:
        raise DiagnosticError(f"{name}: sentinel missing: no 'lr_mul = ...' within {SENTINEL_WINDOW} statements before the "
                              f"gradient-accumulation loop at line {loop.lineno}; refusing to instrument")
    after = body[idx + 1:]
    if not any("train_loss:" in s for st in after for s in _strings(st)):
        raise DiagnosticError(f"{name}: sentinel missing: no 'train_loss:' log line after the gradient-accumulation loop at "
                              f"line {loop.lineno}; refusing to instrument")
    if not any(isinstance(n, ast.Name) and n.id == "step" for n in ast.walk(loop)) and \
            not any(isinstance(n, ast.Name) and n.id == "step" for st in before for n in ast.walk(st)):
        raise DiagnosticError(f"{name}: no 'step' variable near the gradient-accumulation loop at line {loop.lineno}")
    loss_arg = ", train_loss" if any(isinstance(n, ast.Name) and n.id == "train_loss" and isinstance(n.ctx, ast.Store)
                                     for st in body[:idx + 1] for n in ast.walk(st)) else ""
    lines = src.splitlines(keepends=True)
    indent = re.match(r"\s*", lines[loop.lineno - 1]).group(0)
    hook = (f"{indent}{MARK}\n{indent}_cg_log_grad_norms(step, lr_mul, {acc_name}{loss_arg})\n"
            f"{indent}# <<< causal-golf grad-norm instrumentation\n")
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    helper_at = imports[-1].end_lineno if imports else 0
    if helper_at > loop.end_lineno:
        raise DiagnosticError(f"{name}: imports after the training loop; cannot place the helper")
    out = lines[:helper_at] + [HELPER] + lines[helper_at:loop.end_lineno] + [hook] + lines[loop.end_lineno:]
    text = "".join(out)
    try:
        ast.parse(text)
    except SyntaxError as e:
        raise DiagnosticError(f"{name}: instrumented copy does not parse ({e.msg} at line {e.lineno}); refusing") from None
    return text


def instrument_script(script: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Write an instrumented copy of `script` to `dest` (never the original)."""
    script, dest = Path(script), Path(dest)
    if not script.is_file():
        raise DiagnosticError(f"trainer script {script} does not exist")
    if dest.resolve() == script.resolve():
        raise DiagnosticError(f"refusing to overwrite the original script {script}")
    return atomic_write_text(dest, instrument_source(script.read_text(encoding="utf-8"), script.name))


# ---------------------------------------------------------------------------- analysis

def read_jsonl(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise DiagnosticError(f"gradient-norm log {p} does not exist (was GRAD_NORM_LOG=1 set?)")
    rows = []
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:         # a binary file given by mistake
        raise DiagnosticError(f"{p} is not a UTF-8 JSON-lines file (byte {e.start} is not UTF-8)") from None
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                raise DiagnosticError(f"{p}:{i} is not a JSON line") from None
            if not isinstance(row, dict):
                raise DiagnosticError(f"{p}:{i} is a JSON {type(row).__name__}, not an object")
            rows.append(row)
    if not rows:
        raise DiagnosticError(f"gradient-norm log {p} is empty")
    return rows


def phases(steps: list[int], lr: list[float], tol: float = 1e-6) -> dict[str, list[int]]:
    """warmup (before the LR first reaches its maximum), stable (at the maximum), warmdown (after it)."""
    if not steps:
        return {"warmup": [], "stable": [], "warmdown": []}
    m = max(lr)
    at_max = [i for i, v in enumerate(lr) if v >= m - tol * max(1.0, abs(m))]
    first, last = at_max[0], at_max[-1]
    return {"warmup": steps[:first], "stable": steps[first:last + 1], "warmdown": steps[last + 1:]}


def _corr(a, b) -> float | None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def attribution(rows: list[dict], val: dict[int, float]) -> dict:
    """Phase boundaries from lr_mul and per-phase, per-layer correlations of grad norms with val_loss / train_loss."""
    rows = sorted(rows, key=lambda r: r["step"])
    steps = [int(r["step"]) for r in rows]
    ph = phases(steps, [float(r["lr_mul"]) for r in rows])
    by_step = {int(r["step"]): r for r in rows}
    layers = sorted({k for r in rows for k in r.get("grad_norms", {})})
    out = {"boundaries": {"stable_start": ph["stable"][0] if ph["stable"] else None,
                          "warmdown_start": ph["warmdown"][0] if ph["warmdown"] else None},
           "phases": {}}
    for name, ss in ph.items():
        vs = [s for s in ss if s in val]
        rec = {"steps": [ss[0], ss[-1]] if ss else None, "n_steps": len(ss), "n_val_points": len(vs), "layers": {}}
        for L in layers:
            norms = [by_step[s]["grad_norms"].get(L, math.nan) for s in ss]
            tl = [by_step[s].get("train_loss") for s in ss]
            rec["layers"][L] = {
                "mean_grad_norm": float(np.nanmean(norms)) if norms else None,
                "corr_val_loss": _corr([by_step[s]["grad_norms"].get(L, math.nan) for s in vs], [val[s] for s in vs]),
                "corr_train_loss": _corr(norms, tl) if tl and None not in tl else None,
            }
        out["phases"][name] = rec
    out["layers"] = layers
    return out


VAL_LINE = re.compile(r"step:(\d+)/\d+ val_loss:([0-9.eE+-]+)")


def val_points_from_text(text: str) -> dict[int, float]:
    return {int(m.group(1)): float(m.group(2)) for m in VAL_LINE.finditer(text)}


def grad_attribution(*, out_dir: str | os.PathLike = DEFAULT_OUT, script: str | os.PathLike | None = None,
                     env: dict[str, str] | None = None, gradnorms: str | os.PathLike | None = None,
                     val_log: str | os.PathLike | None = None, run_id: str = "diag_gradattr", log=print) -> dict:
    """`causal-golf diag grad-attribution` as a function; writes out_dir/grad_attribution.json.

    gradnorms (+ val_log: a trainer log or metrics.jsonl): analyse an existing run, train nothing.
    Else a short run: our trainer with GRAD_NORM_LOG=1 (env: its variables; default cpu_small on
    the embedded default, 36 steps, val every 3 on 16k tokens), or `script`, a foreign challenge-style trainer,
    instrumented on a copy under out_dir and run with env.
    """
    t = Timer()
    out_dir = Path(out_dir)
    info: dict = {}
    if gradnorms is None:
        work = out_folder(out_dir) / "grad_attribution_run"     # --out X.json: the run goes beside it
        work.mkdir(parents=True, exist_ok=True)
        env = dict(env or {})
        if script is None:
            if "DATA_PATH" not in env:
                from causal_core.data.prepare import ensure_embedded_default
                from causal_core.diagnostics.common import ROOT
                env.setdefault("PRESET", "cpu_small")
                env["DATA_PATH"] = str(ensure_embedded_default(ROOT, 1024))
                env.setdefault("ITERATIONS", "36")
                env.setdefault("WARMDOWN_ITERS", "12")
                env.setdefault("LR_WARMUP_STEPS", "6")
                env.setdefault("VAL_MAX_TOKENS", "16384")
            env.setdefault("VAL_LOSS_EVERY", "3")
            env["GRAD_NORM_LOG"] = "1"
            log(f"training a short run with GRAD_NORM_LOG=1 into {work}")
            r = train_checkpoint(work, run_id, env)
            gradnorms = work / f"{run_id}_gradnorms.jsonl"
            val_log = work / f"{run_id}_metrics.jsonl"
            info = {"trainer": "train_gpt_mlx.py (GRAD_NORM_LOG=1)"}
        else:
            copy = instrument_script(script, work / f"instrumented_{Path(script).name}")
            gradnorms = work / f"{run_id}_gradnorms.jsonl"
            if gradnorms.exists():
                gradnorms.unlink()
            env = {"RUN_ID": run_id, "OUT_DIR": str(work), **env, "GRAD_NORM_LOG_PATH": str(gradnorms)}
            log(f"running the instrumented copy {copy} (original {script} untouched)")
            import subprocess
            import sys
            full = dict(os.environ, **env)
            r = subprocess.run([sys.executable, str(copy)], env=full, capture_output=True, text=True, cwd=work, timeout=3600)
            if r.returncode != 0:
                tail = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
                raise DiagnosticError(f"instrumented {Path(script).name} failed (exit {r.returncode}): {tail}")
            val_log = work / f"{run_id}_stdout.txt"
            atomic_write_text(val_log, r.stdout)
            info = {"trainer": str(script), "instrumented_copy": str(copy)}
    rows = read_jsonl(gradnorms)
    val: dict[int, float] = {}
    if val_log is not None and Path(val_log).is_file():
        text = Path(val_log).read_text()
        if str(val_log).endswith(".jsonl"):
            for line in text.splitlines():
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if o.get("event") == "val":
                    val[int(o["step"])] = float(o["val_loss"])
        else:
            val = val_points_from_text(text)
    rep = {"diagnostic": "grad_attribution", **info, "gradnorms": str(gradnorms), "val_log": str(val_log) if val_log else None,
           "n_steps": len(rows), "n_val_points": len(val), **attribution(rows, val), "seconds": t.s()}
    rep["output"] = str(write_result(out_dir, "grad_attribution", rep))
    return rep
