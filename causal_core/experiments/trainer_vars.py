"""Which environment variables a trainer script reads, found by parsing its source (never running it).

A switch the trainer never reads changes nothing: both arms would run the same program and the
loop would record a meaningless null. So the runner asks this module before any run.

Recognised reads (any module alias of `os`, `from os import environ, getenv`, and names bound to
the environment such as `env = os.environ` or `env = dict(os.environ)`):
    os.environ.get("X", ...)   os.environ["X"]   os.getenv("X")   "X" in os.environ
    os.environ.setdefault("X", ...)   os.environ.pop("X", ...)
This covers the challenge's `Hyperparameters` class (`x = int(os.environ.get("X", d))`).
Keys built at run time (f"X_{i}", "X_" + s) count as a prefix pattern ("X_*"); a key that is a
bare expression (env[var.name]) is an opaque read. Our own trainer declares its variables in a
table, `Var("X", ...)`, and reads them in a loop: those declarations count as reads.
"""
from __future__ import annotations

import ast
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_READ_METHODS = ("get", "setdefault", "pop")
_DECLARED_TABLE_CALL = "Var"    # train_gpt_mlx.py: VARS = [Var("NAME", kind, default, help, ...), ...]
# Read by the Python runtime or a library, not by the script: never reported as ignored
# (the frontier record's README sets NCCL_NET=Socket, for NCCL).
RUNTIME_PREFIXES = ("NCCL_", "CUDA_", "TORCH", "PYTORCH_", "TRITON_", "OMP_", "OPENBLAS_", "MKL_", "MLX_",
                    "XLA_", "HF_", "LD_", "PYTHON", "MALLOC_", "KMP_")


class TrainerSourceError(ValueError):
    """The trainer file cannot be analysed (missing, unreadable, not Python): one line for the user."""


@dataclass(frozen=True)
class TrainerVars:
    path: Path
    sha256: str
    names: frozenset[str]                         # literal variable names read (or declared)
    prefixes: frozenset[str] = frozenset()        # keys built at run time: a literal prefix
    opaque_lines: tuple[int, ...] = ()            # reads whose key is not a literal at all
    declared: frozenset[str] = field(default_factory=frozenset)   # from a Var("X", ...) table
    # Read into a name or attribute that nothing else in the file uses (EVAL_STRIDE in the
    # frontier record: `eval_stride = int(os.environ.get(...))`, never referenced): a dead switch.
    dead: dict[str, str] = field(default_factory=dict)             # name -> the unused binding
    defaults: dict[str, str] = field(default_factory=dict)         # literal defaults, as strings
    imports: frozenset[str] = frozenset()                          # top-level packages imported (mlx, torch)

    @property
    def needs_blas_launcher(self) -> bool:
        """An MLX script without our fast-BLAS bootstrap (causal_core/launch_trainer.py gives it one)."""
        own = "CAUSAL_GOLF_BLAS_BOOTSTRAPPED" in self.names or "train_gpt_mlx_blas" in self.imports   # ours
        return "mlx" in self.imports and not own

    def reads(self, name: str) -> bool:
        """True when setting `name` can change what runs (dead switches do not count)."""
        if name.startswith(RUNTIME_PREFIXES):
            return True
        if name in self.dead:
            return False
        return name in self.names or any(name.startswith(p) for p in self.prefixes)

    @property
    def live(self) -> frozenset[str]:
        return frozenset(n for n in self.names if n not in self.dead)

    def ignored(self, names) -> list[str]:
        """The given variables this trainer never reads, sorted."""
        return sorted(n for n in set(names) if not self.reads(n))

    @property
    def complete(self) -> bool:
        """True when every read has a literal key (or is explained by a declared table)."""
        return not self.opaque_lines or bool(self.declared)


