"""Run a foreign MLX trainer script unchanged, with our fast-BLAS bootstrap in front of it.

    python -m causal_core.launch_trainer SCRIPT [ARGS...]

MLX's Linux CPU wheel links the reference BLAS; our trainer re-execs itself once with a fast
OpenBLAS preloaded (train_gpt_mlx.py, section 1). A foreign script (the challenge's
train_gpt_mlx.py) has no such bootstrap, so this launcher does it for it: the preload lives
only in this process's re-exec, never in the user's environment or the experiment config.
Then it runs SCRIPT as `__main__` (runpy), with sys.argv and sys.path as `python SCRIPT` would.
Use it as the config's command: ["{python}", "-m", "causal_core.launch_trainer", "{trainer}"].
"""
from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path


def _bootstrap() -> None:
    if "CAUSAL_GOLF_BLAS_BOOTSTRAPPED" in os.environ:
        return
    from causal_core.diagnostics.common import trainer
    trainer().bootstrap_fast_blas()    # re-execs this launcher (same argv) when a fast BLAS is usable


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m causal_core.launch_trainer SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = Path(argv[0])
    if not script.is_file():
        print(f"launch_trainer: error: trainer {script} is missing", file=sys.stderr)
        return 2
    _bootstrap()
    sys.argv = [str(script)] + argv[1:]
    sys.path[0] = str(script.resolve().parent)
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
