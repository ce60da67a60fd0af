"""What a user sees in the Prefect UI for each cycle: markdown, table and image artifacts."""
from __future__ import annotations

import base64
from pathlib import Path

from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from causal_core.experiments.refutation import RefutationReport
from causal_core.experiments.stats import Analysis
from causal_core.loop.cycle import cycle_markdown
from causal_core.loop.history import ExperimentRow


def _image_url(png: Path) -> str | None:
    # A data: URL keeps the picture inside the artifact (no file server needed).
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode() if png.is_file() else None


def dag_url(cycle: int) -> str | None:
    """The UI page of cycle N's DAG picture (artifact key dag-cycle-N), when the UI's address is known."""
    from prefect.settings import PREFECT_UI_URL
    ui = PREFECT_UI_URL.value()
    return f"{ui.rstrip('/')}/artifacts/key/dag-cycle-{cycle}" if ui else None


@task(task_run_name="cycle{cycle}-publish-dag")
def publish_dag(cycle: int, dag_path: Path) -> None:
    url = _image_url(Path(dag_path).with_name("dag.png"))
    if url:
        create_image_artifact(image_url=url, key=f"dag-cycle-{cycle}", description=f"causal DAG after cycle {cycle}")


@task(task_run_name="cycle{cycle}-publish")
def publish_cycle(cycle: int, analysis: Analysis, why: str, record: Path, rows: list[ExperimentRow], dag_path: Path,
                  refutation: RefutationReport | None = None) -> None:
    interventions = Path(dag_path).parent.parent / "interventions.json"    # the cycle's records (H100 step times)
    create_markdown_artifact(markdown=cycle_markdown(cycle, analysis, why, record, refutation, interventions,
                                                     dag_path=dag_path),
                             key=f"cycle-{cycle}-report",
                             description=f"cycle {cycle}: {analysis.intervention} -> {analysis.decision}")
    create_table_artifact(table=[r.model_dump() for r in rows], key="experiments", description="all experiments of this loop so far")
    publish_dag.fn(cycle, dag_path)


@task(task_run_name="cycle{cycle}-publish-probe")
def publish_probe(cycle: int, verdict: dict) -> None:
    from causal_core.loop.probe_phase import verdict_markdown
    create_markdown_artifact(markdown=verdict_markdown(cycle, verdict), key=f"cycle-{cycle}-probe",
                             description=f"cycle {cycle}: probe before {verdict['intervention']} -> "
                                         f"{verdict['decision']['action']}")
    create_table_artifact(table=verdict["verification"], key=f"cycle-{cycle}-probe-checks",
                          description=f"cycle {cycle}: the probe's verification table")


@task(task_run_name="cycle0-publish-diagnostics")
def publish_diagnostics(layout) -> None:
    """Cycle 0's findings; the influence ranking as a table unless it is a documented null."""
    from causal_core.loop.diagnostic_rules import influence_verdict
    from causal_core.loop.report_diagnostics import diagnostics_markdown, diagnostics_summary
    s = diagnostics_summary(layout, [], None)
    create_markdown_artifact(markdown="\n".join(diagnostics_markdown(s)).strip() + "\n", key="cycle-0-diagnostics",
                             description="cycle 0: token loss, quant gap, influence, grad attribution")
    inf = influence_verdict(layout)
    if inf and not inf["null"] and inf["ranking"]:
        create_table_artifact(table=inf["ranking"], key="influence-ranking",
                              description="training chunks ranked by influence on validation loss")
