"""README.md of an assembled record (sections: REQUIRED_SECTIONS, in that order)."""
from __future__ import annotations

from causal_core.submission import checks, compat

REQUIRED_SECTIONS = (
    "## Summary",
    "## What changed and why",
    "## In the challenge's train_gpt.py",
    "## Compatibility",
    "## Results",
    "## Comparison with the baseline",
    "## Artifact size",
    "## Time limit and platform",
    "## Ablations",
    "## Files",
)


def _f(v, nd=5, sign=False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.{nd}f}" if sign else f"{v:.{nd}f}"


def _p(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _ci(ci) -> str:
    return "n/a" if not ci else f"[{ci[0]:+.5f}, {ci[1]:+.5f}]"


def _budget(b: dict) -> str:
    from causal_core.experiments.budget import BudgetSummary
    return BudgetSummary.model_validate(b).describe()


def _env(d: dict) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in d.items()) or "(none)"


def _h100_lines(sel) -> list[str]:
    """Per confirmed finding, its predicted H100 effect (from the DAG that proposed its cycle)."""
    from causal_core.dag.h100_prediction import line
    out = []
    for c in sel.findings:
        a = c.analysis
        text = line(c.dir / "dag" / "dag.json", c.intervention, a.effect_bpb, a.ci_t) if a.decision == "confirmed" else None
        if text:
            out.append(f"- cycle {c.n} `{c.intervention}`: {text}")
    return ["", "The effects above were measured at this loop's scale, not on 8xH100. Predicted at 8xH100:", *out] if out else []


