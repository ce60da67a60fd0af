"""`causal-golf diag <name>`: checkpoint diagnostics writing JSON into results/causal/diagnostics/.

    causal-golf diag token-loss [--checkpoint RUN_config.json] [--data DIR] [--out DIR] [--save-losses]
    causal-golf diag quant-gap [--checkpoint ..] [--largest-effect BPB | --effects FILE ..] [--set QUANT_BITS=4] [--per-category]
    causal-golf diag influence [--checkpoint ..] [--max-shards 64] [--chunk-tokens 4096] [--keep-grads]
    causal-golf diag grad-attribution [--script foreign_train_gpt_mlx.py] [--gradnorms F --val-log F] [-- NAME=VALUE ..]
    causal-golf diag probe-direction --pool-a freq:top --pool-b freq:tail [--svd] [--direction-file v.npz]
    causal-golf diag probe-gate RUN_projection.jsonl

Without --checkpoint the default checkpoint (results/causal/diagnostics/checkpoints) is used,
trained first (cpu_small on the embedded default) when absent. See docs/diagnostics.md.
"""
from __future__ import annotations

import argparse
import re

from causal_core.cli import CliError

# Library parameters whose flag is not --snake-case (causal_core/errors.py: for_cli).
FLAGS = {"data_path": "--data", "n_samples": "--samples", "largest_effect_bpb": "--largest-effect"}

NAMES = ("token-loss", "quant-gap", "influence", "grad-attribution", "probe-direction", "probe-gate")
_ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.S)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="diag", metavar="DIAGNOSTIC", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", default="results/causal/diagnostics", help="output directory (or a .json path)")
    ck = argparse.ArgumentParser(add_help=False)
    ck.add_argument("--checkpoint", help="RUN_config.json, RUN_mlx_model.npz or a run directory; default: the default "
                                         "checkpoint, trained first when absent")
    ck.add_argument("--data", help="DATA_PATH override (the checkpoint's data directory)")
    ck.add_argument("--tokenizer", help="TOKENIZER_PATH with --data (default: DIR/tokenizer.model, else the "
                                        "checkpoint's, else the challenge's data/tokenizers/fineweb_N_bpe.model)")

    s = sub.add_parser("token-loss", parents=[common, ck], help="per-token val losses, decomposition, categories")
    s.add_argument("--save-losses", action="store_true", help="also write token_loss_per_token.npz")

    s = sub.add_parser("quant-gap", parents=[common, ck], help="val_bpb before/after the export round trip")
    s.add_argument("--largest-effect", type=float, help="largest training effect (bpb) to compare the gap with")
    s.add_argument("--effects", nargs="+", help="experiment_log.json / stats.json files or globs (default: results/causal)")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="export variable to use instead of the checkpoint's, e.g. QUANT_BITS=4 (repeatable)")
    s.add_argument("--per-category", action="store_true", help="per-category bpb contributions pre and post")

    s = sub.add_parser("influence", parents=[common, ck], help="gradient-dot influence of training chunks")
    s.add_argument("--max-shards", type=int, default=64, help="training chunks to score (lowered if memory is short)")
    s.add_argument("--chunk-tokens", type=int, default=4096)
    s.add_argument("--val-max-tokens", type=int, help="validation tokens for the validation gradient")
    s.add_argument("--train-glob", help="score chunks of these shard files instead of the train split")
    s.add_argument("--keep-grads", action="store_true", help="keep every chunk gradient (influence_grads.npy)")

    s = sub.add_parser("grad-attribution", parents=[common], help="per-layer grad norms by LR phase vs loss")
    s.add_argument("--script", help="foreign challenge-style trainer to instrument (a copy) and run")
    s.add_argument("--gradnorms", help="analyse an existing RUN_gradnorms.jsonl instead of training")
    s.add_argument("--val-log", help="with --gradnorms: RUN_metrics.jsonl or a log with 'step:N/M val_loss:X' lines")
    s.add_argument("--run-id", default="diag_gradattr")
    s.add_argument("env", nargs="*", metavar="NAME=VALUE", help="trainer environment after '--'")

    s = sub.add_parser("probe-direction", parents=[common, ck], help="gradient direction between two pools")
    s.add_argument("--pool-a", required=True, help="shards:<glob> | freq:<top|mid|tail> | pos:<boundary|mid_sequence>")
    s.add_argument("--pool-b", required=True)
    s.add_argument("--samples", type=int, default=16, help="samples per pool (even: fit, odd: held out)")
    s.add_argument("--sample-tokens", type=int, default=512)
    s.add_argument("--svd", action="store_true", help="keep the difference on the matrices' singular pairs")
    s.add_argument("--direction-file", help="where to save v (default OUT/probe_direction.npz)")

    s = sub.add_parser("probe-gate", parents=[common], help="phase gate over a RUN_projection.jsonl")
    s.add_argument("projection_log")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        m = _ASSIGN.match(item)
        if not m:
            raise CliError(f"{what} {item!r} is not NAME=VALUE (upper-case NAME)")
        out[m.group(1)] = m.group(2)
    return out