def _is_os(node: ast.AST, os_names: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in os_names


class _Collector(ast.NodeVisitor):
    def __init__(self, os_names: set[str], environ_names: set[str], getenv_names: set[str],
                 constants: dict[str, str] | None = None):
        self.os_names, self.environ_names, self.getenv_names = os_names, environ_names, getenv_names
        self.constants = constants or {}
        self.loop_keys: dict[str, list[str]] = {}
        self.names: set[str] = set()
        self.prefixes: set[str] = set()
        self.opaque: set[int] = set()
        self.declared: set[str] = set()
        self.defaults: dict[str, str] = {}
        self.read_counts: dict[str, int] = {}

    # --- what counts as "the environment" ---------------------------------------------
    def is_environ(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute) and node.attr == "environ" and _is_os(node.value, self.os_names):
            return True
        return isinstance(node, ast.Name) and node.id in self.environ_names

    def is_getenv(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Attribute) and func.attr == "getenv" and _is_os(func.value, self.os_names):
            return True
        return isinstance(func, ast.Name) and func.id in self.getenv_names

    def key(self, node: ast.AST | None, line: int) -> None:
        """Record the variable name (or prefix, or an opaque read) a key expression denotes."""
        if node is None:
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.names.add(node.value)
            self.read_counts[node.value] = self.read_counts.get(node.value, 0) + 1
        elif isinstance(node, ast.Name) and node.id in self.constants:   # MARKER = "X"; environ.get(MARKER)
            self.names.add(self.constants[node.id])
        elif isinstance(node, ast.Name) and node.id in self.loop_keys:   # for k in SWITCHES: environ.get(k)
            self.names.update(self.loop_keys[node.id])
        elif isinstance(node, ast.JoinedStr):     # f"X_{i}": the literal head is a prefix
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and head.value:
                self.prefixes.add(head.value)
            else:
                self.opaque.add(line)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = node.left
            while isinstance(left, ast.BinOp) and isinstance(left.op, ast.Add):
                left = left.left
            if isinstance(left, ast.Constant) and isinstance(left.value, str) and left.value:
                self.prefixes.add(left.value)
            else:
                self.opaque.add(line)
        else:
            self.opaque.add(line)

    # --- visitors ---------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ("key", "k")), None)
        if (isinstance(f, ast.Attribute) and f.attr in _READ_METHODS and self.is_environ(f.value)) or self.is_getenv(f):
            self.key(first, node.lineno)
            if (isinstance(first, ast.Constant) and isinstance(first.value, str) and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant) and not isinstance(node.args[1].value, bytes)):
                self.defaults.setdefault(first.value, str(node.args[1].value))
        elif (isinstance(f, ast.Name) and f.id == _DECLARED_TABLE_CALL and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ENV_NAME.match(node.args[0].value)):
            self.declared.add(node.args[0].value)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Load) and self.is_environ(node.value):
            self.key(node.slice, node.lineno)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)) and self.is_environ(right):
                self.key(node.left, node.lineno)
        self.generic_visit(node)


def _environ_valued(node: ast.AST, is_environ) -> bool:
    """`os.environ`, `dict(os.environ)`, `os.environ.copy()`, `dict(os.environ if a else b)`."""
    if is_environ(node):
        return True
    if isinstance(node, ast.IfExp):
        return _environ_valued(node.body, is_environ) or _environ_valued(node.orelse, is_environ)
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name) and f.id == "dict" and len(node.args) == 1:
            return _environ_valued(node.args[0], is_environ)
        if isinstance(f, ast.Attribute) and f.attr == "copy" and not node.args:
            return _environ_valued(f.value, is_environ)
    return False


def _aliases(tree: ast.Module) -> tuple[set[str], set[str], set[str]]:
    os_names, environ_names, getenv_names = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names.update(a.asname or a.name for a in node.names if a.name == "os")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for a in node.names:
                if a.name == "environ":
                    environ_names.add(a.asname or a.name)
                elif a.name == "getenv":
                    getenv_names.add(a.asname or a.name)
    probe = _Collector(os_names, environ_names, getenv_names)
    # Names bound to the environment (env = os.environ, env = dict(os.environ ...)); a fixpoint
    # so that `a = os.environ; b = a` is seen too. Name-based, not scope-aware: over-counting a
    # read only ever makes the check more lenient, never refuses a real switch.
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            targets, value = [], None
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            if value is None or not _environ_valued(value, probe.is_environ):
                continue
            for t in targets:
                if isinstance(t, ast.Name) and t.id not in environ_names:
                    environ_names.add(t.id)
                    changed = True
    return os_names, environ_names, getenv_names


def _env_keys(node: ast.AST, c: "_Collector") -> dict[str, int]:
    """The literal variable names an expression reads from the environment, with read counts."""
    sub = _Collector(c.os_names, c.environ_names, c.getenv_names, c.constants)
    sub.loop_keys = c.loop_keys
    sub.visit(node)
    return sub.read_counts


