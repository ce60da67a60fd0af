from __future__ import annotations

import pytest

from causal_core.logparse import final_score, record_score, score_lines

OURS = """\
step:1/20 train_loss:6.9 train_time:10ms
step:10/20 val_loss:4.1 val_bpb:2.4321 train_time:100ms
step:20/20 val_loss:3.9 val_bpb:2.3000 train_time:200ms
serialized_model_int8_zlib:123456 bytes
final_int8_zlib_roundtrip val_loss:3.9100 val_bpb:2.3100 eval_time:12ms
final_int8_zlib_roundtrip_exact val_loss:3.91000123 val_bpb:2.31000456
"""


def test_exact_roundtrip_line_wins():
    s = final_score(OURS)
    assert s.val_bpb == 2.31000456 and s.exact and s.label == "final_int8_zlib_roundtrip_exact"


def test_step_evals_only_when_allowed():
    crashed = "\n".join(OURS.splitlines()[:3])
    assert final_score(crashed).val_bpb == 2.3
    assert final_score(crashed, allow_step=False) is None


def test_source_echo_and_newer_step_format():
    text = ('print(f"val_bpb:{val_bpb:.4f}")\n5967/20000 val_loss: 2.5434 val_bpb: 1.1053\n'
            "pre-quantization post-ema val_loss:2.54 val_bpb:1.1041\n"
            "final_int6_sliding_window val_loss:2.52 val_bpb:1.09743840 eval_time:65493ms\n")
    lines = score_lines(text)
    assert [s.final for s in lines] == [False, True, True]
    assert lines[1].diagnostic and final_score(text).val_bpb == 1.0974384


def test_later_eval_supersedes_and_ttt_progress_ignored():
    text = OURS + ("ttt_sliding:done val_loss=1.8 val_bpb=1.120020 elapsed=407.5s\n"
                   "legal_ttt val_loss:1.8911 val_bpb:1.1200 eval_time:408049ms\n"
                   "legal_ttt_exact val_loss:1.89110239 val_bpb:1.12002032\n---\nval_bpb:  1.12002032\n")
    assert final_score(text).label == "legal_ttt_exact"


# Records whose official score cannot be recovered from their own logs, and why.
UNRECOVERABLE = {
    "2026-03-19_MLP3x_QAT_Int6_SlidingWindow": "official is a 3-seed mean (README table); the one log is another run (1.1666)",
    "2026-03-19_Seq2048_FP16Emb_TunedLR": "submission.json holds seed 3's score; the README reports the 3-seed mean (1.1598), which the rule recovers",
    "2026-03-31_LegendreGPT": "official comes from a mixed INT8/INT7+LZMA eval absent from the log (log: INT7 roundtrip 1.2353)",
    "2026-03-29_HNet_ByteVsSubword_Study": "no train.log/train_seed*.log; official is train_byte260_4h.log, one of three study logs",
}


def test_records_official_scores(records_dir):
    folders = sorted(p for p in records_dir.glob("*/*") if p.is_dir())
    checked = 0
    for folder in folders:
        rs = record_score(folder)
        if rs.official is None or not rs.per_log:
            continue
        if folder.name in UNRECOVERABLE:
            assert not rs.agrees, f"{folder.name} now agrees: drop it from UNRECOVERABLE"
            continue
        assert rs.agrees, f"{folder.name}: official {rs.official} vs {rs.recovered} ({rs.rule})"
        checked += 1
    assert checked >= 30


def test_hnet_official_log_is_parsed_exactly(records_dir):
    folder = records_dir / "track_non_record_16mb" / "2026-03-29_HNet_ByteVsSubword_Study"
    if not folder.is_dir():
        pytest.skip("record absent")
    rs = record_score(folder)
    assert rs.per_log["train_byte260_4h.log"] == rs.official
