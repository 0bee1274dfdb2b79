"""Comparing runs: every parameter side by side (which differ), the latest metrics, and each
metric's history per run, as a table, text and a Vega-Lite chart.

Shared by ``mlops.compare``, ``%mlops compare``, the CLI and the Experiments panel's REST API.
mlflow and pandas are imported inside the functions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Config, load_config
from ..errors import UserInputError
from .run_rows import RunRow, experiment_names, json_number, logged_model_names, row_of
from .store import get_run, reachable_client, tracking_uri

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

#: points per metric history sent for a chart (longer histories are thinned evenly)
MAX_POINTS = 2000


# --------------------------------------------------------------------------- histories


def histories(config: Config, run_ids: Sequence[str], keys: Sequence[str] | None = None
              ) -> dict[str, dict[str, list[tuple[int, float, int]]]]:
    """run id -> metric key -> [(step, value, timestamp ms)] ordered by step, for the keys
    asked (default: every metric of each run); long histories thinned to MAX_POINTS."""
    mlflow_client = reachable_client(config)
    found: dict[str, dict[str, list[tuple[int, float, int]]]] = {}
    for run_id in run_ids:
        run = get_run(mlflow_client, config, run_id)
        wanted = list(keys) if keys else sorted(run.data.metrics)
        series: dict[str, list[tuple[int, float, int]]] = {}
        for key in wanted:
            if key not in run.data.metrics:
                continue
            points = sorted(((m.step, m.value, m.timestamp)
                             for m in mlflow_client.get_metric_history(run_id, key)),
                            key=lambda p: (p[0], p[2]))
            series[key] = _thin(points, MAX_POINTS)
        found[run_id] = series
    return found


def _thin(points: list[tuple[int, float, int]], most: int) -> list[tuple[int, float, int]]:
    if len(points) <= most:
        return points
    stride = len(points) / most
    picked = [points[int(i * stride)] for i in range(most - 1)]
    return [*picked, points[-1]]


# --------------------------------------------------------------------------- compare


@dataclass
class Comparison:
    """Runs side by side: every parameter (``differs`` where their values are not all the
    same), the latest metrics, and each metric's history per run."""

    runs: list[RunRow]
    params: list[dict[str, Any]]  # {key, values: {run_id: value or None}, differs}
    metrics: list[dict[str, Any]]  # {key, values: {run_id: latest or None}}
    histories: dict[str, dict[str, list[tuple[int, float, int]]]]

    @property
    def labels(self) -> dict[str, str]:
        """run id -> a name to show: the run name, with the id's start where names repeat."""
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.label] = counts.get(run.label, 0) + 1
        return {r.run_id: r.label if counts[r.label] == 1 else f"{r.label} ({r.run_id[:8]})"
                for r in self.runs}

    @property
    def differences(self) -> list[dict[str, Any]]:
        return [p for p in self.params if p["differs"]]

    def frame(self, only_differences: bool = False) -> pd.DataFrame:
        """Parameters (and latest metrics) as a DataFrame: one row per key, one column per
        run."""
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        labels = self.labels
        rows = self.differences if only_differences else self.params
        data = {labels[r.run_id]: [p["values"].get(r.run_id) for p in rows] +
                [m["values"].get(r.run_id) for m in self.metrics] for r in self.runs}
        index = [f"params.{p['key']}" for p in rows] + [f"metrics.{m['key']}"
                                                        for m in self.metrics]
        return pd.DataFrame(data, index=index)

    def chart_points(self) -> list[dict[str, Any]]:
        labels = self.labels
        return [{"run": labels[run_id], "run_id": run_id, "metric": key, "step": step,
                 "value": value}
                for run_id, series in self.histories.items()
                for key, points in series.items()
                for step, value, _ in points if math.isfinite(value)]

    def vega_lite(self) -> dict[str, Any]:
        """A Vega-Lite v5 spec: one small line chart per metric, a line per run."""
        return {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "description": "metric histories of the compared runs",
            "data": {"values": self.chart_points()},
            "facet": {"field": "metric", "type": "nominal", "title": None,
                      "header": {"labelFontSize": 12, "labelFontWeight": "bold"}},
            "columns": 2,
            "spec": {
                "width": 280, "height": 160,
                "mark": {"type": "line", "point": True, "tooltip": True},
                "encoding": {
                    "x": {"field": "step", "type": "quantitative", "title": "step",
                          "axis": {"tickMinStep": 1, "format": "d"}},
                    "y": {"field": "value", "type": "quantitative", "title": None,
                          "scale": {"zero": False}},
                    "color": {"field": "run", "type": "nominal", "title": "run"},
                },
            },
            "resolve": {"scale": {"x": "independent", "y": "independent"}},
        }

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "labels": self.labels,
                "params": self.params, "metrics": [
                    {"key": m["key"], "values": {k: None if v is None else json_number(v)
                                                 for k, v in m["values"].items()}}
                    for m in self.metrics],
                "histories": {rid: {k: [list(p) for p in pts] for k, pts in series.items()}
                              for rid, series in self.histories.items()},
                "spec": self.vega_lite()}

    def to_text(self) -> str:
        labels = self.labels
        lines = ["compared runs: " + ", ".join(f"{labels[r.run_id]} [{r.run_id}] {r.status}"
                                               for r in self.runs)]
        if self.differences:
            lines.append("parameters that differ:")
            for p in self.differences:
                values = ", ".join(f"{labels[rid]}={v if v is not None else '—'}"
                                   for rid, v in p["values"].items())
                lines.append(f"  {p['key']}: {values}")
        else:
            lines.append("parameters: all the same" if self.params else "parameters: none")
        if self.metrics:
            lines.append("latest metrics:")
            for m in self.metrics:
                values = ", ".join(f"{labels[rid]}={_short(v)}" for rid, v in m["values"].items())
                lines.append(f"  {m['key']}: {values}")
        return "\n".join(lines)


def _short(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def compare_runs(config: Config, run_ids: Sequence[str]) -> Comparison:
    """Compare two or more runs of the project's tracking store."""
    ids = list(dict.fromkeys(r.strip() for r in run_ids if r and r.strip()))
    if len(ids) < 2:
        raise UserInputError("compare needs at least two different run ids")
    mlflow_client = reachable_client(config)
    uri = tracking_uri(config)
    found = [get_run(mlflow_client, config, run_id) for run_id in ids]
    names = experiment_names(mlflow_client, [str(r.info.experiment_id) for r in found])
    model_names = logged_model_names(mlflow_client, found)
    rows = [row_of(r, uri, names, model_names) for r in found]
    params = []
    for key in sorted({k for r in rows for k in r.params}):
        values = {r.run_id: r.params.get(key) for r in rows}
        params.append({"key": key, "values": values, "differs": len(set(values.values())) > 1})
    metrics = [{"key": key, "values": {r.run_id: r.metrics.get(key) for r in rows}}
               for key in sorted({k for r in rows for k in r.metrics})]
    return Comparison(rows, params, metrics, histories(config, ids))


def compare(*run_ids: str, cwd: str | os.PathLike[str] | None = None) -> Comparison:
    """Compare runs: parameter differences, latest metrics and metric histories."""
    return compare_runs(load_config(cwd), run_ids)
