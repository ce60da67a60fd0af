"""Loading the step's inputs with one-line errors (the CLI turns them into CliError)."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from causal_core.dag.models import DagResult
from causal_core.schemas import InterventionsFile


class InputError(ValueError):
    pass


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return f"{loc}: {err['msg']}" + (f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else "")


def load_model(path, model, what: str):
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file not found: {p}")
    try:
        raw = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p} is not valid JSON: {e}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise InputError(f"{p} is not a valid {what} file: {_first_error(e)}") from None


def load_interventions(path, allow_empty: bool = False) -> InterventionsFile:
    data = load_model(path, InterventionsFile, "interventions")
    if not data.records and not allow_empty:
        raise InputError(f"{path} has no records")
    return data


def load_dag(path) -> DagResult:
    return load_model(path, DagResult, "dag")
