"""Notebook to pipeline: steps from cells, data flow inferred by static analysis, a cached
local runner, and exports to Airflow 3, Prefect 3 and Kubeflow Pipelines v2.

    from jupyter_mlops.pipeline import from_notebook
    pipeline = from_notebook("train.ipynb")
    pipeline.run(parameters={"epochs": 3})
    pipeline.export("airflow", "dags/", schedule="0 3 * * *")

Importing this package is cheap (standard library only).
"""

from __future__ import annotations

from .model import Cell, Finding, Parameter, Pipeline, Step
from .notebook import from_notebook

__all__ = ["Cell", "Finding", "Parameter", "Pipeline", "Step", "from_notebook"]
