"""The runner with the challenge's own train_gpt_mlx.py, unchanged (real processes, real script).

The script is read from ../shared (never copied). It reads DATA_PATH / TOKENIZER_PATH; our
prepare-data directory (challenge-format shards + tokenizer.model) is a valid DATA_PATH for it.
It evaluates the whole validation split, so the fixture keeps that split small.
"""
from __future__ import annotations

import json
import re
import sys

import pytest

from causal_core import catalog
from causal_core.cli import main
from causal_core.experiments.config import from_catalog
from causal_core.experiments.runner import run_experiment

# A tiny model: ~10 steps of 1024 tokens, two val passes over ~5k tokens.
TINY = {"VOCAB_SIZE": 384, "MODEL_DIM": 64, "NUM_HEADS": 2, "NUM_KV_HEADS": 1, "TRAIN_SEQ_LEN": 64,
        "TRAIN_BATCH_TOKENS": 1024, "GRAD_ACCUM_STEPS": 1, "ITERATIONS": 8, "WARMUP_STEPS": 1,
        "WARMDOWN_ITERS": 3, "MAX_WALLCLOCK_SECONDS": 0, "VAL_BATCH_SIZE": 8192, "TRAIN_LOG_EVERY": 4}
LAUNCH = ["{python}", "-m", "causal_core.launch_trainer", "{trainer}"]


@pytest.fixture(scope="module")
def challenge_mlx(shared_dir):
    p = shared_dir / "parameter-golf-trainers" / "train_gpt_mlx.py"
    if not p.is_file():
        pytest.skip(f"{p} is absent")
    return p


@pytest.fixture(scope="module")
def small_val_data(tmp_path_factory):
    from causal_core.data.prepare import prepare_embedded
    out = tmp_path_factory.mktemp("foreign_data") / "embedded_sp384"
    prepare_embedded(out, vocab_size=384, size_mb=0.2, seed=0, val_fraction=0.04)
    return out


def _base(data):
    return {"DATA_PATH": str(data), "TOKENIZER_PATH": str(data / "tokenizer.model"), **TINY}


