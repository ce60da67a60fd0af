"""Everything that restates the loop's parameters is derived from LoopParams (params.py):

* the cycle-loop flow's signature (`with_loop_params`), so Prefect's UI form, the deployment's
  parameter schema and `--param KEY=VALUE` list exactly LoopParams' fields, with their
  defaults, types and descriptions;
* the README's parameter table (`params_table`), rewritten by
  `python -m causal_core.loop.params_doc README.md` and checked by tests/test_loop_params.py.

So adding a loop parameter is one change: a field with a description in LoopParams.
"""
from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from causal_core.loop.params import LoopParams

TABLE_BEGIN = "<!-- loop-params:begin (generated: python -m causal_core.loop.params_doc README.md) -->"
TABLE_END = "<!-- loop-params:end -->"
_ESCAPED_PIPE = "\\|"      # a | inside a markdown table cell


def field_default(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


def flow_signature(model: type[BaseModel] = LoopParams) -> inspect.Signature:
    """One keyword-only parameter per field: its annotation and (evaluated) default."""
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field_default(model, name),
                                annotation=f.annotation)
              for name, f in model.model_fields.items()]
    return inspect.Signature(params, return_annotation=dict)


def args_docstring(model: type[BaseModel] = LoopParams) -> str:
    """A Google-style `Args:` section (Prefect shows it as each parameter's description)."""
    return "Args:\n" + "".join(f"    {name}: {f.description or ''}\n" for name, f in model.model_fields.items())


def with_loop_params(fn):
    """Put under `@flow`: `fn(**params)` gets LoopParams' fields as its flow parameters."""
    fn.__signature__ = flow_signature()
    fn.__doc__ = (inspect.cleandoc(fn.__doc__ or "") + "\n\n" + args_docstring()).strip()
    return fn


def _show(v: Any) -> str:
    return "none" if v is None else f"`{json.dumps(v)}`"


def params_table(model: type[BaseModel] = LoopParams) -> str:
    rows = ["| parameter | default | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {_show(field_default(model, name))} | {(f.description or '').replace('|', _ESCAPED_PIPE)} |"
             for name, f in model.model_fields.items()]
    return "\n".join(rows)


def with_table(text: str) -> str:
    """`text` with the block between the markers replaced by the current table."""
    pat = re.compile(re.escape(TABLE_BEGIN) + r".*?" + re.escape(TABLE_END), re.S)
    if not pat.search(text):
        raise ValueError("no loop-params table markers found")
    return pat.sub(lambda _: f"{TABLE_BEGIN}\n{params_table()}\n{TABLE_END}", text)


def main(argv: list[str] | None = None) -> int:
    for p in map(Path, argv if argv is not None else sys.argv[1:]):
        p.write_text(with_table(p.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