def render(sub: dict, sel, fin) -> str:
    size, time_ = sub["limits"]["artifact"], sub["limits"]["time"]
    cmp_, bar = sub["comparison"], sub["challenge_bar"]
    selj = sub["selection"]
    L = [f"# {sub['name']}", ""]

    L += ["## Summary", "",
          f"- **Mean val_bpb {_f(sub['val_bpb'])}** (val_loss {_f(sub['val_loss'])}) over seeds "
          f"{', '.join(map(str, sub['seeds']))} of the final configuration.",
          f"- Selection: **{'confirmed findings' if sel.kind == 'confirmed' else 'ENGINEERING FALLBACK'}** — {sel.label}",
          f"- Interventions: {', '.join(f'`{n}`' for n in sub['interventions']) or '(none: a baseline configuration)'}",
          f"- Artifact: {size['message']}.",
          f"- Time limit: {time_['message']}",
          f"- Platform: {sub['platform']['description']} (`{sub['platform']['name']}`); the challenge's platform is "
          f"{checks.CHALLENGE_PLATFORM}. This is {'a' if sub['platform']['is_challenge_platform'] else 'NOT a'} "
          f"challenge-platform result and makes no claim about the leaderboard.",
          f"- Author: {sub['author']} (github: {sub['github_id']}); date {sub['date']}.", ""]

    L += ["## What changed and why", ""]
    if sel.kind == "confirmed":
        L += ["Each change below is a finding the cycle-loop confirmed: a paired-seed experiment whose "
              "effect on val_bpb was negative (an improvement) by at least the minimum detectable effect with a "
              "Holm-adjusted paired t-test p below alpha (docs/experiments.md).", ""]
    else:
        L += ["**Engineering fallback.** The loop confirmed no finding, so this record is the configuration "
              "with the lowest mean val_bpb the loop measured. It is an engineering choice, not a causal claim: "
              "its experiment did not pass the decision gate.", ""]
    L += ["| cycle | intervention | decision | effect (val_bpb) | 95% CI | p (Holm) | pairs | overrides |",
          "|---:|---|---|---:|---|---:|---:|---|"]
    for c in sel.findings:
        a = c.analysis
        ov = c.config.treatment if (sel.fallback_condition or "treatment") == "treatment" else c.config.control
        L.append(f"| {c.n} | `{c.intervention}` | {a.decision} | {_f(a.effect_bpb, sign=True)} | {_ci(a.ci_t)} | "
                 f"{_p(a.p_adjusted)} | {a.n_pairs} | {_env(ov)} |")
    L += _h100_lines(sel)
    L += ["", f"- Final configuration overrides: {_env(selj['env_overrides'])}",
          f"- Baseline (control) overrides: {_env(selj['baseline_overrides'])}",
          f"- Base environment of every run: {_env(selj['base_env'])}"]
    L += [f"- Note: {n}" for n in selj["notes"]] + [""]

    L += challenge_section(sub.get("challenge"))

    L += ["## Compatibility", "",
          "Checked before anything ran (causal_core/submission/compat.py): no two findings set the same variable "
          "to different values; no excluded pair ("
          + "; ".join(" + ".join(r["interventions"]) for r in compat.EXCLUSIVE) + "); and the combined "
          "environment satisfies: " + "; ".join(r["id"] for r in compat.REQUIRES) + ". Result: compatible.", ""]

    L += ["## Results", "",
          "| seed | val_bpb | val_loss | model bytes | total bytes | run time (s) | log | reused from |",
          "|---:|---:|---:|---:|---:|---:|---|---|"]
    for s, r in sub["seed_results"].items():
        src = r.get("reused_from")
        L.append(f"| {s} | {_f(r['val_bpb'], 6)} | {_f(r['val_loss'], 6)} | {r['bytes_model'] or 'n/a'} | "
                 f"{r['bytes_total'] or 'n/a'} | {r['elapsed_s']:.1f} | `{r['log']}` | "
                 + (f"cycle {src['cycle']} `{src['run_id']}`" if src else "new run") + " |")
    L += [""]

    L += ["## Comparison with the baseline", ""]
    if cmp_ is None:
        L += ["No comparison: the best configuration measured is a baseline (control) condition, so there is "
              "nothing to compare it with.", ""]
    else:
        L += ["Paired by seed, final configuration (treatment) minus baseline (control); negative = better.", "",
              "| seed | baseline val_bpb | final val_bpb | difference |", "|---:|---:|---:|---:|"]
        for s, c, t in zip(cmp_["seeds"], cmp_["control_bpb"], cmp_["treatment_bpb"]):
            L.append(f"| {s} | {_f(c, 6)} | {_f(t, 6)} | {t - c:+.6f} |")
        L += ["", f"- Effect: {_f(cmp_['effect_bpb'], 6, True)} val_bpb (sd {_f(cmp_['sd_diff'], 6)}), "
                  f"95% paired t interval {_ci(cmp_['ci_t'])}, paired t-test p = {_p(cmp_['p_value'])}; "
                  f"decision **{cmp_['decision']}** (MDE {cmp_['mde_bpb']:g}, alpha {cmp_['alpha']:g}).",
              f"- Challenge bar (a new record must beat the previous by >= {bar['min_improvement_nats']} nats with "
              f"p < {bar['alpha']}): mean improvement {_f(bar['improvement_nats'], 6)} nats, one-sided paired t-test "
              f"p = {_p(bar['p_value'])} over {bar['n_pairs']} pairs -> **{'MET' if bar['met'] else 'NOT MET'}** "
              f"(against {bar['against']}).", ""]

    L += ["## Artifact size", "",
          f"- Code: the trainer script `{sub['trainer']['file']}`, {size['bytes_code']:,} bytes "
          f"(sha256 `{sub['trainer']['sha256'][:16]}...`).",
          f"- Compressed model: {'n/a' if size['bytes_model'] is None else format(size['bytes_model'], ',')} bytes "
          "(largest over the seeds, from the `serialized_model_int8_zlib:BYTES bytes` line).",
          f"- Verdict: **{'WITHIN' if size['within_limit'] else 'NOT WITHIN'} the {size['limit']:,}-byte limit** — "
          f"{size['message']}.", ""]

    L += ["## Time limit and platform", "",
          f"- Platform of the runs: {time_['platform_words']} (`{time_['platform']}`). "
          f"Challenge platform: {time_['challenge_platform']}.",
          f"- Training wall-clock cap used: "
          f"{'none (MAX_WALLCLOCK_SECONDS=0)' if time_['wallclock_cap_s'] is None else str(time_['wallclock_cap_s']) + ' s'}; "
          f"longest run {_f(time_['max_run_elapsed_s'], 1)} s end to end.",
          *([f"- Budget of the final configuration's runs: {_budget(sub['comparison']['budget'])}. A time budget gives "
             "each arm the steps its own measured step time allows (docs/budget.md)."]
            if sub.get("comparison") and sub["comparison"].get("budget") else []),
          f"- Verdict: **{'VERIFIED' if time_['verified'] else 'NOT VERIFIED'}** — "
          f"{time_['message'].removeprefix('NOT verified: ').removeprefix('verified: ')}", ""]

    L += ["## Ablations", "",
          "Every experiment of the loop (treatment minus control, val_bpb; negative = better).", "",
          "| cycle | intervention | seeds | control val_bpb | treatment val_bpb | effect | 95% CI | p | p (Holm) | decision |",
          "|---:|---|---|---|---|---:|---|---:|---:|---|"]
    for r in sub["ablations"]:
        L.append(f"| {r['cycle']} | `{r['intervention']}` | {', '.join(map(str, r['seeds']))} | "
                 f"{', '.join(_f(x) for x in r['control_bpb'])} | {', '.join(_f(x) for x in r['treatment_bpb'])} | "
                 f"{_f(r['effect_bpb'], sign=True)} | {_ci(r['ci_t'])} | {_p(r['p_value'])} | {_p(r['p_adjusted'])} | "
                 f"{r['decision']} |")
    L += [""] + [f"- Cycle {r['cycle']} was decided under {_budget(r['budget'])}." for r in sub["ablations"]
                 if r.get("budget")] + [""]

    L += ["## Files", "",
          "- `README.md`: this file.",
          "- `submission.json`: the record's fields (val_bpb = mean over seeds; limits, platform, selection, "
          "comparison, ablations).",
          *[f"- `train_seed{s}.log`: the trainer log of seed {s} of the final configuration." for s in sub["seeds"]],
          f"- `{sub['trainer']['file']}`: the trainer script that ran it. Reproduce one seed with:",
          "", "```sh",
          " ".join(f"{k}={v}" for k, v in sub["trainer"]["env"].items()) + f" SEED=<seed> python {sub['trainer']['file']}",
          "```", ""]
    if sub["notes"]:
        L += ["Notes:", *[f"- {n}" for n in sub["notes"]], ""]
    return "\n".join(L)


