"""Linux-CPU speed plumbing of train_gpt_mlx.py: a fast OpenBLAS preloaded by re-exec, and
glibc malloc tuning. Optional: the trainer imports it when it sits next to it and runs
without it (on the reference BLAS, slower). Imports no mlx: it runs before mlx loads.

Kept out of the trainer so a reader of train_gpt_mlx.py meets the model first; part of the
run-reuse key (causal_core/run_key.py) like the trainer itself.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# MLX's Linux CPU wheel links the reference BLAS (~3-5 GFLOP/s fp32). A DYNAMIC_ARCH
# OpenBLAS preloaded in front of it is ~30-40x faster. The preload has to be in the
# environment when the process starts (LD_PRELOAD), and that OpenBLAS needs
# libgfortran.so.5, which MLX bundles only under a mangled name, so we point a
# symlink at it from a shim directory on LD_LIBRARY_PATH. An in-process ctypes load
# cannot do this (the dynamic loader does not re-resolve already-bound symbols and
# cannot find libgfortran), hence: probe once in a subprocess, cache the verdict,
# and re-exec ourselves with the environment set.

BLAS_ENV_MARKER = "CAUSAL_GOLF_BLAS_BOOTSTRAPPED"
_PROBE_CODE = r"""
import json, time, numpy as np, mlx.core as mx
rng = np.random.default_rng(0)
a = rng.standard_normal((256, 256), dtype=np.float32); b = rng.standard_normal((256, 256), dtype=np.float32)
ok = bool(np.allclose(np.array(mx.array(a) @ mx.array(b)), a @ b, rtol=1e-3, atol=1e-3))
x = mx.random.normal((512, 512)); y = mx.random.normal((512, 512)); mx.eval(x @ y)
t = time.perf_counter(); n = 4
for _ in range(n): mx.eval(x @ y)
gflops = 2 * 512**3 * n / (time.perf_counter() - t) / 1e9
maps = open('/proc/self/maps').read()
print(json.dumps({"correct": ok, "gflops": gflops, "openblas_mapped": 'openblas' in maps}))
"""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "causal-golf"


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mlx_libs_dir() -> Path | None:
    import importlib.util
    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(list(spec.submodule_search_locations)[0]).parent
    d = site / "mlx_cpu.libs"
    return d if d.is_dir() else None


def find_openblas() -> Path | None:
    """The ngsolve_openblas wheel's library, else a system libopenblas."""
    import importlib.util
    spec = importlib.util.find_spec("ngsolve_openblas")
    if spec is not None and spec.submodule_search_locations:
        for d in spec.submodule_search_locations:
            hits = sorted(glob.glob(os.path.join(d, "libopenblas*.so*")))
            if hits:
                return Path(hits[0])
    candidates = []
    name = ctypes.util.find_library("openblas")
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
              "/usr/local/lib", "/usr/lib/x86_64-linux-gnu/openblas-pthread"):
        if name:
            candidates.append(os.path.join(d, name))
        candidates += sorted(glob.glob(os.path.join(d, "libopenblas*.so*")))
    for c in candidates:
        if os.path.isfile(c):
            return Path(c)
    return None


def _gfortran_shim(mlx_libs: Path | None) -> Path | None:
    """A directory holding `libgfortran.so.5` -> MLX's bundled (name-mangled) copy."""
    if mlx_libs is None:
        return None
    hits = sorted(mlx_libs.glob("libgfortran-*.so.5*"))
    if not hits:
        return None
    key = hashlib.sha1(str(mlx_libs).encode()).hexdigest()[:12]
    shim = _cache_dir() / "blas-shim" / key
    link = shim / "libgfortran.so.5"
    if not (link.is_symlink() and os.readlink(link) == str(hits[0])):
        shim.mkdir(parents=True, exist_ok=True)
        tmp = shim / f".libgfortran.{os.getpid()}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(hits[0], tmp)
        os.replace(tmp, link)   # atomic: concurrent trainers never see a half-made link
    return shim


