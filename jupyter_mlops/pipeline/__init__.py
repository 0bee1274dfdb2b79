"""Notebook to pipeline: steps from cells, data flow inferred by static analysis, a cached
local runner, and exports to Airflow 3, Prefect 3 and Kubeflow Pipelines v2.

    from jupyter_mlops.pipeline import from_notebook
    pipeline = from_notebook("train.ipynb")
    pipeline.run(parameters={"epochs": 3})
    pipeline.export("airflow", "dags/", schedule="0 3 * * *")

Importing this package is cheap (standard library only): its modules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import MAGIC_ONLY, Capability, Verb, lazy, lazy_exports

if TYPE_CHECKING:
    from .model import Cell, Finding, Parameter, Pipeline, Step
    from .notebook import from_notebook

__all__ = ["CAPABILITY", "Cell", "Finding", "Parameter", "Pipeline", "Step", "from_notebook"]

__getattr__, __dir__ = lazy_exports(globals(), {
    **dict.fromkeys(["Cell", "Finding", "Parameter", "Pipeline", "Step"], "model"),
    "from_notebook": "notebook",
})

CAPABILITY = Capability("pipeline", "Pipeline", __name__, verbs=(
    Verb("step", "mark a cell as a pipeline step (%%mlops step NAME) and run it",
         configure=lazy("jupyter_mlops.pipeline.verbs:configure_step"),
         run=lazy("jupyter_mlops.pipeline.verbs:run_step_cell"), adapters=MAGIC_ONLY,
         cell=True),
    Verb("pipeline", "show, run or export the notebook as a pipeline",
         configure=lazy("jupyter_mlops.pipeline.verbs:configure_pipeline"),
         run=lazy("jupyter_mlops.pipeline.verbs:run_pipeline_verb")),
))
