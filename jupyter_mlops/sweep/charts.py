"""A sweep's two charts as Vega-Lite v5 specs: the optimization history (each completed
trial's value, and the best so far) and parallel coordinates (each completed trial a line
across its parameters' axes to the objective's, coloured by the objective).

Standard library only: the Experiments panel's REST (from MLflow's runs) and ``Sweep`` (from
the Optuna study) both build them from plain trial records."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .space import Distribution

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class TrialPoint:
    """A completed trial as the charts see it: its number, params and objective value."""

    number: int
    params: Mapping[str, Any]
    value: float


def _completed(trials: Sequence[TrialPoint]) -> list[TrialPoint]:
    return sorted((t for t in trials if math.isfinite(t.value)), key=lambda t: t.number)


def history_spec(trials: Sequence[TrialPoint], metric: str, direction: Direction,
                 title: str, width: int | str | None = None) -> dict[str, Any]:
    """Each completed trial's value by its number, and a step line of the best so far."""
    rows: list[dict[str, Any]] = []
    best: float | None = None
    better = min if direction == "minimize" else max
    for trial in _completed(trials):
        best = trial.value if best is None else better(best, trial.value)
        rows.append({"trial": trial.number, "value": trial.value, "series": "trial"})
        rows.append({"trial": trial.number, "value": best, "series": "best so far"})
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "title": title,
        "data": {"values": rows},
        "layer": [
            {"mark": {"type": "point"}, "transform": [{"filter": "datum.series == 'trial'"}],
             "encoding": {"x": {"field": "trial", "type": "quantitative"},
                          "y": {"field": "value", "type": "quantitative", "title": metric},
                          "tooltip": [{"field": "trial", "type": "quantitative"},
                                      {"field": "value", "type": "quantitative",
                                       "title": metric}]}},
            {"mark": {"type": "line", "interpolate": "step-after"},
             "transform": [{"filter": "datum.series == 'best so far'"}],
             "encoding": {"x": {"field": "trial", "type": "quantitative"},
                          "y": {"field": "value", "type": "quantitative"}}},
        ],
    }
    return _sized(spec, width)


def _sized(spec: dict[str, Any], width: int | str | None) -> dict[str, Any]:
    """``width``: pixels, or "container" (the chart fits its box, a panel's width)."""
    if width is not None:
        spec["width"] = width
        spec["height"] = 160
        if width == "container":
            spec["autosize"] = {"type": "fit", "contains": "padding"}
    return spec


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _label(value: Any) -> str:
    number = _number(value)
    return f"{number:.4g}" if number is not None and not isinstance(value, str) else str(value)


@dataclass
class _Axis:
    """One axis of the parallel coordinates: where each value sits on it (0 bottom, 1 top)
    and the labels at its ticks."""

    name: str
    position: dict[str, float]  # the value as text -> its place
    ticks: list[tuple[float, str]]


def _numeric_axis(name: str, texts: list[str], low: float | None, high: float | None,
                  log: bool) -> _Axis:
    numbers = {text: float(text) for text in texts}
    lo = min([*numbers.values(), *([low] if low is not None else [])])
    hi = max([*numbers.values(), *([high] if high is not None else [])])
    logs = log and lo > 0

    def scale(v: float) -> float:
        return math.log(v) if logs else v

    span = scale(hi) - scale(lo)
    place = {text: (scale(v) - scale(lo)) / span if span > 0 else 0.5
             for text, v in numbers.items()}
    ticks = [(0.0, f"{lo:.4g}"), (1.0, f"{hi:.4g}")] if span > 0 else [(0.5, f"{lo:.4g}")]
    return _Axis(name, place, ticks)


def _category_axis(name: str, texts: list[str], order: Sequence[str]) -> _Axis:
    known = [t for t in order if t in set(texts)] if order else []
    categories = known + sorted(set(texts) - set(known))
    last = len(categories) - 1
    place = {t: (i / last if last > 0 else 0.5) for i, t in enumerate(categories)}
    return _Axis(name, place, [(p, t) for t, p in place.items()])


def _axis(name: str, texts: list[str], dist: Distribution | None) -> _Axis:
    if dist is not None and dist.kind == "choice":
        return _category_axis(name, texts, [str(v) for v in dist.values])
    if all(_number(t) is not None for t in texts):
        if dist is None:
            return _numeric_axis(name, texts, None, None, False)
        return _numeric_axis(name, texts, dist.low, dist.high,
                             dist.kind == "loguniform" or dist.log)
    return _category_axis(name, texts, [])


def parallel_spec(trials: Sequence[TrialPoint], metric: str, direction: Direction,
                  title: str, space: Mapping[str, Distribution] | None = None,
                  width: int | str | None = None) -> dict[str, Any]:
    """Parallel coordinates of the completed trials: an axis per parameter (its range in the
    space, on a log scale for loguniform; a choice's values in their order), then the
    objective's; each trial one line, coloured by the objective (the better, the darker)."""
    done = _completed(trials)
    names = list(space) if space else sorted({k for t in done for k in t.params})
    columns = {name: [str(t.params[name]) for t in done if name in t.params] for name in names}
    axes = [_axis(name, columns[name], (space or {}).get(name)) for name in names
            if columns[name]]
    objective = _numeric_axis(metric, [repr(t.value) for t in done], None, None, False) \
        if done else None
    if objective is not None:
        axes.append(objective)
    order = [axis.name for axis in axes]
    rows: list[dict[str, Any]] = []
    for trial in done:
        for index, axis in enumerate(axes):
            text = repr(trial.value) if axis is objective else str(trial.params.get(axis.name))
            if text not in axis.position:
                continue
            rows.append({"kind": "line", "trial": trial.number, "axis": axis.name,
                         "index": index, "position": axis.position[text],
                         "label": _label(trial.value if axis is objective else
                                         trial.params.get(axis.name)),
                         "objective": trial.value})
    for index, axis in enumerate(axes):
        rows.append({"kind": "axis", "axis": axis.name, "index": index})
        rows.extend({"kind": "tick", "axis": axis.name, "index": index, "position": place,
                     "label": label} for place, label in axis.ticks)
    x = {"field": "axis", "type": "nominal", "sort": order,
         "axis": {"title": None, "labelAngle": 0, "orient": "bottom", "domain": False}}
    y = {"field": "position", "type": "quantitative", "axis": None,
         "scale": {"domain": [0, 1]}}
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "title": title,
        "data": {"values": rows},
        "layer": [
            {"transform": [{"filter": "datum.kind == 'axis'"}],
             "mark": {"type": "rule", "color": "#999"}, "encoding": {"x": x}},
            {"transform": [{"filter": "datum.kind == 'line'"}],
             "mark": {"type": "line", "opacity": 0.7, "strokeWidth": 1.5},
             "encoding": {
                 "x": x, "y": y, "detail": {"field": "trial", "type": "nominal"},
                 "order": {"field": "index", "type": "quantitative"},
                 "color": {"field": "objective", "type": "quantitative", "title": metric,
                           "scale": {"scheme": "viridis",
                                     "reverse": direction == "maximize"},
                           "legend": {"orient": "bottom", "direction": "horizontal"}},
                 "tooltip": [{"field": "trial", "type": "quantitative"},
                             {"field": "axis", "type": "nominal", "title": "axis"},
                             {"field": "label", "type": "nominal", "title": "value"},
                             {"field": "objective", "type": "quantitative",
                              "title": metric}]}},
            {"transform": [{"filter": "datum.kind == 'tick'"}],
             "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 9},
             "encoding": {"x": x, "y": y, "text": {"field": "label", "type": "nominal"}}},
        ],
    }
    return _sized(spec, width)
