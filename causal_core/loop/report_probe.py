"""The final report's probe section: each probe's verdict, whether its sweep ran, and the cost ceiling."""
from __future__ import annotations

import json

from causal_core.loop.layout import LoopLayout


def probe_summaries(layout: LoopLayout) -> list[dict]:
    out = []
    for p in sorted(layout.root.glob("cycle_*/probe/verdict.json"), key=lambda p: int(p.parent.parent.name.split("_")[1])):
        v = json.loads(p.read_text())
        approval, ceiling = p.with_name("approval.json"), p.with_name("ceiling.json")
        out.append({"cycle": int(p.parent.parent.name.split("_")[1]), "intervention": v["intervention"],
                    "decision": v["decision"], "gate": v["gate"]["verdict"], "cost": v["cost"],
                    "verification": {r["check"]: r["outcome"] for r in v["verification"]},
                    "approval": json.loads(approval.read_text()) if approval.is_file() else None,
                    "ceiling": json.loads(ceiling.read_text()) if ceiling.is_file() else None,
                    "verdict_file": str(p)})
    return out


def probe_markdown(probes: list[dict]) -> list[str]:
    if not probes:
        return []
    md = ["", "## Probes before expensive sweeps", ""]
    for s in probes:
        d = s["decision"]
        md.append(f"- cycle {s['cycle']}, `{s['intervention']}`: probe says **{d['action']}** ({d['why']}); "
                  f"phase gate {s['gate']}; checks: "
                  + ", ".join(f"{k} {v}" for k, v in s["verification"].items()))
        if s["approval"] is not None:
            md.append(f"  - sweep {'run' if s['approval']['run_sweep'] else 'not run'} (approved by {s['approval']['by']})")
        if d["alternatives"]:
            md.append("  - cheaper alternatives: " + "; ".join(d["alternatives"]))
        if s["ceiling"] is not None:
            md.append(f"  - cost ceiling: {s['ceiling']['why']}")
    return md
