"""TEST TRAINER (not a model): a stand-in for train_gpt_mlx.py that follows the same conventions.

It exercises the runner's subprocess machinery only: configured by env (SEED, RUN_ID,
OUT_DIR, ITERATIONS, STUB_* knobs), prints challenge-style lines, writes OUT_DIR/RUN_ID.txt
and RUN_ID_metrics.jsonl. The score is a deterministic function of SEED and STUB_EFFECT.
Knobs: STUB_SLEEP (s per step), STUB_FAIL_SEED (comma list: exit 3 for those seeds), STUB_NO_STDOUT_SCORE
(score only in the log file), STUB_EFFECT (added to the score), STUB_HANG (sleep forever),
STUB_TRACE (a file: one line per start, with how many OTHER live processes train the same
RUN_ID in the same OUT_DIR, read from /proc: a duplicate run shows up as others>0).
"""
import json
import os
import random
import sys
import time

seed = int(os.environ["SEED"])
run_id = os.environ["RUN_ID"]
out_dir = os.environ.get("OUT_DIR", "logs")
iters = int(os.environ.get("ITERATIONS", "4"))
sleep = float(os.environ.get("STUB_SLEEP", "0"))
effect = float(os.environ.get("STUB_EFFECT", "0"))
os.makedirs(out_dir, exist_ok=True)
rng = random.Random(seed)
log = open(os.path.join(out_dir, f"{run_id}.txt"), "w")
metrics = open(os.path.join(out_dir, f"{run_id}_metrics.jsonl"), "w")


def emit(line, to_stdout=True):
    if to_stdout:
        print(line, flush=True)
    log.write(line + "\n")
    log.flush()


if os.environ.get("STUB_TRACE"):
    mine = {b"RUN_ID=" + run_id.encode(), b"OUT_DIR=" + out_dir.encode()}
    others = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = set(open(f"/proc/{pid}/environ", "rb").read().split(b"\0"))
        except OSError:
            continue
        others += int(pid) != os.getpid() and mine <= env
    with open(os.environ["STUB_TRACE"], "a") as tr:
        tr.write(f"{run_id} pid={os.getpid()} others={others}\n")
# It reads (and reports) the architecture switches the runner tests vary, so that the runner's
# actuation check (causal_core/experiments/actuation.py) sees a trainer that can switch them.
arch = f"layers:{os.environ.get('NUM_LAYERS', '3')} mlp_mult:{os.environ.get('MLP_MULT', '2')}"
emit(f"threads:{os.environ.get('OPENBLAS_NUM_THREADS')} seed:{seed} {arch}")
t0 = time.time()
if str(seed) in os.environ.get("STUB_FAIL_SEED", "").split(","):
    print("Traceback (most recent call last):\nRuntimeError: stub failure for this seed", file=sys.stderr)
    sys.exit(3)
if os.environ.get("STUB_HANG"):
    time.sleep(3600)
bpb = 2.5 + rng.gauss(0, 0.003) + effect
for step in range(1, iters + 1):
    time.sleep(sleep)
    ms = (time.time() - t0) * 1000
    emit(f"step:{step}/{iters} train_loss:{4.0 - step * 0.1:.4f} train_time:{ms:.0f}ms")
    metrics.write(json.dumps({"step": step, "train_loss": 4.0 - step * 0.1, "elapsed_ms": ms}) + "\n")
    metrics.flush()
emit(f"step:{iters}/{iters} val_loss:{bpb * 1.69:.4f} val_bpb:{bpb + 0.01:.4f} train_time:{ms:.0f}ms")
emit("serialized_model_int8_zlib:123456 bytes")
quiet = bool(os.environ.get("STUB_NO_STDOUT_SCORE"))
emit(f"final_int8_zlib_roundtrip val_loss:{bpb * 1.69:.4f} val_bpb:{bpb:.4f} eval_time:1ms", not quiet)
emit(f"final_int8_zlib_roundtrip_exact val_loss:{bpb * 1.69:.8f} val_bpb:{bpb:.8f}", not quiet)
