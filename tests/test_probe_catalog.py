"""gradient_projection: the probe's two arms as a catalog entry with its own label and DAG node."""
from __future__ import annotations

import pytest

from causal_core import catalog


def test_the_probe_arms_are_their_own_intervention_and_dag_node():
    from causal_core.dag import skeleton
    e = catalog.get("gradient_projection")
    assert e.actionable and e.requires_env == ["PROJECT_DIRECTION"]
    assert e.control == {"PROJECT_DIRECTION_LOG_ONLY": 1} and e.treatment == {"PROJECT_DIRECTION_LOG_ONLY": 0}
    assert "gradient_projection" in skeleton.nodes()
    assert ("gradient_projection", skeleton.OUTCOME) in {(s, t) for s, t, _ in skeleton.EDGES}
    # never proposed, searched or offered on its own: it needs the probe phase's direction
    assert "gradient_projection" not in {x.name for x in catalog.actionable()}


def test_a_config_without_the_direction_is_refused_and_arms_never_share_a_run_key(tmp_path):
    from causal_core.experiments.config import ExperimentConfig, from_catalog
    from causal_core.run_key import config_key
    with pytest.raises(ValueError, match="needs PROJECT_DIRECTION in base_env"):
        from_catalog("gradient_projection")
    v = tmp_path / "v.npz"
    cfg = from_catalog("gradient_projection", base_env={"PRESET": "cpu_small", "PROJECT_DIRECTION": str(v)})
    assert isinstance(cfg, ExperimentConfig)
    vanilla, projected = cfg.condition_env("control"), cfg.condition_env("treatment")
    assert config_key(vanilla) != config_key(projected)     # a projected run is never served its log-only twin
    assert config_key({"PRESET": "cpu_small"}) == config_key({"PRESET": "cpu_small", "PROBE_MIX": ""})   # unset: old keys