def _summary(rep: dict) -> str:
    d = rep["diagnostic"]
    if d == "token_loss":
        return (f"val_loss {rep['val_loss']:.6f} val_bpb {rep['val_bpb']:.6f}; mean per-token loss matches within "
                f"{rep['decomposition_abs_diff']:.1e}; " + ", ".join(
                    f"{k} {v['bpb_contribution']:.4f}" for k, v in rep["categories"]["frequency"].items()))
    if d == "quant_gap":
        ex = rep["gap_exceeds_threshold"]
        return (f"pre {rep['pre_val_bpb']:.6f} post {rep['post_val_bpb']:.6f} gap {rep['gap_bpb']:+.6f} bpb; "
                + ("no effect figure to compare with" if ex is None else
                   f"{'EXCEEDS' if ex else 'within'} 3 x largest effect {rep['largest_effect_bpb']:.4f}"))
    if d == "influence":
        cv = rep["cv"]
        return (f"{rep['chunks_scored']} chunks, mean score {rep['score_mean']:.4g}, CV "
                f"{'inf' if cv is None else f'{cv:.3f}'}: {rep['recommendation']}")
    if d == "grad_attribution":
        return f"{rep['n_steps']} steps, {rep['n_val_points']} val points, boundaries {rep['boundaries']}"
    if d == "probe_direction":
        h = rep["held_out"]
        return f"held-out mean cos A {h['A']['mean_cos']:+.4f} B {h['B']['mean_cos']:+.4f}; v -> {rep['direction_file']}"
    if d == "probe_gate":
        return f"verdict {rep['verdict']}"
    return ""


def run(args: argparse.Namespace) -> int:
    from causal_core.diagnostics.common import maybe_bootstrap_fast_blas
    maybe_bootstrap_fast_blas(getattr(args, "owns_process", False))
    from causal_core.diagnostics import grad_attribution, influence, probe, quant_gap, token_loss
    d = args.diag
    if d == "token-loss":
        rep = token_loss.token_loss(args.checkpoint, data_path=args.data, tokenizer_path=args.tokenizer, out_dir=args.out, save_losses=args.save_losses)
    elif d == "quant-gap":
        rep = quant_gap.quant_gap(args.checkpoint, data_path=args.data, tokenizer_path=args.tokenizer, out_dir=args.out, largest_effect_bpb=args.largest_effect,
                                  effect_sources=args.effects, overrides=_pairs(args.overrides, "--set"),
                                  per_category=args.per_category)
    elif d == "influence":
        rep = influence.influence(args.checkpoint, data_path=args.data, tokenizer_path=args.tokenizer, out_dir=args.out, max_shards=args.max_shards,
                                  chunk_tokens=args.chunk_tokens, val_max_tokens=args.val_max_tokens,
                                  train_glob=args.train_glob, keep_grads=args.keep_grads)
    elif d == "grad-attribution":
        if args.val_log and not args.gradnorms:
            raise CliError("--val-log needs --gradnorms")
        rep = grad_attribution.grad_attribution(out_dir=args.out, script=args.script, env=_pairs(args.env, "argument"),
                                                gradnorms=args.gradnorms, val_log=args.val_log, run_id=args.run_id)
    elif d == "probe-direction":
        rep = probe.probe_direction(args.checkpoint, pool_a=args.pool_a, pool_b=args.pool_b, data_path=args.data,
                                    tokenizer_path=args.tokenizer,
                                    out_dir=args.out, n_samples=args.samples, sample_tokens=args.sample_tokens,
                                    svd=args.svd, direction_file=args.direction_file)
    elif d == "probe-gate":
        rep = probe.probe_gate(args.projection_log, out_dir=args.out)
    else:  # argparse restricts the choices
        raise CliError(f"unknown diagnostic {d!r}")
    print(f"{d}: {_summary(rep)}")
    print(f"{d}: wrote {rep['output']}")
    return 0
