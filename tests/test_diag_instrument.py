"""Instrumenting a foreign (challenge-style) trainer: a faithful excerpt of its training loop."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from causal_core.diagnostics.common import DiagnosticError
from causal_core.diagnostics import grad_attribution as ga

# The loop structure of openai/parameter-golf train_gpt_mlx.py (warmup accumulation, then the
# main loop: lr_mul, accumulation loop, clip, train_loss log line), shrunk to run in a second.
EXCERPT = '''
import math
import time
import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten


def accumulate_flat_grads(accum, grads, scale):
    flat = dict(tree_flatten(grads))
    if accum is None:
        return {k: g * scale for k, g in flat.items()}
    return {k: accum[k] + g * scale for k, g in flat.items()}


class Args:
    iterations = 12
    grad_accum_steps = 2
    warmup_steps = 1
    train_log_every = 1

    def lr_mul(self, step, elapsed_ms):
        if step < 3:
            return (step + 1) / 3
        return max((self.iterations - step) / 4, 0.0) if step >= self.iterations - 4 else 1.0


def main():
    args = Args()
    w = {"blocks": [{"attn": {"w": mx.ones((4, 4))}}, {"mlp": {"w": mx.ones((4, 4))}}], "tok_emb": mx.ones((8, 4))}

    def loss_and_grad(step):
        g = {"blocks": [{"attn": {"w": mx.ones((4, 4)) * (step + 1)}}, {"mlp": {"w": mx.ones((4, 4))}}],
             "tok_emb": mx.ones((8, 4)) * 0.5}
        return mx.array(10.0 / (step + 1)), g

    for warmup_step in range(args.warmup_steps):
        accum = None
        for _ in range(args.grad_accum_steps):
            warmup_loss, grads = loss_and_grad(0)
            accum = accumulate_flat_grads(accum, grads, 0.5)
    step = 0
    t0 = time.perf_counter()
    while True:
        if step == args.iterations:
            print(f"step:{step}/{args.iterations} val_loss:{10.0 / (step + 1):.4f} val_bpb:1.0")
            break
        if step % 3 == 0:
            print(f"step:{step}/{args.iterations} val_loss:{10.0 / (step + 1):.4f} val_bpb:1.0")
        lr_mul = args.lr_mul(step, 1000.0 * (time.perf_counter() - t0))
        step_t0 = time.perf_counter()

        accum = None
        train_loss = mx.array(0.0, dtype=mx.float32)
        grad_scale = 1.0 / args.grad_accum_steps
        for _ in range(args.grad_accum_steps):
            loss, grads = loss_and_grad(step)
            accum = accumulate_flat_grads(accum, grads, grad_scale)
            train_loss = train_loss + loss.astype(mx.float32) * grad_scale

        grads = tree_unflatten(list(accum.items()))
        train_loss_value = float(train_loss.item())
        step += 1
        if args.train_log_every > 0:
            print(f"step:{step}/{args.iterations} train_loss:{train_loss_value:.4f} lr:{lr_mul:.3f}")


if __name__ == "__main__":
    main()
'''


def test_instruments_a_copy_after_the_last_accumulation_loop(tmp_path):
    src = tmp_path / "train_gpt_mlx.py"
    src.write_text(EXCERPT)
    copy = ga.instrument_script(src, tmp_path / "work" / "instrumented.py")
    assert src.read_text() == EXCERPT                    # original untouched
    text = copy.read_text()
    ast.parse(text)
    assert text.count("_cg_log_grad_norms(step, lr_mul, accum, train_loss)") == 1
    call_line = text.splitlines().index("        _cg_log_grad_norms(step, lr_mul, accum, train_loss)")
    assert "train_loss = train_loss +" in text.splitlines()[call_line - 2]   # right after the main loop's body
    log = tmp_path / "gn.jsonl"
    r = subprocess.run([sys.executable, str(copy)], env=dict(os.environ, GRAD_NORM_LOG_PATH=str(log)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in log.read_text().splitlines()]
    assert [x["step"] for x in rows] == list(range(1, 13))
    assert rows[0]["grad_norms"]["blocks.0"] == pytest.approx(4.0) and rows[1]["grad_norms"]["blocks.0"] == pytest.approx(8.0)
    rep = ga.attribution(rows, ga.val_points_from_text(r.stdout))
    assert rep["boundaries"] == {"stable_start": 3, "warmdown_start": 10}
    assert rep["phases"]["stable"]["layers"]["blocks.0"]["corr_val_loss"] < -0.8


@pytest.mark.parametrize("edit,needle", [
    (("lr_mul = args.lr_mul(", "lr_scale = args.lr_mul("), "no 'lr_mul = ...'"),
    (("train_loss:{", "loss:{"), "no 'train_loss:' log line"),
    (("accum = accumulate_flat_grads", "accum = add_up"), "no gradient-accumulation call"),
])
def test_refuses_when_a_sentinel_was_edited(tmp_path, edit, needle):
    src = tmp_path / "train_gpt_mlx.py"
    src.write_text(EXCERPT.replace(*edit))
    with pytest.raises(DiagnosticError, match="refusing|no gradient") as e:
        ga.instrument_script(src, tmp_path / "copy.py")
    assert needle in str(e.value) and not (tmp_path / "copy.py").exists()


def test_refuses_lr_mul_too_far_from_the_loop(tmp_path):
    far = EXCERPT.replace("        step_t0 = time.perf_counter()\n", "        step_t0 = time.perf_counter()\n" + "        pad = 0\n" * 5)
    src = tmp_path / "t.py"
    src.write_text(far)
    with pytest.raises(DiagnosticError, match="within 5 statements"):
        ga.instrument_script(src, tmp_path / "copy.py")


def test_cli_refusal_is_one_line_exit_2(tmp_path, capsys):
    from causal_core.cli import main
    src = tmp_path / "t.py"
    src.write_text(EXCERPT.replace("train_loss:{", "loss:{"))
    assert main(["diag", "grad-attribution", "--script", str(src), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sentinel missing" in err[0]
    assert not list((tmp_path / "o").rglob("*.json"))


def test_phases_from_lr_mul():
    p = ga.phases([1, 2, 3, 4, 5, 6], [0.3, 0.6, 1.0, 1.0, 0.5, 0.0])
    assert p == {"warmup": [1, 2], "stable": [3, 4], "warmdown": [5, 6]}
