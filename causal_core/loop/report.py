"""The loop's final report: why it stopped, every experiment, the DAG before and after."""
from __future__ import annotations

import json
from pathlib import Path

from causal_core.atomic import atomic_write_json, atomic_write_text
from causal_core.loop.history import ExperimentRow, experiment_rows
from causal_core.loop.layout import LoopLayout
from causal_core.loop.params import LoopParams


def _dags(layout: LoopLayout) -> tuple[Path | None, Path | None]:
    dags = [c.dag for c in layout.cycles() if c.dag.is_file()]
    return (dags[0], dags[-1]) if dags else (None, None)


def _records(layout: LoopLayout) -> list[str]:
    return [json.loads(c.record.read_text())["path"] for c in layout.cycles() if c.record.is_file()]


def write_final_report(layout: LoopLayout, params: LoopParams, reason: str | None, assemble: bool = True) -> dict:
    rows = experiment_rows(layout)
    confirmed = [r for r in rows if r.decision == "confirmed"]
    before, after = _dags(layout)
    report = {
        "stop_reason": reason,
        "cycles": len(rows),
        "experiments": [r.model_dump() for r in rows],
        "confirmed": [r.intervention for r in confirmed],
        "dag_before": str(before) if before else None,
        "dag_after": str(after) if after else None,
        "records_written": _records(layout),
        "results_dir": str(layout.root),
        "experiment_log": str(layout.experiment_log),
        "params": params.model_dump(),
    }
    from causal_core.loop.report_probe import probe_markdown, probe_summaries
    report["probes"] = probe_summaries(layout)
    from causal_core.loop.report_diagnostics import diagnostics_markdown, diagnostics_summary
    report["diagnostics"] = diagnostics_summary(layout, rows, params.data_path)
    if assemble:
        report["submission"] = _assemble(layout, params)
    md = [
        "# cycle-loop final report", "",
        f"Stopped because: **{reason}** after {len(rows)} experiment cycle(s).", "",
        f"Budget: **{params.budget_mode}**" + (f", {params.time_budget_s:g} s of training per run; each arm trains the "
                                             "steps its own measured step time allows (docs/budget.md)"
                                             if params.budget_mode == "time" else ", a fixed ITERATIONS per run") + ".", "",
        "| cycle | intervention | control | treatment | effect | 95% CI | p | pairs | decision | budget | steps (c / t) | step-time ratio |",
        "|---:|---|---:|---:|---:|---|---:|---:|---|---|---|---:|",
    ]
    for r in rows:
        md.append(f"| {r.cycle} | {r.intervention} | {r.control_bpb} | {r.treatment_bpb} | "
                  f"{r.effect_bpb} | [{r.ci_low}, {r.ci_high}] | {r.p} | {r.n_pairs} | {r.decision} | "
                  f"{r.budget_mode or 'steps'}{' ' + format(r.time_budget_s, 'g') + ' s' if r.time_budget_s else ''} | "
                  f"{r.control_steps} / {r.treatment_steps} | {r.step_time_ratio or 'n/a'} |")
    md += ["", f"Confirmed: {', '.join(report['confirmed']) or 'none'}", *_h100_md(layout, confirmed), "",
           f"DAG before: `{report['dag_before']}`  ", f"DAG after: `{report['dag_after']}`", "",
           "Records written:", *[f"- `{p}`" for p in report["records_written"]]]
    md += diagnostics_markdown(report["diagnostics"]) + probe_markdown(report["probes"])
    if "submission" in report:
        md += ["", f"Submission: {report['submission']}"]
    atomic_write_json(layout.final_report_json, report)
    atomic_write_text(layout.final_report_md, "\n".join(md) + "\n")
    return report


def _h100_md(layout: LoopLayout, confirmed: list[ExperimentRow]) -> list[str]:
    """Per confirmed effect, its predicted H100 effect, from the DAG that proposed its cycle."""
    from causal_core.dag.h100_prediction import line
    out = []
    for r in confirmed:
        ci = (r.ci_low, r.ci_high) if r.ci_low is not None and r.ci_high is not None else None
        text = line(layout.cycle(r.cycle).dag, r.intervention, r.effect_bpb, ci)
        if text:
            out.append(f"- cycle {r.cycle} `{r.intervention}`: {text}")
    return ["", "Effects above are at the loop's scale. At 8xH100:", *out] if out else []


def _assemble(layout: LoopLayout, params: LoopParams) -> str:
    from causal_core.submission.assemble import AssembleError, assemble_from_loop
    if not experiment_rows(layout):
        return "not assembled: the loop finished no experiment"
    try:
        return str(assemble_from_loop(layout, params))
    except AssembleError as e:       # refused (incompatible findings, missing runs): say why, keep the report
        return f"not assembled: {e}"
