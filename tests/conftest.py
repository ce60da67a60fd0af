from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAUSAL_GOLF_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (read-only challenge data; only in development and CI)")
    return SHARED


@pytest.fixture(scope="session")
def records_dir(shared_dir) -> Path:
    d = shared_dir / "parameter-golf-records"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.fixture(scope="session")
def shakespeare_path(shared_dir) -> Path:
    p = shared_dir / "corpora" / "tinyshakespeare.txt"
    if not p.is_file():
        pytest.skip(f"{p} is absent")
    return p
