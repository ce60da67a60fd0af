"""Trainer throughput: tokens/s, model-FLOP utilisation, validation tokens/s, peak memory.

    uv run python bench/bench_trainer.py [--steps 5] [--ref-steps 2] [--threads N]

Config: NUM_LAYERS=4 MODEL_DIM=256 NUM_HEADS=4 NUM_KV_HEADS=2 TRAIN_SEQ_LEN=256
TRAIN_BATCH_TOKENS=8192 VOCAB_SIZE=1024 on the embedded corpus (prepared on first use).
Two child processes run the same measurement: one with the fast-BLAS environment the
trainer's bootstrap would use, one on MLX's reference BLAS (a few steps), so the ratio
compares like with like. MFU is against an fp32 sgemm peak measured inside each child
(same BLAS, same thread count). Other processes on the machine skew everything: the
summary says how loaded it was, and each child also reports its step's process CPU time and
an MFU from it against a CPU-time sgemm peak (with 1 thread nearly independent of load). The
step is the trainer's (compiled loss+grad, clip, compiled optimizer). The reference child
evaluates 1/8 of the validation tokens (it is ~30x slower).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_ENV = {"NUM_LAYERS": "4", "MODEL_DIM": "256", "NUM_HEADS": "4", "NUM_KV_HEADS": "2", "TRAIN_SEQ_LEN": "256",
             "TRAIN_BATCH_TOKENS": "8192", "VOCAB_SIZE": "1024", "GRAD_ACCUM_STEPS": "1", "MLP_MULT": "2",
             "VAL_BATCH_SIZE": "16384", "VAL_MAX_TOKENS": "32768", "UNET_SKIPS": "0", "ITERATIONS": "1000",
             "WARMDOWN_ITERS": "0", "MAX_WALLCLOCK_SECONDS": "0", "RUN_ID": "bench"}


def load_trainer():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_gpt_mlx", ROOT / "train_gpt_mlx.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_gpt_mlx"] = mod
    spec.loader.exec_module(mod)
    return mod


def ensure_data(data_dir: Path) -> Path:
    if (data_dir / "tokenizer.model").exists() and list(data_dir.glob("fineweb_val_*.bin")):
        return data_dir
    sys.path.insert(0, str(ROOT))
    from causal_core.data.prepare import prepare_embedded
    prepare_embedded(data_dir, vocab_size=1024, size_mb=2.0, seed=0)
    return data_dir


def model_flops_per_token(c, n_matrix_params: int) -> float:
    """6 x (matmul parameters incl. the tied head) + attention scores/values (12 * layers * seq * dim, PaLM-style)."""
    return 6.0 * n_matrix_params + 12.0 * c.num_layers * c.num_loops * c.train_seq_len * c.model_dim


def child(steps: int, val_tokens: int) -> dict:
    T = load_trainer()
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    c = T.load_config(dict(os.environ))
    # fp32 sgemm peak in this process: same BLAS, same thread count as the training below.
    n = 1024
    a, b = mx.random.normal((n, n)), mx.random.normal((n, n))
    mx.eval(a @ b)
    best = best_cpu = 0.0
    for _ in range(3):
        t, tc = time.perf_counter(), time.process_time()
        for _ in range(4):
            mx.eval(a @ b)
        best = max(best, 4 * 2 * n ** 3 / (time.perf_counter() - t))
        best_cpu = max(best_cpu, 4 * 2 * n ** 3 / max(time.process_time() - tc, 1e-9))
    model = T.build_model(c)
    opt = T.Optimizers(model, c)
    params = dict(tree_flatten(model.parameters()))
    n_matrix = sum(int(v.size) for k, v in params.items() if v.ndim == 2 and k != "bigram.weight")
    stream = T.TokenStream(T.shard_files(c.data_path, "train"), c.vocab_size)
    state = model.state
    grad_fn = mx.compile(nn.value_and_grad(model, lambda x, y: model.loss(x, y)), inputs=state, outputs=state)

    def step(i):   # the trainer's train_step: compiled loss+grad, clip, compiled optimizer update
        x, y = stream.next_batch(c.train_batch_tokens, c.train_seq_len)
        loss, grads = grad_fn(x, y)
        grads, _ = T.clip_grads(dict(tree_flatten(grads)), c.grad_clip_norm)
        opt.step(model, grads, i, 1.0)
        mx.eval(loss, model.parameters(), opt.state())
        return float(loss.item())

    t = time.perf_counter()
    step(0)                       # compile
    compile_s = time.perf_counter() - t
    times, cpu = [], []
    for i in range(steps):
        t, tc = time.perf_counter(), time.process_time()
        step(i + 1)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - tc)
    step_s = sorted(times)[len(times) // 2]
    cpu_s = sorted(cpu)[len(cpu) // 2]
    tok_s = c.train_batch_tokens / step_s
    fpt = model_flops_per_token(c, n_matrix)

    luts = T.build_byte_luts(c.tokenizer_path, c.vocab_size)
    val = T.load_val_tokens(c)[: val_tokens + 1]
    loss_fn = mx.compile(lambda x, y: model.token_losses(x, y), inputs=state, outputs=state)
    T.evaluate(c, loss_fn, val[: 2 * c.train_seq_len + 1], luts)      # compile
    t = time.perf_counter()
    _, _, n_val = T.evaluate(c, loss_fn, val, luts)
    val_tok_s = n_val / (time.perf_counter() - t)
    peak = mx.get_peak_memory() if hasattr(mx, "get_peak_memory") else 0
    return {"blas": T.blas_in_use(), "threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "sgemm_gflops": best / 1e9, "params": T.count_params(model), "matrix_params": n_matrix,
            "model_gflop_per_token": fpt / 1e9, "compile_s": compile_s, "step_s_median": step_s,
            "step_s_all": times, "train_tok_s": tok_s, "achieved_gflops": tok_s * fpt / 1e9,
            "mfu": tok_s * fpt / best, "cpu_s_per_step": cpu_s,
            "sgemm_gflops_cpu_time": best_cpu / 1e9, "mfu_cpu_time": c.train_batch_tokens / cpu_s * fpt / best_cpu, "val_tok_s": val_tok_s, "val_tokens": n_val,
            "mlx_peak_mem_mb": peak / 2 ** 20, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(env: dict, steps: int, val_tokens: int) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", "--steps", str(steps), "--val-tokens", str(val_tokens)],
                       env=env, capture_output=True,
                       text=True, timeout=3600)
    if r.returncode != 0:
        raise SystemExit(f"bench child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed steps on the fast BLAS")
    ap.add_argument("--ref-steps", type=int, default=2, help="timed steps on the reference BLAS (0 = skip)")
    ap.add_argument("--threads", help="OPENBLAS_NUM_THREADS for both children (default: inherited; unset = the trainer's default, 1)")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "embedded_sp1024")
    ap.add_argument("--val-tokens", type=int, default=32768, help="validation tokens (the reference child uses 1/8)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.steps, args.val_tokens)))
        return 0

    data = ensure_data(args.data)
    T = load_trainer()
    base = {k: v for k, v in os.environ.items() if k not in T.VAR_BY_NAME and k != T.BLAS_ENV_MARKER}
    base.update(BENCH_ENV, DATA_PATH=str(data), TOKENIZER_PATH=str(data / "tokenizer.model"), OUT_DIR="/tmp/bench_trainer")
    if args.threads:
        base["OPENBLAS_NUM_THREADS"] = args.threads
    fast_env, why = T.fast_blas_env(base)
    load = os.getloadavg()[0]
    print(f"config: {' '.join(f'{k}={v}' for k, v in BENCH_ENV.items() if k not in ('RUN_ID', 'ITERATIONS'))}")
    print(f"machine: {os.cpu_count()} cpus, load average {load:.2f} at start; fast BLAS: {why}")
    results = {}
    if fast_env is not None:
        fast_env[T.BLAS_ENV_MARKER] = "bench"
        results["fast"] = run_child(fast_env, args.steps, args.val_tokens)
    if args.ref_steps > 0 or fast_env is None:
        ref_env = dict(base, CAUSAL_GOLF_BLAS="reference", **{T.BLAS_ENV_MARKER: "none:bench reference"})
        results["reference"] = run_child(ref_env, max(args.ref_steps, 1), max(args.val_tokens // 8, 2048))
    for name, r in results.items():
        print(f"[{name}] blas={r['blas']} threads={r['threads']} params={r['params']:,}")
        print(f"[{name}]   train: {r['train_tok_s']:,.0f} tokens/s (median step {r['step_s_median'] * 1000:.0f} ms, "
              f"compile {r['compile_s']:.1f} s) = {r['achieved_gflops']:.1f} GFLOP/s of model math")
        print(f"[{name}]   sgemm peak {r['sgemm_gflops']:.1f} GFLOP/s -> MFU {100 * r['mfu']:.1f}% "
              f"(by process CPU time, less sensitive to other load with 1 thread: {r['cpu_s_per_step'] * 1000:.0f} ms/step, "
              f"peak {r['sgemm_gflops_cpu_time']:.1f} -> {100 * r['mfu_cpu_time']:.1f}%)")
        print(f"[{name}]   validation: {r['val_tok_s']:,.0f} tokens/s over {r['val_tokens']} tokens")
        print(f"[{name}]   peak memory: mlx {r['mlx_peak_mem_mb']:.0f} MB, max RSS {r['max_rss_mb']:.0f} MB")
    if "fast" in results and "reference" in results:
        print(f"speedup fast/reference: train {results['fast']['train_tok_s'] / results['reference']['train_tok_s']:.1f}x, "
              f"sgemm {results['fast']['sgemm_gflops'] / results['reference']['sgemm_gflops']:.1f}x")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("json:", json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