def fast_blas_env(base_env: dict[str, str] | None = None) -> tuple[dict[str, str] | None, str]:
    """Environment that preloads a fast OpenBLAS for MLX, or (None, reason) when none is usable.

    Other code (runners, diagnostics) can launch MLX subprocesses with this environment.
    The probe runs once per library version; its verdict is cached under
    $XDG_CACHE_HOME/causal-golf/blas_probe.json.
    """
    env = dict(os.environ if base_env is None else base_env)
    if sys.platform != "linux":
        return None, "not linux (MLX uses Accelerate/Metal)"
    if env.get("CAUSAL_GOLF_BLAS", "auto").strip().lower() == "reference":
        return None, "CAUSAL_GOLF_BLAS=reference"
    lib = find_openblas()
    if lib is None:
        return None, "no OpenBLAS found (install ngsolve-openblas or libopenblas)"
    mlx_libs = _mlx_libs_dir()
    shim = _gfortran_shim(mlx_libs)
    ld_path = [str(p) for p in (shim, mlx_libs) if p is not None]
    if env.get("LD_LIBRARY_PATH"):
        ld_path.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(ld_path)
    env["LD_PRELOAD"] = str(lib) + (":" + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    # Thread defaults (explicit values win). OpenBLAS's idle workers busy-wait ~0.1 s after each call
    # and its caller spins waiting for them; MLX runs everything else on its own thread. On the
    # 2-core machine, loaded by a second run, 2 OpenBLAS threads were 2-5x slower than 1 (measured,
    # docs/trainer.md). So the runner passes one thread per parallel run explicitly; a run started alone
    # has the cores to itself and gets them all (2 threads: 1.25x faster on 2 cores); with several,
    # OpenBLAS sleeps after 2^4 cycles of spinning.
    if not env.get("OPENBLAS_NUM_THREADS", "").strip():
        env["OPENBLAS_NUM_THREADS"] = str(os.cpu_count() or 1)
    if not env.get("OPENBLAS_THREAD_TIMEOUT", "").strip():
        env["OPENBLAS_THREAD_TIMEOUT"] = "4"

    st = lib.stat()
    key = f"{lib}|{st.st_size}|{st.st_mtime_ns}|{sys.executable}"
    cache_file = _cache_dir() / "blas_probe.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    verdict = cache.get(key)
    if verdict is None:
        probe_env = dict(env)
        probe_env[BLAS_ENV_MARKER] = "probe"
        try:
            r = subprocess.run([sys.executable, "-c", _PROBE_CODE], env=probe_env, capture_output=True,
                               text=True, timeout=180)
            info = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else {}
            good = bool(info.get("correct") and info.get("openblas_mapped"))
            why = f"probe rc={r.returncode}" + (f" {r.stderr.strip().splitlines()[-1]}" if r.stderr.strip() else "")
            verdict = {"good": good, "gflops": info.get("gflops"), "detail": "ok" if good else why[:300]}
        except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
            verdict = {"good": False, "gflops": None, "detail": f"probe failed: {type(e).__name__}"}
        try:   # re-read: another trainer may have written its own verdict meanwhile
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
        cache[key] = verdict
        try:
            _atomic_write_text(cache_file, json.dumps(cache, indent=1))
        except OSError:
            pass
    if not verdict.get("good"):
        return None, f"OpenBLAS at {lib} failed its probe ({verdict.get('detail')})"
    return env, f"openblas {lib}"


def bootstrap_fast_blas() -> None:
    """Re-exec this process once with a fast OpenBLAS preloaded (Linux); call before importing mlx."""
    if sys.platform != "linux" or os.environ.get(BLAS_ENV_MARKER):
        return
    if "openblas" in os.environ.get("LD_PRELOAD", "").lower():
        return   # the user already preloads one
    env, reason = fast_blas_env()
    if env is None:
        os.environ[BLAS_ENV_MARKER] = "none:" + reason
        return
    env[BLAS_ENV_MARKER] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    argv = list(getattr(sys, "orig_argv", [sys.executable] + sys.argv))
    os.execve(sys.executable, [sys.executable] + argv[1:], env)


def tune_malloc() -> bool:
    """glibc: keep freed memory in the heap (no mmap'd chunks, no trimming, one arena).

    MLX's CPU allocator mallocs every intermediate; glibc serves the large ones (>= 128 KiB-32 MiB,
    adaptive) with fresh mmaps and unmaps them on free, so every op page-faults its whole output
    in again: ~3 ns/element, more than the op itself for most elementwise ops. Reusing the heap
    made a training step ~1.3-2x faster. The price: the process keeps its peak heap as RSS.
    CAUSAL_GOLF_MALLOC=default leaves glibc alone."""
    if sys.platform != "linux" or os.environ.get("CAUSAL_GOLF_MALLOC", "").strip().lower() == "default":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
    return bool(mallopt(m_arena_max, 1) & mallopt(m_mmap_max, 0) & mallopt(m_trim_threshold, 1 << 30))
