"""Which variables a trainer reads, from its source: synthetic patterns and the challenge's real scripts."""
from __future__ import annotations

import pytest

from causal_core.experiments.trainer_vars import TrainerSourceError, analyse_source, trainer_vars

PATTERNS = '''
import os
import os as _o
from os import environ, getenv as ge
from os import environ as E2

class Hyperparameters:
    iterations = int(os.environ.get("ITERATIONS", 20000))
    flag = bool(int(os.environ.get("FLAG", "1")))
    nested = int(os.environ.get("OUTER", os.environ.get("INNER", 5)))

A = os.environ["SUBSCRIPT"]
B = os.getenv("GETENV")
C = _o.environ.get("ALIASED_OS")
D = environ.get("FROM_IMPORT") + E2["FROM_IMPORT_AS"] + ge("GETENV_ALIAS")
distributed = "RANK" in os.environ and "WORLD_SIZE" not in os.environ
os.environ.setdefault("SETDEFAULT", "1")
os.environ["WRITTEN_ONLY"] = "1"          # a write, not a read
MARKER = "BY_CONSTANT"
env = dict(os.environ if A else {})
cp = os.environ.copy()
E = env.get("VIA_DICT_ALIAS") or cp["VIA_COPY"] or env.get(MARKER)
for i in range(3):
    F = os.environ.get(f"LAYER_{i}_DIM")
SWITCHES = ("LOOPED_A", "LOOPED_B")
flags = {k: env.get(k) for k in SWITCHES}
for name in ["LOOPED_C"]:
    os.getenv(name)
G = os.environ.get("PREFIX_" + A)
H = os.environ.get(A)                      # opaque: a key computed at run time
print(Hyperparameters.iterations, Hyperparameters.flag, Hyperparameters.nested, B, C, D, E, F, G, H, flags)
'''


def test_synthetic_patterns():
    tv = analyse_source(PATTERNS)
    assert tv.names == {"ITERATIONS", "FLAG", "OUTER", "INNER", "SUBSCRIPT", "GETENV", "ALIASED_OS", "FROM_IMPORT",
                        "FROM_IMPORT_AS", "GETENV_ALIAS", "RANK", "WORLD_SIZE", "SETDEFAULT", "VIA_DICT_ALIAS",
                        "VIA_COPY", "BY_CONSTANT", "LOOPED_A", "LOOPED_B", "LOOPED_C"}
    assert tv.prefixes == {"LAYER_", "PREFIX_"} and tv.reads("LAYER_2_DIM") and tv.reads("PREFIX_X")
    assert not tv.reads("WRITTEN_ONLY") and not tv.reads("EMA_DECAY")
    assert tv.opaque_lines and not tv.complete            # H: detection cannot be complete
    assert tv.defaults["ITERATIONS"] == "20000" and tv.defaults["FLAG"] == "1"
    assert tv.reads("NCCL_NET") and tv.ignored({"NCCL_NET", "EMA_DECAY", "FLAG"}) == ["EMA_DECAY"]


def test_dead_switch_is_not_a_read():
    src = "import os\nclass H:\n    used = int(os.environ.get('USED', 1))\n    unused = int(os.environ.get('UNUSED', 2))\nprint(H().used)\n"
    tv = analyse_source(src)
    assert tv.names == {"USED", "UNUSED"} and tv.dead == {"UNUSED": "unused"}
    assert tv.reads("USED") and not tv.reads("UNUSED") and tv.live == {"USED"}


def test_declared_table_explains_dynamic_reads():
    src = ("import os\nclass Var:\n    def __init__(self, *a): self.name = a[0]\n"
           "VARS = [Var('NUM_LAYERS', 'int', 9), Var('EMA_DECAY', 'float', 0.0)]\n"
           "env = dict(os.environ)\nvals = {v.name: env[v.name] for v in VARS if v.name in env}\n")
    tv = analyse_source(src)
    assert tv.declared == {"NUM_LAYERS", "EMA_DECAY"} and tv.complete and tv.reads("EMA_DECAY")


