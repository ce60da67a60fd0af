"""How to realise each confirmed finding in the challenge's own train_gpt.py (8xH100).

A finding is measured with our MLX trainer at cpu_small scale; that configuration stays in the
record as the evidence. A competitor needs the challenge-side action:
- `env`: the baseline train_gpt.py reads the variables (BASELINE_READS), so the finding is a
  set of env settings. Values: the challenge-baseline profile's 8xH100-scale setting
  (causal_core/trainer_profiles.py) where it has one, else the evidence's own values.
- `records`: the baseline has no switch; the published record folders whose code introduced
  the technique (the extraction's interventions.json: the earliest records that have it, a
  record that added it over its parent first on the same date), with their val_bpb.
- then the exact validation commands: torchrun on 8 GPUs, 3 seeds, the 600 s cap, the
  challenge's sp1024 data and tokenizer paths.
"""
from __future__ import annotations

import json
from pathlib import Path

from causal_core import trainer_profiles
from causal_core.experiments.config import env_value

# The variables the challenge's baseline train_gpt.py reads, found by
# causal_core/experiments/trainer_vars.py on shared/parameter-golf-trainers/train_gpt.py
# (tests/test_submission_realise.py re-derives it whenever that file is present).
BASELINE_READS = frozenset({
    "ADAM_EPS", "BETA1", "BETA2", "CONTROL_TENSOR_NAME_PATTERNS", "DATA_PATH", "EMBED_LR", "GRAD_CLIP_NORM",
    "HEAD_LR", "INT8_KEEP_FLOAT_FP32_NAME_PATTERNS", "ITERATIONS", "LOCAL_RANK", "LOGIT_SOFTCAP", "MATRIX_LR",
    "MAX_WALLCLOCK_SECONDS", "MLP_MULT", "MODEL_DIM", "MUON_BACKEND_STEPS", "MUON_MOMENTUM",
    "MUON_MOMENTUM_WARMUP_START", "MUON_MOMENTUM_WARMUP_STEPS", "NUM_HEADS", "NUM_KV_HEADS", "NUM_LAYERS",
    "QK_GAIN_INIT", "RANK", "ROPE_BASE", "RUN_ID", "SCALAR_LR", "SEED", "TIED_EMBED_INIT_STD", "TIED_EMBED_LR",
    "TIE_EMBEDDINGS", "TOKENIZER_PATH", "TRAIN_BATCH_TOKENS", "TRAIN_LOG_EVERY", "TRAIN_SEQ_LEN", "VAL_BATCH_SIZE",
    "VAL_LOSS_EVERY", "VOCAB_SIZE", "WARMDOWN_ITERS", "WARMUP_STEPS", "WORLD_SIZE",
})
# The baseline script's own defaults for the data (its Hyperparameters class) and the challenge's rules.
CHALLENGE_ENV = {"DATA_PATH": "./data/datasets/fineweb10B_sp1024",
                 "TOKENIZER_PATH": "./data/tokenizers/fineweb_1024_bpe.model",
                 "VOCAB_SIZE": "1024", "MAX_WALLCLOCK_SECONDS": "600"}
VALIDATION_SEEDS = (1337, 42, 2025)
DATA_STEP = "python3 data/cached_challenge_fineweb.py --variant sp1024"
TORCHRUN = "torchrun --standalone --nproc_per_node=8 train_gpt.py"
MAX_RECORDS = 3


