"""Extraction on the 45 real parameter-golf records: coverage, official scores, known
interventions on clear cases and precision on known negatives."""
from __future__ import annotations

import json
import math

import pytest

from causal_core.records import extract_records
from causal_core.records.submission import valid_bpb


@pytest.fixture(scope="module")
def result(records_dir):
    return extract_records([records_dir])


@pytest.fixture(scope="module")
def by_tail(result):
    return {e.record_id.rsplit("/", 1)[-1]: e for e in result.records}


def names(entry) -> set[str]:
    return set(entry.intervention_names())


def test_every_record_parsed_and_coverage(result):
    assert len(result.records) == 45
    assert result.skipped == []
    cov = result.field_coverage
    for f in ("val_bpb", "name", "date", "interventions", "all_four"):
        assert cov[f] >= 0.95, (f, cov)


def test_val_bpb_equals_official_score(result, records_dir):
    mismatches = []
    for e in result.records:
        p = records_dir / e.record_id / "submission.json"
        if not p.is_file():
            continue
        official = json.loads(p.read_text()).get("val_bpb")
        if isinstance(official, (int, float)) and valid_bpb(float(official)):
            if e.val_bpb is None or not math.isclose(e.val_bpb, official, abs_tol=1e-9):
                mismatches.append((e.record_id, official, e.val_bpb))
    assert mismatches == []


def test_mislabeled_bpb_under_val_loss(by_tail):
    e = by_tail["2026-03-20_10L_Int5MLP_MuonWD04_SWA50"]
    assert e.val_bpb == pytest.approx(1.14276)
    assert e.val_loss is None
    assert "mislabeled" in e.field_sources["val_bpb"]
    assert any("val_loss" in w for w in e.warnings)


def test_log_only_folder_reads_score_from_log(by_tail):
    e = by_tail["2026-03-19_int6_STE QAT_ MLP_bigram _U_Net"]
    assert e.source_format == "log_only"
    assert e.val_bpb == pytest.approx(1.15977898)
    assert e.date == "2026-03-19" and e.field_sources["date"] == "folder name"
    assert {"qat", "low_bit_quant", "bigram_hash", "unet_skips", "wider_mlp"} <= names(e)


def test_naive_baseline_has_no_interventions(by_tail):
    assert by_tail["2026-03-17_NaiveBaseline"].interventions == []


def test_lower_lr_is_only_lr_tuning(by_tail):
    e = by_tail["2026-03-18_LowerLR"]
    assert names(e) == {"lr_tuning"}
    attrs = e.interventions[0].attributes
    assert attrs["matrix_lr"] == 0.02 and attrs["tied_embed_lr"] == 0.03


def test_sliding_window_eval_only_and_disabled_code_paths_ignored(by_tail):
    # Its script carries QAT and looped-layer code, stated as disabled (NUM_LOOPS=1 QAT=0).
    e = by_tail["2026-03-19_SlidingWindowEval"]
    assert names(e) == {"sliding_window_eval"}
    assert e.interventions[0].attributes["stride"] == 64
    assert e.source_format == "B"
    assert e.base_bpb == pytest.approx(1.2244)


def test_fp16_embed_record_excludes_what_it_tried_and_rejected(by_tail):
    # "things I tried that didn't work": SwiGLU, depth recurrence, QAT, lzma.
    e = by_tail["2026-03-18_FP16Embed_WD3600"]
    assert names(e) == {"fp16_embeddings", "warmdown_schedule", "lr_tuning"}
    assert next(m for m in e.interventions if m.name == "warmdown_schedule").attributes["warmdown"] == 3600


def test_late_qat_that_never_activated_is_not_counted(by_tail):
    e = by_tail["2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248"]
    assert "qat" not in names(e)
    assert {"xsa", "ema", "partial_rope", "more_layers", "sliding_window_eval"} <= names(e)
    layers = next(m for m in e.interventions if m.name == "more_layers").attributes["layers"]
    assert layers == 11
    assert "larger_vocab" not in names(e)          # BIGRAM_VOCAB_SIZE=2048 is not the vocab
    assert e.parent == "PR #287" and e.source_format == "B"
    assert "partial_rope" in e.delta_interventions


def test_format_a_table_gives_parent_delta_and_base(by_tail):
    e = by_tail["2026-03-22_11L_EMA_GPTQ-lite_warmdown3500_QAT015_1.1233"]
    assert e.source_format == "A"
    assert e.parent == "PR #374"
    assert {"gptq", "ema", "warmdown_schedule"} <= set(e.delta_interventions)
    assert e.base_bpb == pytest.approx(1.1246)
    assert e.delta_bpb == pytest.approx(e.val_bpb - 1.1246)


def test_no_ttt_record_and_loader(by_tail):
    # "No TTT": score-first TTT was tested but found neutral.
    e = by_tail["2026-03-29_Loader_FullGPTQ_XSA11_BigramHash2816"]
    assert "test_time_training" not in names(e)
    assert {"data_loader", "gptq", "xsa", "bigram_hash"} <= names(e)
    assert next(m for m in e.interventions if m.name == "bigram_hash").attributes["buckets"] == 2816
    assert e.parent == "PR #549"


def test_seq_len_going_back_to_1024_is_not_longer_seq(by_tail):
    # "TRAIN_SEQ_LEN=1024 (down from 4096)".
    e = by_tail["2026-03-19_MixedQuant_Int6Int8_SlidingWindow"]
    assert "longer_train_seq" not in names(e)
    assert {"wider_mlp", "low_bit_quant", "mixed_precision_quant", "sliding_window_eval"} <= names(e)


def test_ttt_and_activation(by_tail):
    e = by_tail["2026-03-23_LeakyReLU_LegalTTT_ParallelMuon"]
    assert {"activation_change", "test_time_training", "systems_speedup"} <= names(e)


def test_ttt_kept_when_only_another_pr_had_none(by_tail):
    # "PR #1412: SP8192 + parallel residuals, no TTT" describes another record.
    e = by_tail["2026-04-08_SP8192_ParallelResid_ScoreFirstTTT"]
    assert {"test_time_training", "parallel_residuals", "larger_vocab"} <= names(e)


def test_hnet_ema_smoothing_is_not_weight_ema(by_tail):
    assert "ema" not in names(by_tail["2026-03-29_HNet_ByteVsSubword_Study"])


def test_folder_name_is_evidence(by_tail):
    e = by_tail["2026-03-24_106M_Binary_Asymmetric_UNet_FP8_15L_8192BPE_YaRN_NeoMuon_Smear"]
    assert e.val_bpb == pytest.approx(1.1239) and e.field_sources["val_bpb"] == "README.md:headline"
    got = {m.name: m for m in e.interventions}
    assert got["more_layers"].attributes["layers"] == 15
    assert got["larger_vocab"].attributes["vocab"] == 8192
    assert any(ev.source == "folder name" for ev in got["smeargate"].evidence)


def test_every_intervention_has_evidence(result):
    for e in result.records:
        for m in e.interventions:
            assert m.evidence, (e.record_id, m.name)
            assert all(len(ev.text) <= 200 for ev in m.evidence)


def test_metric_label_no_ttt_does_not_veto(by_tail):
    # "Quantized BPB (no TTT)" labels a column; the record's final eval is phased TTT.
    e = by_tail["2026-04-19_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT"]
    assert {"test_time_training", "tokenizer_transform", "depth_recurrence", "gated_attention"} <= names(e)
