"""Which environment variables a config may set for a trainer.

Configs, loop parameters and approval answers travel between machines; a variable that
changes what a process loads or executes would run code of the config's choosing inside
every trainer (LD_PRELOAD=/tmp/evil.so). Such variables are refused wherever a config
names one (ExperimentConfig, make-config --env, the loop's trainer_env).

The rule, as data: the dynamic loader's variables, the interpreter's startup and
module-path variables (Python, Perl, Ruby, Node, Java, Lua), the shell's startup and
exported-function variables, glibc's module loading (iconv, locale, malloc, tunables),
OpenSSL's engine loading, and PATH (it chooses which `torchrun` runs). Variables that
only tune a run (PYTHONHASHSEED, PYTHONUNBUFFERED, OMP_NUM_THREADS, ...) stay allowed.
The trainer's own fast-BLAS bootstrap (train_gpt_mlx.py sets LD_PRELOAD when it
re-executes itself) is internal: it is not in any config, so it is not affected.
"""
from __future__ import annotations

REFUSED_PREFIXES = (
    "LD_",            # LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...
    "DYLD_",          # macOS loader (DYLD_INSERT_LIBRARIES)
    "MALLOC_",        # glibc allocator hooks and checks
    "BASH_FUNC_",     # exported shell functions
)
REFUSED_NAMES = frozenset({
    # Python: startup code, module search path, interpreter, warnings and breakpoint hooks import modules.
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
    "PYTHONPLATLIBDIR", "PYTHONPYCACHEPREFIX", "PYTHONBREAKPOINT", "PYTHONWARNINGS",
    # Shells.
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PROMPT_COMMAND", "PS4", "IFS", "CDPATH",
    # Other runtimes a trainer command might start.
    "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "LUA_INIT", "LUA_PATH", "LUA_CPATH",
    # glibc and OpenSSL module loading.
    "GCONV_PATH", "LOCPATH", "GLIBC_TUNABLES", "HOSTALIASES", "RESOLV_HOST_CONF", "OPENSSL_CONF",
    "OPENSSL_ENGINES", "OPENSSL_MODULES",
    # Which executables run.
    "PATH",
})


def refused(name: str) -> bool:
    """Whether a config may not set `name` (it changes what a process loads or executes)."""
    return name in REFUSED_NAMES or name.startswith(REFUSED_PREFIXES)


def check_names(names) -> None:
    """ValueError naming every refused variable in `names`, in one line (the caller's
    validation error says where: base_env, treatment, trainer_env, ...)."""
    bad = sorted(n for n in names if refused(n))
    if bad:
        raise ValueError(f"{', '.join(bad)} would change what the trainer process loads or executes; "
                         "a config cannot set it (see README, 'Configs cannot run code')")