def _records_for(intervention: str, interventions_json: Path | None) -> list[dict]:
    """Published record folders that introduced the technique (folder, val_bpb, date)."""
    if interventions_json is None or not interventions_json.is_file():
        return []
    try:
        recs = json.loads(interventions_json.read_text()).get("records", [])
    except (OSError, ValueError, AttributeError):
        return []
    recs = [r for r in recs if isinstance(r, dict) and r.get("source_format") != "experiment"]
    mentions = [r for r in recs if intervention in {m.get("name") for m in r.get("interventions") or []}]
    def introduced(r) -> bool:       # the record added it over its parent (a Format-A delta)
        return intervention in (r.get("delta_interventions") or [])
    # The earliest records that have it are the ones whose code brought it in (a delta first on a tie).
    chosen = sorted(mentions, key=lambda r: (r.get("date") or "9999", not introduced(r), r.get("record_id") or ""))
    return [{"folder": r.get("record_id"), "val_bpb": r.get("val_bpb"), "date": r.get("date"),
             "introduced": introduced(r)} for r in chosen[:MAX_RECORDS]]


def realise(intervention: str, evidence_treatment: dict, evidence_control: dict,
            interventions_json: Path | None = None, baseline_reads=BASELINE_READS) -> dict:
    """One finding's challenge-side action (see the module docstring)."""
    prof = trainer_profiles.get("challenge-baseline")
    out: dict = {"intervention": intervention,
                 "evidence": {"treatment": {k: env_value(v) for k, v in evidence_treatment.items()},
                              "control": {k: env_value(v) for k, v in evidence_control.items()},
                              "trainer": "train_gpt_mlx.py (causal-golf, MLX)"}}
    if prof.maps(intervention) and set(prof.switches[intervention].treatment) <= baseline_reads:
        sw = prof.switches[intervention]
        out.update(how="env", env={k: env_value(v) for k, v in sw.treatment.items()},
                   baseline={k: env_value(v) for k, v in sw.control.items()},
                   source=f"challenge-baseline profile ({sw.note})" if sw.note else "challenge-baseline profile")
    elif evidence_treatment and set(evidence_treatment) <= baseline_reads:
        out.update(how="env", env=dict(out["evidence"]["treatment"]), baseline=dict(out["evidence"]["control"]),
                   source="the evidence's own values (cpu_small scale: rescale for the 8xH100 model)")
    else:
        unread = sorted(set(evidence_treatment) - baseline_reads)
        out.update(how="records", env={}, records=_records_for(intervention, interventions_json),
                   source=(f"the baseline train_gpt.py does not read {', '.join(unread)}" if unread
                           else "the baseline train_gpt.py has no switch for it") + "; port the code of the records below")
    return out


def validation_commands(env: dict[str, str]) -> list[str]:
    """The exact 8xH100 validation runs of a configuration on the challenge's train_gpt.py."""
    settings = " ".join(f"{k}={v}" for k, v in {**CHALLENGE_ENV, **env}.items())
    return [DATA_STEP] + [f"RUN_ID=causal_golf_seed{s} SEED={s} {settings} {TORCHRUN}" for s in VALIDATION_SEEDS]


def latest_interventions_json(results: Path) -> Path | None:
    """The extraction the loop used last: results/causal/cycle_N/interventions.json (highest N)."""
    found = [(int(p.parent.name.split("_")[1]), p) for p in Path(results).glob("cycle_*/interventions.json")
             if p.parent.name.split("_")[1].isdigit()]
    return max(found)[1] if found else None


def for_selection(sel, results: Path) -> dict:
    """The record's `challenge` section: per finding how to realise it, and the validation commands."""
    ij = latest_interventions_json(results)
    if sel.kind != "confirmed":
        return {"findings": [], "commands": [], "interventions_json": str(ij) if ij else None,
                "note": "no confirmed finding: nothing to realise in the challenge's train_gpt.py"}
    items = [realise(c.intervention, c.config.treatment, c.config.control, ij) for c in sel.findings]
    env: dict[str, str] = {}
    for it in items:
        env.update(it["env"])
    needs_code = [it["intervention"] for it in items if it["how"] == "records"]
    return {"findings": items, "env": env, "commands": validation_commands(env),
            "needs_code": needs_code, "interventions_json": str(ij) if ij else None,
            "note": ("the commands run the baseline train_gpt.py with the env settings; "
                     + (f"first port {', '.join(needs_code)} from the records listed" if needs_code
                        else "no code change is needed"))}