def challenge_section(ch: dict | None) -> list[str]:
    """How to realise the findings in the challenge's train_gpt.py (submission/realise.py)."""
    L = ["## In the challenge's train_gpt.py", ""]
    if not ch or not ch.get("findings"):
        return L + [f"{(ch or {}).get('note') or 'Nothing to realise: no confirmed finding.'}", ""]
    L += ["The evidence above was measured with causal-golf's MLX trainer (its configuration is the evidence, "
          "under Files). To act on it in the challenge's own `train_gpt.py`:", "",
          "| intervention | how | setting in train_gpt.py | evidence (MLX, treatment vs control) |",
          "|---|---|---|---|"]
    for it in ch["findings"]:
        if it["how"] == "env":
            how = f"{_env(it['env'])} (baseline: {_env(it['baseline'])}); {it['source']}"
        else:
            recs = "; ".join(f"`{r['folder']}` (val_bpb {_f(r['val_bpb'], 4)})" for r in it.get("records") or [])
            how = f"{it['source']}: {recs or 'no record in the extraction mentions it'}"
        ev = it["evidence"]
        L.append(f"| `{it['intervention']}` | {'env settings' if it['how'] == 'env' else 'code from records'} | "
                 f"{how} | {_env(ev['treatment'])} vs {_env(ev['control'])} |")
    L += ["", f"Validation on 8xH100 (3 seeds, 600 s cap, the challenge's sp1024 data); {ch['note']}:", "",
          "```sh", *ch["commands"], "```", ""]
    return L
