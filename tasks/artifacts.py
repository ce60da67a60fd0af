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


@task(task_run_name="cycle{cycle}-publish-dag")
def publish_dag(cycle: int, dag_path: Path) -> None:
    url = _image_url(Path(dag_path).with_name("dag.png"))
    if url:
        create_image_artifact(image_url=url, key=f"dag-cycle-{cycle}", description=f"causal DAG after cycle {cycle}")


@task(task_run_name="cycle{cycle}-publish")
def publish_cycle(cycle: int, analysis: Analysis, why: str, record: Path, rows: list[ExperimentRow], dag_path: Path,
                  refutation: RefutationReport | None = None) -> None:
    create_markdown_artifact(markdown=cycle_markdown(cycle, analysis, why, record, refutation),
                             key=f"cycle-{cycle}-report",
                             description=f"cycle {cycle}: {analysis.intervention} -> {analysis.decision}")
    create_table_artifact(table=[r.model_dump() for r in rows], key="experiments", description="all experiments of this loop so far")
    publish_dag.fn(cycle, dag_path)
