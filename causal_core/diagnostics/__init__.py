"""Checkpoint diagnostics over train_gpt_mlx.py runs (docs/diagnostics.md).

Plain functions (each writes its JSON atomically and returns the report dict):
  token_loss(checkpoint=None, *, data_path=None, out_dir=..., save_losses=False) -> dict
  quant_gap(checkpoint=None, *, data_path=None, out_dir=..., largest_effect_bpb=None, effect_sources=None,
            overrides=None, per_category=False) -> dict
  influence(checkpoint=None, *, data_path=None, out_dir=..., max_shards=64, chunk_tokens=4096,
            val_max_tokens=None, train_glob=None, keep_grads=False, memory_budget=None) -> dict
  grad_attribution(*, out_dir=..., script=None, env=None, gradnorms=None, val_log=None, run_id=...) -> dict
  probe_direction(checkpoint=None, *, pool_a, pool_b, data_path=None, out_dir=..., n_samples=16,
                  sample_tokens=512, svd=False, direction_file=None) -> dict
  probe_gate(projection_log, *, out_dir=...) -> dict;  check_gate(rows, rules=GATE_RULES) -> dict
Failures raise DiagnosticError (a causal_core.errors.CausalGolfError: one line, exit 2 from the CLI).
Modules import mlx lazily; import the submodules for the functions.
"""
