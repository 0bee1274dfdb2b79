"""Synthetic traffic for the Monitor II surface tests (verbs, magics, REST): a deployment
'churn' whose inference log (written as the serving process lays it out, see
``monitor_fixtures``) holds two whole hours of requests in which ``x1`` is shifted by one
standard deviation and ``x0`` is not, a reference frame drawn from the unshifted
distribution, labels for those requests and a retraining notebook for rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd

from tests.monitor_fixtures import NOW, deployed, write_part

#: rows per logged hour; two hours are logged
PER_HOUR = 400
#: the two logged hours start here (whole UTC hours, both over)
FIRST_HOUR = NOW.replace(minute=0, second=0) - timedelta(hours=3)


@dataclass
class Traffic:
    project: Path
    reference: pd.DataFrame  # x0, x1 ~ N(0, 1)
    logged: pd.DataFrame  # what the log holds: request_id, timestamp, x0, x1, prediction
    labels: pd.DataFrame  # request_id, churned: right for hour 1, a quarter wrong in hour 2

    @property
    def hours(self) -> list[datetime]:
        return [FIRST_HOUR, FIRST_HOUR + timedelta(hours=1)]


def shifted_traffic(project: Path, name: str = "churn", seed: int = 7) -> Traffic:
    """Deployment ``name`` (stopped: nothing serves) whose log has 2 × ``PER_HOUR`` requests
    ``req-0…``: x0 ~ N(0, 1), x1 ~ N(1, 1), prediction = 1.0 where x0 > 0. Labels: the
    prediction for the first hour; for the second, every fourth one flipped (accuracy 1.0,
    then 0.75)."""
    rng = np.random.default_rng(seed)
    deployed(project, name)
    rows: list[dict[str, Any]] = []
    for hour_index, start in enumerate((FIRST_HOUR, FIRST_HOUR + timedelta(hours=1))):
        part = []
        for i in range(PER_HOUR):
            n = hour_index * PER_HOUR + i
            x0, x1 = float(rng.normal(0, 1)), float(rng.normal(1, 1))
            part.append({"request_id": f"req-{n}", "timestamp": start + timedelta(seconds=5 * i),
                         "version": "1", "x0": x0, "x1": x1,
                         "prediction": 1.0 if x0 > 0 else 0.0, "latency_ms": 1.0})
        write_part(project, name, part)
        rows.extend(part)
    logged = pd.DataFrame(rows)
    truth = logged["prediction"].astype(int).to_numpy().copy()
    second = np.arange(len(truth)) >= PER_HOUR
    flipped = second & (np.arange(len(truth)) % 4 == 0)
    truth[flipped] = 1 - truth[flipped]
    labels = pd.DataFrame({"request_id": logged["request_id"], "churned": truth})
    reference = pd.DataFrame({"x0": rng.normal(0, 1, 3000), "x1": rng.normal(0, 1, 3000)})
    return Traffic(project, reference, logged, labels)


def retrain_notebook(project: Path, name: str = "retrain.ipynb") -> Path:
    """A notebook whose pipeline is one step (it writes a file when it runs)."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "from pathlib import Path\nPath('retrained.txt').write_text('yes')")]
    path = project / name
    nbformat.write(notebook, path)
    return path
