"""How a confirmed finding is realised in the challenge's train_gpt.py (submission/realise.py)."""
from __future__ import annotations

import json

import pytest

from causal_core.submission.realise import BASELINE_READS, CHALLENGE_ENV, realise, validation_commands


@pytest.fixture(scope="module")
def interventions_json(records_dir, tmp_path_factory):
    """The extraction of the real records, as the loop writes it."""
    from causal_core.records import extract_records
    p = tmp_path_factory.mktemp("extract") / "interventions.json"
    p.write_text(extract_records([records_dir]).model_dump_json())
    return p


def test_baseline_reads_table_is_what_the_real_script_reads(shared_dir):
    from causal_core.experiments.trainer_vars import trainer_vars
    p = shared_dir / "parameter-golf-trainers" / "train_gpt.py"
    if not p.is_file():
        pytest.skip(f"{p} is absent")
    tv = trainer_vars(p)
    assert tv.names == BASELINE_READS
    # The data/tokenizer/vocab/cap the commands pass are the script's own defaults.
    for k, v in CHALLENGE_ENV.items():
        assert float(tv.defaults[k]) == float(v) if k == "MAX_WALLCLOCK_SECONDS" else tv.defaults[k] == v


def test_env_finding_at_challenge_scale():
    it = realise("more_layers", {"NUM_LAYERS": 5}, {"NUM_LAYERS": 3})
    assert it["how"] == "env" and it["env"] == {"NUM_LAYERS": "10"} and it["baseline"] == {"NUM_LAYERS": "9"}
    assert it["evidence"]["treatment"] == {"NUM_LAYERS": "5"}          # the MLX evidence stays as evidence


def test_code_finding_points_at_the_records_that_introduced_it(interventions_json):
    it = realise("ema", {"EMA_DECAY": 0.99}, {"EMA_DECAY": 0.0}, interventions_json)
    assert it["how"] == "records" and it["env"] == {} and "does not read EMA_DECAY" in it["source"]
    recs = it["records"]
    assert 1 <= len(recs) <= 3 and all(r["folder"] and isinstance(r["val_bpb"], float) for r in recs)
    extracted = {r["record_id"]: r for r in json.loads(interventions_json.read_text())["records"]}
    for r in recs:
        assert "ema" in {m["name"] for m in extracted[r["folder"]]["interventions"]}
        assert r["val_bpb"] == extracted[r["folder"]]["val_bpb"]
    dates = [r["date"] or "" for r in recs]
    assert dates == sorted(dates)        # the earliest: the ones that brought the technique in
    assert realise("ema", {"EMA_DECAY": 0.99}, {}, None)["records"] == []   # no extraction: none cited


def test_validation_commands():
    cmds = validation_commands({"NUM_LAYERS": "10"})
    assert cmds[0] == "python3 data/cached_challenge_fineweb.py --variant sp1024"
    runs = cmds[1:]
    assert len(runs) == 3 and len({c.split()[1] for c in runs}) == 3
    for c in runs:
        assert c.endswith("torchrun --standalone --nproc_per_node=8 train_gpt.py")
        for s in ("MAX_WALLCLOCK_SECONDS=600", "DATA_PATH=./data/datasets/fineweb10B_sp1024",
                  "TOKENIZER_PATH=./data/tokenizers/fineweb_1024_bpe.model", "VOCAB_SIZE=1024", "NUM_LAYERS=10"):
            assert s in c.split()