def _dead_switches(tree: ast.Module, c: "_Collector") -> dict[str, str]:
    """Variables whose every read is bound to a name (or class attribute) nothing else uses."""
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Load, ast.Del)):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            used.add(node.value)                 # getattr(h, "x"), h.__dict__["x"]
    bound: dict[str, set[str]] = {}              # variable -> names its reads are bound to
    n_bound: dict[str, int] = {}                 # variable -> reads that sit in such a binding
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        if target is None:
            continue
        for k, n in _env_keys(value, c).items():
            bound.setdefault(k, set()).add(target)
            n_bound[k] = n_bound.get(k, 0) + n
    dead = {}
    for k, targets in bound.items():
        # Only when ALL reads of k are such bindings and none of the bound names is used.
        if c.read_counts.get(k, 0) == n_bound[k] and not (targets & used):
            dead[k] = sorted(targets)[0]
    return dead


def _string_seq(node: ast.AST, seqs: dict[str, list[str]]) -> list[str] | None:
    """The strings of a literal tuple/list/set of strings, or of a module constant bound to one."""
    if isinstance(node, ast.Name):
        return seqs.get(node.id)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]
    return None


def _loop_keys(tree: ast.Module) -> dict[str, list[str]]:
    """Loop variables that run over literal strings (`for k in SWITCHES`, `{k: ... for k in ("A", "B")}`),
    so that `env.get(k)` in the loop counts as reading each of them. Name-based, like the aliases."""
    seqs: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if (vals := _string_seq(node.value, {})) is not None:
                seqs[node.targets[0].id] = vals
    out: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.target, ast.Name):
            if (vals := _string_seq(node.iter, seqs)) is not None:
                out.setdefault(node.target.id, []).extend(vals)
    return out


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound exactly once to a string literal (NAME = "X")."""
    seen: dict[str, list] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    seen.setdefault(t.id, []).append(node.value)
    return {k: v[0].value for k, v in seen.items()
            if len(v) == 1 and isinstance(v[0], ast.Constant) and isinstance(v[0].value, str)}


def _parse(source: str, path: Path) -> ast.Module:
    """ast.parse, retried: CPython 3.11's AST validator keeps its recursion depth per interpreter,
    not per thread, so a compile() in ANY other thread (Prefect's, a worker's) can make a parse
    fail with "SystemError: AST constructor recursion depth mismatch" (seen failing a seed run of
    a work-pool worker even with the lock below). The error is transient; the source is fine."""
    for attempt in range(5):
        try:
            return ast.parse(source, filename=str(path))
        except SystemError:
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def analyse_source(source: str, path: Path = Path("<string>")) -> TrainerVars:
    try:
        tree = _parse(source, path)
    except SyntaxError as e:
        raise TrainerSourceError(f"trainer {path} is not Python (line {e.lineno}: {e.msg}); "
                                 "cannot tell which variables it reads") from None
    c = _Collector(*_aliases(tree), constants=_module_constants(tree))
    c.loop_keys = _loop_keys(tree)
    c.visit(tree)
    names = {n for n in c.names | c.declared if n}
    dead = {k: v for k, v in _dead_switches(tree, c).items() if k not in c.declared}
    imports = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return TrainerVars(path=path, sha256=hashlib.sha256(source.encode()).hexdigest(), names=frozenset(names),
                       prefixes=frozenset(c.prefixes), opaque_lines=tuple(sorted(c.opaque)),
                       declared=frozenset(c.declared), dead=dead, defaults=dict(c.defaults),
                       imports=frozenset(imports))


_cache: dict[tuple[str, int, int], TrainerVars] = {}
# Seed runs check their config from several threads at once; CPython 3.11's ast.parse is not
# safe to run concurrently ("SystemError: AST constructor recursion depth mismatch" was seen
# failing a seed run), so parsing is serialised, and each file is parsed once.
_lock = threading.Lock()


def trainer_vars(path: str | Path) -> TrainerVars:
    """The variables the trainer at `path` reads (cached per file size and mtime)."""
    with _lock:
        return _trainer_vars(path)


def _trainer_vars(path: str | Path) -> TrainerVars:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise TrainerSourceError(f"trainer {p} is missing") from None
    if not p.is_file():
        raise TrainerSourceError(f"trainer {p} is not a file")
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key in _cache:
        return _cache[key]
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise TrainerSourceError(f"trainer {p} is unreadable ({e.strerror})") from None
    if b"\x00" in raw:
        raise TrainerSourceError(f"trainer {p} is not Python (binary file); cannot tell which variables it reads")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TrainerSourceError(f"trainer {p} is not Python (not UTF-8 text); "
                                 "cannot tell which variables it reads") from None
    tv = analyse_source(text, p)
    _cache[key] = tv
    return tv
