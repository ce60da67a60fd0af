"""TEST WRAPPER (not a trainer): runs the real trainer script unchanged, through
causal_core.launch_trainer, as `python -m causal_core.launch_trainer SCRIPT` would.

For the seed named by $CRASH_SEED it gives that real script a VOCAB_SIZE its tokenizer does not
have, so the script itself fails as a misconfigured run does (ValueError, exit 1). A config has
no per-seed env, so this is how a test makes exactly one seed of a real foreign trainer crash.
"""
import os
import sys

if os.environ.get("CRASH_SEED") and os.environ.get("SEED") == os.environ["CRASH_SEED"]:
    os.environ["VOCAB_SIZE"] = str(int(os.environ.get("VOCAB_SIZE", "1024")) + 1)
os.execv(sys.executable, [sys.executable, "-m", "causal_core.launch_trainer", *sys.argv[1:]])