def test_ema_is_refused_naming_ema_decay(tmp_path, challenge_mlx, small_val_data, capsys):
    out = tmp_path / "c.json"
    rc = main(["make-config", "--intervention", "ema", "--trainer", str(challenge_mlx), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "EMA_DECAY" in err and str(challenge_mlx) in err and len(err.splitlines()) == 1
    assert not out.exists()
    # The same refusal from run-experiment on a config built elsewhere: nothing runs, nothing is written.
    cfg = from_catalog("ema", trainer=str(challenge_mlx), trainer_command=LAUNCH, base_env=_base(small_val_data),
                       workdir=str(tmp_path))
    cfg.save(tmp_path / "ema.json")
    assert main(["run-experiment", str(tmp_path / "ema.json"), "--out", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err.strip()
    assert "EMA_DECAY" in err and len(err.splitlines()) == 1 and not (tmp_path / "exp").exists()


def test_list_for_the_challenge_mlx_script(challenge_mlx, capsys):
    assert main(["make-config", "--trainer", str(challenge_mlx), "--list"]) == 0
    text = capsys.readouterr().out
    assert "reads 43 environment variables" in text and f"actuates 9 of {len(catalog.ENTRIES)}" in text
    assert re.search(r"^  ema +does not read EMA_DECAY$", text, re.M)
    assert re.search(r"^  more_layers +\[challenge-baseline\] NUM_LAYERS=10  vs  NUM_LAYERS=9", text, re.M)


@pytest.mark.slow
def test_more_layers_on_the_unchanged_challenge_script(tmp_path, repo_root, challenge_mlx, small_val_data):
    """3 seeds of more_layers (the catalog's 5 vs 3 layers); seed 3 crashes in the real script."""
    wrapper = repo_root / "tests" / "seed_crash_wrapper.py"
    cfg = from_catalog("more_layers", trainer=str(challenge_mlx), workdir=str(tmp_path), seeds=[1, 2, 3],
                       trainer_command=["{python}", str(wrapper), "{trainer}"],
                       base_env={**_base(small_val_data), "CRASH_SEED": 3}, budget_s=600, max_parallel=2)
    raw = run_experiment(cfg, tmp_path / "exp")
    assert {c: s.status for c, s in raw.conditions.items()} == {"control": "reduced_power", "treatment": "reduced_power"}
    assert all(s.failed_seeds == [3] for s in raw.conditions.values())
    crashed = [r for r in raw.runs if r.seed == 3]
    assert all(r.status == "failed" and "does not match tokenizer" in r.stderr_tail for r in crashed)
    assert raw.ignored_env == ["CRASH_SEED"]          # read by the wrapper, not by the trainer
    for r in (r for r in raw.runs if r.seed != 3):
        text = open(r.stdout_path).read()
        bpbs = [float(x) for x in re.findall(r"val_bpb:([\d.]+)", text)]
        assert len(bpbs) >= 3 and r.val_bpb == bpbs[-1]     # several val lines; the score is the LAST
        assert r.score_source == "stdout:final_int8_zlib_roundtrip_exact"
        assert f"layers:{5 if r.condition == 'treatment' else 3}" in text
    saved = json.loads((tmp_path / "exp" / "raw_runs.json").read_text())
    assert saved["ignored_env"] == ["CRASH_SEED"] and saved["config"]["trainer"] == str(challenge_mlx)


PROBE = """import os, sys
maps = open('/proc/self/maps').read() if os.path.exists('/proc/self/maps') else ''
print('|'.join([__name__, repr(sys.argv[1:]), os.environ.get('CAUSAL_GOLF_BLAS_BOOTSTRAPPED', ''),
                str('libopenblas' in maps)]))
"""


def test_launcher_runs_a_script_as_main_with_fast_blas(tmp_path):
    import subprocess
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    r = subprocess.run([sys.executable, "-m", "causal_core.launch_trainer", str(script), "--x"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    name, argv, marker, mapped = r.stdout.strip().split("|")
    assert name == "__main__" and argv == "['--x']"
    if sys.platform == "linux":
        # Bootstrapped once: "1" with OpenBLAS preloaded (mapped), or "none:<reason>" when none is usable.
        assert (marker == "1" and mapped == "True") or marker.startswith("none:"), r.stdout
    missing = subprocess.run([sys.executable, "-m", "causal_core.launch_trainer", str(tmp_path / "no.py")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "missing" in missing.stderr and "Traceback" not in missing.stderr


def test_make_config_for_foreign_scripts(tmp_path, challenge_mlx, capsys):
    frontier = next((challenge_mlx.parent / "records").glob("2026-04-27_*/train_gpt.py"), None)
    if frontier is None:
        pytest.skip("the frontier record's script is absent")
    out = tmp_path / "c.json"
    # The challenge's MLX script: auto profile, no PRESET (it would ignore it), our fast-BLAS launcher.
    assert main(["make-config", "--intervention", "more_layers", "--trainer", str(challenge_mlx), "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["profile"] == "challenge-baseline" and d["treatment"] == {"NUM_LAYERS": 10} and "PRESET" not in d["base_env"]
    assert d["trainer_command"] == ["{python}", "-m", "causal_core.launch_trainer", "{trainer}"]
    capsys.readouterr()
    # The frontier script: a switch only it has, and a variable its README sets that it never reads.
    assert main(["make-config", "--intervention", "xsa", "--trainer", str(frontier), "--env", "PHASED_TTT_ENABLED=1",
                 "--env", "NCCL_NET=Socket", "--platform", "torch-cuda", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["profile"] == "sp8192-frontier" and d["treatment"] == {"XSA_LAST_N": 11} and d["control"] == {"XSA_LAST_N": 0}
    assert d["trainer_command"] == ["{python}", "{trainer}"]          # a torch script: no MLX launcher
    err = capsys.readouterr().err
    assert "never reads PHASED_TTT_ENABLED" in err and "NCCL_NET" not in err
    # A dead switch is refused with the reason; an explicit profile that lacks the switch too.
    assert main(["make-config", "--intervention", "sliding_window_eval", "--trainer", str(frontier),
                 "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "EVAL_STRIDE (read into eval_stride, which nothing uses)" in err and len(err.splitlines()) == 1
    assert main(["make-config", "--intervention", "xsa", "--trainer", str(challenge_mlx), "--profile", "challenge-baseline",
                 "--out", str(tmp_path / "x.json")]) == 2
    assert "not actionable with profile challenge-baseline" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


# --list on the challenge's five scripts: (script, variables read, interventions actuated, auto profile).
LISTS = [
    ("train_gpt.py", 42, 9, "challenge-baseline"),
    ("train_gpt_mlx.py", 43, 9, "challenge-baseline"),
    ("records/2026-03-23_LeakyReLU_LegalTTT_ParallelMuon/train_gpt.py", 75, 12, "challenge-baseline"),
    ("records/2026-04-14_MultiPhaseGlobalSGD_PhasedTTT/train_gpt.py", 98, 21, "sp8192-frontier"),
    ("records/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611/train_gpt.py", 120, 24, "sp8192-frontier"),
]


@pytest.mark.parametrize("rel, n_read, n_act, profile", LISTS)
def test_list_on_the_real_scripts(challenge_mlx, capsys, rel, n_read, n_act, profile):
    script = challenge_mlx.parent / rel
    assert main(["make-config", "--trainer", str(script), "--list"]) == 0
    text = capsys.readouterr().out
    assert f"reads {n_read} environment variables" in text and f"profile: {profile} (auto-detected)" in text
    n = len(catalog.ENTRIES)
    assert f"actuates {n_act} of {n}" in text and f"cannot actuate {n - n_act}:" in text
    # Every actuated row names variables the script reads; explicit --profile catalog shows the catalog's names.
    assert main(["make-config", "--trainer", str(script), "--list", "--profile", "catalog"]) == 0
    assert "profile: catalog (requested)" in capsys.readouterr().out


def test_make_config_takes_a_torchrun_command(tmp_path, shared_dir, capsys):
    """The 8xH100 command as one quoted string (its --nproc_per_node=8 used to trip argparse)."""
    script = shared_dir / "parameter-golf-trainers" / "train_gpt.py"
    if not script.is_file():
        pytest.skip(f"{script} is absent")
    out = tmp_path / "c.json"
    rc = main(["make-config", "--intervention", "more_layers", "--trainer", str(script), "--platform", "torch-cuda",
               "--command", "torchrun --standalone --nproc_per_node=8 {trainer}", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    cfg = json.loads(out.read_text())
    assert cfg["trainer_command"] == ["torchrun", "--standalone", "--nproc_per_node=8", "{trainer}"]
    assert cfg["profile"] == "challenge-baseline" and cfg["treatment"] == {"NUM_LAYERS": 10}
    assert main(["make-config", "--intervention", "more_layers", "--trainer", str(script),
                 "--command", "torchrun 'unclosed", "--out", str(tmp_path / "d.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--command" in err and len(err.splitlines()) == 1 and not (tmp_path / "d.json").exists()
