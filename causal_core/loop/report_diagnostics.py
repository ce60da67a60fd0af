"""The final report's diagnostics section: what cycle 0's diagnostics found and what they changed
(rules in loop/diagnostic_rules.py), and where a confirmed improvement came from (token-loss buckets
of the confirmed configuration against the baseline)."""
from __future__ import annotations

import json
from pathlib import Path

from causal_core.loop import diagnostic_rules as rules
from causal_core.loop.history import ExperimentRow
from causal_core.loop.layout import LoopLayout


def _read(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _confirmed_checkpoint(layout: LoopLayout, cycle: int) -> Path | None:
    """A finished treatment run's weights of that cycle (the confirmed configuration)."""
    for p in sorted((layout.cycle(cycle).experiment_dir / "runs").glob("*-treatment-seed*.result.json")):
        r = _read(p) or {}
        ck = r.get("checkpoint_path")
        if r.get("status") == "ok" and ck and Path(ck).is_file():
            return Path(ck)
    return None


def token_loss_where(layout: LoopLayout, rows: list[ExperimentRow], data_path: str | None) -> dict | None:
    """Token-loss of the last confirmed cycle's treatment checkpoint vs cycle 0's baseline (cached)."""
    base = _read(layout.cycle(0).diagnostics_dir / "token_loss.json")
    confirmed = [r for r in rows if r.decision == "confirmed"]
    if base is None or not confirmed:
        return None
    cyc = confirmed[-1].cycle
    out = layout.cycle(cyc).diagnostics_dir / "confirmed"
    rep = _read(out / "token_loss.json")
    if rep is None:
        ck = _confirmed_checkpoint(layout, cyc)
        if ck is None:
            return None
        from causal_core.diagnostics.common import DiagnosticError
        from causal_core.diagnostics.token_loss import token_loss
        try:
            rep = token_loss(ck, data_path=data_path, out_dir=out, log=lambda *_: None)
        except DiagnosticError as e:
            return {"cycle": cyc, "intervention": confirmed[-1]["intervention"], "error": str(e)}
    cmp = rules.token_loss_comparison(base, rep)
    return {"cycle": cyc, "intervention": confirmed[-1]["intervention"], "checkpoint": rep["checkpoint"], **cmp}


def _grad_attr_summary(r: dict) -> str:
    best = []
    for phase, p in (r.get("phases") or {}).items():
        layers = {k: v.get("corr_val_loss") for k, v in (p.get("layers") or {}).items() if v.get("corr_val_loss") is not None}
        if layers:
            k = max(layers, key=lambda k: abs(layers[k]))
            best.append(f"{phase}: {k} (r = {layers[k]:+.2f})")
    return (f"{r.get('n_steps')} logged steps; layer whose grad norm tracks val_loss most, per phase: "
            + ("; ".join(best) or "n/a (too few val points)") + " (reported; no rule reads it)")


def diagnostics_summary(layout: LoopLayout, rows: list[ExperimentRow], data_path: str | None) -> dict:
    d0 = layout.cycle(0).diagnostics_dir
    out: dict = {"ran": sorted(p.stem for p in d0.glob("*.json") if p.stem != "quant_gap_threshold")}
    tl = _read(d0 / "token_loss.json")
    if tl:
        out["token_loss"] = {"val_bpb": tl["val_bpb"], "bpb_contribution": {
            part: {g: v["bpb_contribution"] for g, v in tl["categories"][part].items()} for part in ("frequency", "position")}}
    q = rules.quant_gap_verdict(layout)
    if q:
        out["quant_gap"] = q
    inf = rules.influence_verdict(layout)
    if inf:
        out["influence"] = inf
    ga = _read(d0 / "grad_attribution.json")
    if ga:
        out["grad_attribution"] = _grad_attr_summary(ga)
    ident = _read(layout.cycle(0).identifiability)
    if ident:
        n = ident.get("n_records") or 0
        skipped = [e["intervention"] for e in ident.get("edges", []) if e["recommendation"] == "skip"]
        out["identifiability"] = {"recommendation": ident["recommendation"], "multi_variable_share":
                                  ident["multi_variable_records"] / n if n else None, "edges_skipped": skipped}
    out["changed"] = rules.plan_notes(layout)
    where = token_loss_where(layout, rows, data_path)
    if where:
        out["token_loss_confirmed_vs_baseline"] = where
    return out


def diagnostics_markdown(s: dict) -> list[str]:
    md = ["", "## Cycle-0 diagnostics and what they changed", ""]
    md.append(f"Ran: {', '.join(s['ran'])}." if s["ran"] else
              "No checkpoint diagnostic ran (run_diagnostics off, or no baseline checkpoint).")
    if "token_loss" in s:
        f = s["token_loss"]["bpb_contribution"]["frequency"]
        md.append(f"- token loss (S8): baseline val_bpb {s['token_loss']['val_bpb']:.4f}; bpb by target frequency "
                  + ", ".join(f"{g} {v:.4f}" for g, v in f.items()))
    if "quant_gap" in s:
        q = s["quant_gap"]
        thr = "no training effect yet" if q["threshold_bpb"] is None else f"threshold {q['threshold_bpb']:.4f} ({q['basis']})"
        md.append(f"- quant gap (S9): {q['gap_bpb']:+.4f} bpb; {thr}; "
                  + ("above: export/quantization interventions favoured" if q["exceeds"] else "not above the threshold"))
    if "influence" in s:
        md.append(f"- influence (S10): {s['influence']['finding']}")
    if "grad_attribution" in s:
        md.append(f"- grad attribution (S11): {s['grad_attribution']}")
    if "identifiability" in s:
        i = s["identifiability"]
        share = "n/a" if i["multi_variable_share"] is None else f"{i['multi_variable_share']:.0%}"
        md.append(f"- identifiability (S5): {i['recommendation']}; {share} of records multi-variable; observational "
                  f"estimate skipped for {len(i['edges_skipped'])} edge(s)")
    md += ["", "What they changed: " + ("; ".join(s["changed"]) if s["changed"] else
                                        "nothing (no proposal was adjusted by a diagnostic rule)")]
    w = s.get("token_loss_confirmed_vs_baseline")
    if w and "error" not in w:
        md += ["", f"Where the improvement of `{w['intervention']}` (cycle {w['cycle']}) came from: val_bpb "
                   f"{w['val_bpb_baseline']:.4f} -> {w['val_bpb_confirmed']:.4f} ({w['delta_bpb']:+.4f})", "",
               "| partition | bucket | delta bpb contribution | mean loss baseline -> confirmed |", "|---|---|---:|---|"]
        for part, p in w["partitions"].items():
            for g, dlt in p["delta_bpb_contribution"].items():
                ml = p["mean_loss"][g]
                md.append(f"| {part} | {g} | {dlt:+.5f} | {ml['baseline']:.4f} -> {ml['confirmed']:.4f} |")
        for part, p in w["partitions"].items():
            if p["improvement_from"]:
                md.append(f"- {part}: mostly from `{p['improvement_from']}` tokens "
                          f"({p['share_of_improvement']:.0%} of the bucket gains)")
    elif w:
        md += ["", f"Token loss of the confirmed configuration failed: {w['error']}"]
    return md
