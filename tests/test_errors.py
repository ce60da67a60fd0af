"""Domain errors stay domain errors: library code names parameters, the CLI names flags."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from causal_core.data.prepare import prepare_embedded
from causal_core.diagnostics.common import DiagnosticError
from causal_core.errors import CausalGolfError, DataError

ROOT = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"(^|[\s(])--[a-z]")


def test_library_errors_name_the_parameter_and_the_cli_names_the_flag(tmp_path):
    with pytest.raises(DataError) as e:
        prepare_embedded(tmp_path / "out", size_mb=0)
    assert str(e.value) == "size_mb must be positive, got 0" and e.value.param == "size_mb"
    assert e.value.for_cli() == "--size-mb must be positive, got 0"
    d = DiagnosticError("x (set {param} to the data directory)", "data_path")
    assert isinstance(d, CausalGolfError) and d.for_cli({"data_path": "--data"}) == "x (set --data to the data directory)"
    assert not (tmp_path / "out").exists()


def _raised_texts(tree: ast.AST):
    """(exception name, the message's literal text) of every `raise Name(...)`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
            parts = [c.value for a in node.exc.args[:1] for c in ast.walk(a)
                     if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            yield node.exc.func.id, "".join(parts)


def test_no_library_error_names_a_cli_flag():
    bad = []
    for p in (ROOT / "causal_core").rglob("*.py"):
        for name, text in _raised_texts(ast.parse(p.read_text())):
            if name != "CliError" and FLAG.search(text):
                bad.append(f"{p.relative_to(ROOT)}: {name}({text[:60]!r})")
    assert bad == []
