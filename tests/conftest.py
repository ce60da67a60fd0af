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


# Vocab 384, not 256: byte fallback alone takes 256 ids + 4 specials, plus one per character.
TINY_VOCAB = 384


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A prepared embedded-corpus directory (~300 KB of text, vocab 384): tokenizer.model,
    tokenizer.vocab, fineweb_train_000000.bin, fineweb_val_000000.bin, manifest.json."""
    from causal_core.data.prepare import prepare_embedded

    out = tmp_path_factory.mktemp("tiny_data") / f"embedded_sp{TINY_VOCAB}"
    prepare_embedded(out, vocab_size=TINY_VOCAB, size_mb=0.3, seed=0, val_fraction=0.1)
    return out


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A real Prefect server on loopback, shared by the whole session (~20 s to start).

    Flows called in-process talk to it through temporary settings; subprocesses get
    `prefect_api.env`.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

    from deployments.local_server import start_local_server

    server = start_local_server(tmp_path_factory.mktemp("prefect_home"))
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_SERVER_ANALYTICS_ENABLED: False}):
            yield server
    finally:
        server.stop()