def test_missing_and_not_python(tmp_path):
    with pytest.raises(TrainerSourceError, match="missing"):
        trainer_vars(tmp_path / "nope.py")
    (tmp_path / "run.sh").write_text("#!/bin/sh\nexport X=1 && python train.py\n")
    with pytest.raises(TrainerSourceError, match=r"is not Python \(line 2"):
        trainer_vars(tmp_path / "run.sh")
    (tmp_path / "bin").write_bytes(b"\x7fELF\x00\x01")
    with pytest.raises(TrainerSourceError, match="binary"):
        trainer_vars(tmp_path / "bin")
    with pytest.raises(TrainerSourceError, match="not a file"):
        trainer_vars(tmp_path)


def test_our_trainer_reads_every_catalog_switch(repo_root):
    from causal_core import catalog
    tv = trainer_vars(repo_root / "train_gpt_mlx.py")
    switched = {k for e in catalog.actionable() for k in [*e.treatment, *e.control]}
    assert tv.complete and not tv.ignored(switched) and "PRESET" in tv.names


# (script, variables read, dead switches) for the challenge's five real scripts. A single-line grep
# for `environ.get("X"` finds 40/41/73/97/119: the AST also sees multi-line calls and `"RANK" in os.environ`.
REAL = [
    ("train_gpt.py", 42, set()),
    ("train_gpt_mlx.py", 43, set()),
    ("records/2026-03-23_LeakyReLU_LegalTTT_ParallelMuon/train_gpt.py", 75, {"MUON_BETA2"}),
    ("records/2026-04-14_MultiPhaseGlobalSGD_PhasedTTT/train_gpt.py", 98, {"ROPE_TRAIN_SEQ_LEN", "PHASED_TTT_ENABLED"}),
    ("records/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611/train_gpt.py", 120,
     {"ROPE_TRAIN_SEQ_LEN", "EVAL_STRIDE"}),
]


@pytest.fixture(scope="module")
def trainers_dir(shared_dir):
    d = shared_dir / "parameter-golf-trainers"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


@pytest.mark.parametrize("rel, n, dead", REAL)
def test_real_scripts(trainers_dir, rel, n, dead):
    tv = trainer_vars(trainers_dir / rel)
    assert len(tv.names) == n and set(tv.dead) == dead and tv.complete
    assert {"SEED", "RUN_ID", "ITERATIONS", "MAX_WALLCLOCK_SECONDS"} <= tv.names or rel.startswith("records/")
    assert tv.reads("NUM_LAYERS") and tv.reads("TRAIN_BATCH_TOKENS")


def test_challenge_mlx_script_ignores_most_catalog_switches(trainers_dir):
    from causal_core import catalog
    tv = trainer_vars(trainers_dir / "train_gpt_mlx.py")
    actuated = [e.name for e in catalog.actionable() if not tv.ignored([*e.treatment, *e.control])]
    assert actuated == ["longer_train_seq", "more_layers", "wider_mlp", "qk_gain", "lr_tuning", "warmdown_schedule",
                        "muon_variant", "grad_clip", "batch_size_change"]
    # The "19 of the 28 actionable switches" (the catalog has grown since: those 19 are still unread).
    assert len(catalog.actionable()) - len(actuated) >= 19 and "ema" not in actuated


def test_profiles_are_consistent_data():
    from causal_core import catalog, trainer_profiles
    for p in trainer_profiles.PROFILES.values():
        assert set(p.switches) <= set(catalog.NAMES) and set(p.cannot) <= set(catalog.NAMES)
        assert not set(p.switches) & set(p.cannot), p.name
        for name, sw in p.switches.items():
            assert sw.treatment and sw.treatment != {k: sw.control.get(k) for k in sw.treatment}, (p.name, name)
    with pytest.raises(ValueError, match="unknown trainer profile"):
        trainer_profiles.get("nope")


def test_frontier_profile_switches_are_live_in_the_frontier_script(trainers_dir):
    from causal_core import trainer_profiles
    tv = trainer_vars(next((trainers_dir / "records").glob("2026-04-27_*/train_gpt.py")))
    prof = trainer_profiles.get("sp8192-frontier")
    assert trainer_profiles.detect(tv.reads) is prof
    for name, sw in prof.switches.items():
        assert all(k in tv.live for k in {*sw.treatment, *sw.control}), name
    assert len(prof.switches) == 24 and len(prof.switches) + len(prof.cannot) == 35
