"""The query side of tracking: list runs (of a notebook or an experiment), one run's details
and artifacts, metric histories, compare runs, register a run's model with an alias.

Shared by the verbs (``mlops.runs``, ``%mlops compare``), the CLI and the REST API of the
Experiments panel. mlflow and pandas are imported inside the functions.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, load_config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from .models import MODELS_TAG
from .store import client, first_line, redact_uri, tracking_uri

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: the newest runs a listing looks at (sorting and paging happen over these)
MAX_RUNS = 1000
LOGGED_MODELS_PER_SEARCH = 100  # model ids in one search's filter
#: points per metric history sent for a chart (longer histories are thinned evenly)
MAX_POINTS = 2000
PROBE_TIMEOUT = 2.0
SORTABLE = ("start_time", "end_time", "duration", "status", "run_name")
#: tags shown with a run (besides params and metrics); the rest stay in MLflow's UI
SHOWN_TAG_PREFIXES = ("mlflow.source.", "mlops.")
SHOWN_TAGS = ("mlflow.user", "mlflow.parentRunId", "mlflow.note.content")
HIDDEN_TAGS = (MODELS_TAG, "mlops.client_run_id")
MAX_TAG_SHOWN = 500


# --------------------------------------------------------------------------- the store


def reachable_client(config: Config) -> MlflowClient:
    """The project's MLflow client, after a short probe of a tracking server: an unreachable
    one is a BackendUnavailableError at once, not MLflow's minutes of retries."""
    uri = tracking_uri(config)
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise BackendUnavailableError(
                    f"tracking server {redact_uri(uri)} answered HTTP {exc.code}: check the "
                    "server's log") from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnavailableError(
                f"tracking server {redact_uri(uri)} is unreachable ({first_line(str(reason))}): "
                "start it, or set tracking.uri in mlops.toml") from None
    return client(config)


def run_url(uri: str, experiment_id: str | None, run_id: str) -> str | None:
    """The run in MLflow's UI, for a tracking server (credentials left out)."""
    if not uri.startswith(("http://", "https://")) or not experiment_id:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    base = urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def _get_run(mlflow_client: MlflowClient, config: Config, run_id: str) -> Run:
    from mlflow.exceptions import MlflowException

    if not run_id or not all(c.isalnum() or c in "-_" for c in run_id):
        raise UserInputError(f"'{run_id}' is not a run id (MLflow's run ids are hexadecimal)")
    try:
        return mlflow_client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or \
                "not found" in str(exc).lower():
            raise NotFoundError(f"no run '{run_id}' in tracking store "
                                f"{redact_uri(tracking_uri(config))}: check the id with "
                                "%mlops runs") from None
        raise BackendUnavailableError(f"tracking store {redact_uri(tracking_uri(config))}: "
                                      f"{first_line(str(exc))}") from exc


# --------------------------------------------------------------------------- one run


@dataclass
class RunRow:
    """One run as listings show it: status, times, params, latest metrics, models."""

    run_id: str
    run_name: str | None
    status: str
    experiment_id: str
    start_time: int | None  # ms since the epoch
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    models: list[dict[str, str]]
    notebook: str | None
    user: str | None
    git_commit: str | None
    error: str | None
    url: str | None
    experiment: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (to now while the run is RUNNING)."""
        if self.start_time is None:
            return None
        end = self.end_time if self.end_time else (
            time.time() * 1000 if self.status == "RUNNING" else None)
        return None if end is None else max(0.0, (end - self.start_time) / 1000)

    @property
    def label(self) -> str:
        return self.run_name or self.run_id[:8]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_name": self.run_name, "status": self.status,
                "experiment_id": self.experiment_id, "experiment": self.experiment,
                "start_time": self.start_time, "end_time": self.end_time,
                "duration": self.duration, "params": self.params,
                "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
                "models": self.models, "notebook": self.notebook, "user": self.user,
                "git_commit": self.git_commit, "error": self.error, "url": self.url}


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _tagged_models(run: Run) -> list[dict[str, str]]:
    """What ``mlops.log_model`` recorded on the run (name, uri, flavor)."""
    raw = run.data.tags.get(MODELS_TAG)
    if not raw:
        return []
    try:
        listed = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(listed, list):
        return []
    return [{"name": str(m.get("name", "")), "uri": str(m.get("uri", "")),
             "flavor": str(m.get("flavor", ""))}
            for m in listed if isinstance(m, dict) and m.get("uri")]


def _output_model_ids(run: Run) -> list[str]:
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    return [str(o.model_id) for o in outputs if getattr(o, "model_id", None)]


def logged_model_names(mlflow_client: MlflowClient, runs: Sequence[Run]) -> dict[str, str]:
    """The names of the models these runs logged through MLflow's own API (not
    ``mlops.log_model``), by model id: one search of the logged models for them all. A
    store that cannot say leaves them out (they show by id)."""
    from mlflow.exceptions import MlflowException

    wanted: dict[str, str] = {}  # model id -> experiment id
    for run in runs:
        tagged = {m["uri"] for m in _tagged_models(run)}
        for model_id in _output_model_ids(run):
            if f"models:/{model_id}" not in tagged and _literal(model_id) is not None:
                wanted[model_id] = str(run.info.experiment_id)
    names: dict[str, str] = {}
    ids = sorted(wanted)
    for start in range(0, len(ids), LOGGED_MODELS_PER_SEARCH):
        chunk = ids[start:start + LOGGED_MODELS_PER_SEARCH]
        quoted = ", ".join(f"'{i}'" for i in chunk)
        experiments = sorted({wanted[i] for i in chunk})
        token = None
        try:
            while True:
                page = mlflow_client.search_logged_models(
                    experiments, filter_string=f"model_id IN ({quoted})",
                    max_results=len(chunk), page_token=token)
                names.update({m.model_id: m.name for m in page if m.name})
                token = page.token
                if not token:
                    break
        except (MlflowException, OSError):
            continue  # an older server without logged models: the ids stay
    return names


def models_of(run: Run, names: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The run's logged models: what ``log_model`` recorded (name, uri, flavor), then any
    model logged through MLflow's own API (``models:/<model id>``), named by ``names``
    (``logged_model_names``) where it knows the model, else by its id."""
    found = _tagged_models(run)
    known = {m["uri"] for m in found}
    for model_id in _output_model_ids(run):
        uri = f"models:/{model_id}"
        if uri not in known:
            found.append({"name": (names or {}).get(model_id, model_id), "uri": uri,
                          "flavor": ""})
            known.add(uri)
    return found


def row_of(run: Run, uri: str, experiments: dict[str, str] | None = None,
           model_names: dict[str, str] | None = None) -> RunRow:
    info, data = run.info, run.data
    tags = data.tags
    return RunRow(
        run_id=info.run_id, run_name=info.run_name or tags.get("mlflow.runName"),
        status=str(info.status), experiment_id=str(info.experiment_id),
        start_time=info.start_time, end_time=info.end_time,
        params=dict(data.params), metrics=dict(data.metrics), models=models_of(run, model_names),
        notebook=tags.get("mlops.notebook.path") or tags.get("mlflow.source.name"),
        user=tags.get("mlflow.user") or info.user_id or None,
        git_commit=tags.get("mlflow.source.git.commit"), error=tags.get("mlops.error"),
        url=run_url(uri, str(info.experiment_id), info.run_id),
        experiment=(experiments or {}).get(str(info.experiment_id)))


def shown_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags worth showing with a run: sources, git, host, notebook, error."""
    shown = {}
    for key in sorted(tags):
        if key in HIDDEN_TAGS:
            continue
        if key.startswith(SHOWN_TAG_PREFIXES) or key in SHOWN_TAGS:
            value = tags[key]
            shown[key] = value if len(value) <= MAX_TAG_SHOWN else value[:MAX_TAG_SHOWN] + "…"
    return shown


def _check_artifact_path(path: str | None) -> str | None:
    if not path:
        return None
    parts = Path(path).parts
    if Path(path).is_absolute() or ".." in parts:
        raise UserInputError(f"'{path}' is not an artifact folder of the run: use a path "
                             "relative to the run's artifact root, without '..'")
    return path.strip("/")


def artifacts(config: Config, run_id: str, path: str | None = None) -> list[dict[str, Any]]:
    """The run's artifacts directly under ``path`` (its root by default): path, is_dir, size."""
    mlflow_client = reachable_client(config)
    _get_run(mlflow_client, config, run_id)
    folder = _check_artifact_path(path)
    try:
        found = mlflow_client.list_artifacts(run_id, folder)
    except Exception as exc:
        raise BackendUnavailableError(f"could not list the artifacts of run {run_id}: "
                                      f"{first_line(str(exc))}") from exc
    return [{"path": item.path, "is_dir": bool(item.is_dir), "size": item.file_size}
            for item in sorted(found, key=lambda i: (not i.is_dir, i.path))]


def run_detail(config: Config, run_id: str) -> dict[str, Any]:
    """One run: its row, the tags that matter, its artifacts at the root."""
    mlflow_client = reachable_client(config)
    run = _get_run(mlflow_client, config, run_id)
    uri = tracking_uri(config)
    row = row_of(run, uri, _experiment_names(mlflow_client, [str(run.info.experiment_id)]),
                 logged_model_names(mlflow_client, [run]))
    detail = row.to_dict()
    detail["tags"] = shown_tags(dict(run.data.tags))
    detail["artifacts"] = artifacts(config, run_id)
    detail["artifact_uri"] = redact_uri(str(run.info.artifact_uri))
    return detail


def _experiment_names(mlflow_client: MlflowClient, ids: Iterable[str]) -> dict[str, str]:
    names = {}
    for experiment_id in set(ids):
        try:
            names[experiment_id] = str(mlflow_client.get_experiment(experiment_id).name)
        except Exception:
            continue
    return names


# --------------------------------------------------------------------------- listings


@dataclass
class RunsPage:
    """A page of runs, sorted; ``total`` counts the runs looked at (the newest MAX_RUNS)."""

    runs: list[RunRow]
    total: int
    offset: int
    limit: int
    sort: str
    descending: bool
    truncated: bool  # more runs exist than the MAX_RUNS newest looked at
    experiment: str | None
    notebook: str | None
    tracking_uri: str
    param_keys: list[str] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Some run of the page is still RUNNING (the panel polls while it is)."""
        return any(r.status == "RUNNING" for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "total": self.total,
                "offset": self.offset, "limit": self.limit, "sort": self.sort,
                "order": "desc" if self.descending else "asc", "truncated": self.truncated,
                "experiment": self.experiment, "notebook": self.notebook,
                "tracking_uri": redact_uri(self.tracking_uri), "active": self.active,
                "param_keys": self.param_keys, "metric_keys": self.metric_keys}


def _not_created_yet(uri: str) -> bool:
    """The embedded SQLite store before its first run (its file does not exist)."""
    if not uri.startswith("sqlite:///"):
        return False
    db = uri[len("sqlite:///"):]
    return bool(db) and db != ":memory:" and not Path(db).exists()


def _literal(text: str) -> str | None:
    """``text`` as a literal of MLflow's filter syntax; None when it cannot be one."""
    return None if "'" in text or "\\" in text else f"'{text}'"


def search(config: Config, *, experiment: str | None = None, notebook: str | Path | None = None,
           offset: int = 0, limit: int = 50, sort: str = "start_time",
           descending: bool = True) -> RunsPage:
    """Runs of ``notebook`` (an absolute path, in any experiment unless ``experiment`` is
    given) or of ``experiment`` (default: ``tracking.experiment``), sorted by ``sort``
    (start_time, end_time, duration, status, run_name, params.KEY, metrics.KEY), paged."""
    if offset < 0 or limit < 1:
        raise UserInputError("offset must be 0 or more and limit 1 or more")
    if sort not in SORTABLE and not sort.startswith(("params.", "metrics.")):
        raise UserInputError(f"cannot sort by '{sort}': use one of {', '.join(SORTABLE)}, "
                             "params.KEY or metrics.KEY")
    configured = str(config["tracking.uri"])
    if _not_created_yet(configured):  # no run was ever tracked here: do not create the store
        return RunsPage([], 0, offset, limit, sort, descending, False,
                        None if notebook is not None and experiment is None else
                        experiment or str(config["tracking.experiment"]),
                        str(notebook) if notebook else None, configured)
    uri = tracking_uri(config)
    mlflow_client = reachable_client(config)
    from mlflow.entities import ViewType

    names: dict[str, str]
    if notebook is not None and experiment is None:
        found = mlflow_client.search_experiments(view_type=ViewType.ACTIVE_ONLY,
                                                 max_results=1000)
        names = {str(e.experiment_id): str(e.name) for e in found}
        shown_experiment = None
    else:
        shown_experiment = experiment or str(config["tracking.experiment"])
        one = mlflow_client.get_experiment_by_name(shown_experiment)
        names = {} if one is None or one.lifecycle_stage == "deleted" else {
            str(one.experiment_id): str(one.name)}
    runs: list[Run] = []
    truncated = False
    if names:
        notebook_text = str(notebook) if notebook is not None else None
        literal = _literal(notebook_text) if notebook_text is not None else None
        filter_string = f"tags.`mlops.notebook.path` = {literal}" if literal else ""
        page = mlflow_client.search_runs(list(names), filter_string,
                                         run_view_type=ViewType.ACTIVE_ONLY,
                                         max_results=MAX_RUNS,
                                         order_by=["attributes.start_time DESC"])
        runs = list(page)
        truncated = bool(page.token)
        if notebook_text is not None and literal is None:  # filtered here instead
            runs = [r for r in runs if r.data.tags.get("mlops.notebook.path") == notebook_text]
    rows = sort_rows([row_of(r, uri, names) for r in runs], sort, descending)
    param_keys = sorted({k for r in rows for k in r.params})
    metric_keys = sorted({k for r in rows for k in r.metrics})
    shown = rows[offset:offset + limit]
    # the names of models logged through MLflow's API: looked up for this page only
    by_id = {r.info.run_id: r for r in runs}
    model_names = logged_model_names(mlflow_client, [by_id[r.run_id] for r in shown])
    if model_names:
        shown = [replace(r, models=models_of(by_id[r.run_id], model_names)) for r in shown]
    return RunsPage(shown, len(rows), offset, limit, sort, descending,
                    truncated, shown_experiment, str(notebook) if notebook else None, uri,
                    param_keys, metric_keys)


def sort_rows(rows: list[RunRow], sort: str, descending: bool) -> list[RunRow]:
    """Sorted by ``sort``; runs without a value come last in either order."""

    def value(row: RunRow) -> Any:
        if sort.startswith("params."):
            raw: Any = row.params.get(sort[len("params."):])
            if raw is None:
                return None
            try:
                return (0, float(raw), "")
            except ValueError:
                return (1, 0.0, str(raw))
        if sort.startswith("metrics."):
            number = row.metrics.get(sort[len("metrics."):])
            return None if number is None or math.isnan(number) else number
        if sort == "duration":
            return row.duration
        found = getattr(row, sort)
        return found.lower() if isinstance(found, str) else found

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=value, reverse=descending)
    return present + missing


# --------------------------------------------------------------------------- histories


def histories(config: Config, run_ids: Sequence[str], keys: Sequence[str] | None = None
              ) -> dict[str, dict[str, list[tuple[int, float, int]]]]:
    """run id -> metric key -> [(step, value, timestamp ms)] ordered by step, for the keys
    asked (default: every metric of each run); long histories thinned to MAX_POINTS."""
    mlflow_client = reachable_client(config)
    found: dict[str, dict[str, list[tuple[int, float, int]]]] = {}
    for run_id in run_ids:
        run = _get_run(mlflow_client, config, run_id)
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
                    {"key": m["key"], "values": {k: None if v is None else _json_number(v)
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
    found = [_get_run(mlflow_client, config, run_id) for run_id in ids]
    names = _experiment_names(mlflow_client, [str(r.info.experiment_id) for r in found])
    model_names = logged_model_names(mlflow_client, found)
    rows = [row_of(r, uri, names, model_names) for r in found]
    params = []
    for key in sorted({k for r in rows for k in r.params}):
        values = {r.run_id: r.params.get(key) for r in rows}
        params.append({"key": key, "values": values, "differs": len(set(values.values())) > 1})
    metrics = [{"key": key, "values": {r.run_id: r.metrics.get(key) for r in rows}}
               for key in sorted({k for r in rows for k in r.metrics})]
    return Comparison(rows, params, metrics, histories(config, ids))


# --------------------------------------------------------------------------- register


@dataclass
class Registration:
    """A model version made from a run's model (and the alias pointing at it)."""

    name: str
    version: str
    source: str
    run_id: str
    alias: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else \
            f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "run_id": self.run_id, "alias": self.alias, "uri": self.uri}

    def __repr__(self) -> str:
        alias = f", alias '{self.alias}'" if self.alias else ""
        return (f"mlops: registered {self.source} of run {self.run_id} as '{self.name}' "
                f"version {self.version}{alias} · load it with {self.uri}")


def register_run(config: Config, run_id: str, name: str | None = None,
                 alias: str | None = None, model: str | None = None) -> Registration:
    """Register the model that run ``run_id`` logged (``model``: its name or URI, needed when
    the run logged several) as a new version of ``name`` (default: the model's name), and
    point ``alias`` at it."""
    from mlflow.exceptions import MlflowException

    mlflow_client = reachable_client(config)
    run = _get_run(mlflow_client, config, run_id)
    logged = models_of(run, logged_model_names(mlflow_client, [run]))
    if not logged:
        raise UserInputError(f"run {run_id} logged no model: log one with "
                             "mlops.log_model(model, name) inside the run")
    if model:
        chosen = [m for m in logged if model in (m["name"], m["uri"])]
        if not chosen:
            raise UserInputError(f"run {run_id} has no model '{model}'; it has: "
                                 + ", ".join(m["name"] for m in logged))
    elif len(logged) > 1:
        raise UserInputError(f"run {run_id} logged {len(logged)} models: say which with "
                             "--model NAME (" + ", ".join(m["name"] for m in logged) + ")")
    else:
        chosen = logged
    entry = chosen[0]
    target = (name or entry["name"] or "").strip()
    if not target:
        raise UserInputError("a registered model needs a name: pass --name NAME")
    if alias is not None:
        alias = alias.strip()
        if not alias or not all(c.isalnum() or c in "_-" for c in alias) or \
                alias.lower() == "latest" or (alias[0] in "vV" and alias[1:].isdigit()):
            raise UserInputError(f"'{alias}' cannot be an alias: use letters, digits, _ and -, "
                                 "not 'latest' nor 'v<number>'")
    source = entry["uri"]
    model_id = source[len("models:/"):] if source.startswith("models:/m-") else None
    try:
        if model_id is not None:
            # the logged model's own location: a models:/m-… source would be looked up
            # through MLflow's process-wide tracking URI, which may be another store
            source = str(mlflow_client.get_logged_model(model_id).artifact_location)
        try:
            mlflow_client.create_registered_model(target)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        version = mlflow_client.create_model_version(target, source, run_id=run_id,
                                                     model_id=model_id)
        if alias:
            mlflow_client.set_registered_model_alias(target, alias, str(version.version))
    except MlflowException as exc:
        raise UserInputError(f"could not register run {run_id}'s model as '{target}': "
                             f"{first_line(exc.message)}") from None
    return Registration(target, str(version.version), entry["uri"], run_id, alias)


# --------------------------------------------------------------------------- the verbs


def _config_for(notebook: Path | None, cwd: str | os.PathLike[str] | None) -> Config:
    return load_config(notebook.parent if notebook else cwd)


def _notebook_path(notebook: str | os.PathLike[str] | bool | None,
                   namespace: dict[str, Any] | None, cwd: str | os.PathLike[str] | None
                   ) -> Path | None:
    from . import capture

    if notebook is None or notebook is False:
        return None
    if notebook is True:
        found = capture.find_notebook(namespace, None, os.fspath(cwd) if cwd else None)
        if found is None:
            raise UserInputError("this kernel does not know its notebook: call "
                                 "mlops.tracking.set_notebook(PATH) or pass notebook=PATH")
        return found
    path = Path(notebook).expanduser()
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    return path.resolve()


def runs(experiment: str | None = None, notebook: str | os.PathLike[str] | bool | None = None,
         limit: int = 100, *, cwd: str | os.PathLike[str] | None = None,
         namespace: dict[str, Any] | None = None) -> pd.DataFrame:
    """Runs newest first as a DataFrame: of ``experiment`` (default: ``tracking.experiment``)
    or of ``notebook`` (a path, or True for this kernel's notebook), at most ``limit``.
    Columns: run_id, run_name, status, start_time, duration (s), experiment, params.*,
    metrics.* (latest values), models (their URIs)."""
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    nb = _notebook_path(notebook, namespace, cwd)
    config = _config_for(nb, cwd)
    page = search(config, experiment=experiment, notebook=nb, limit=max(1, int(limit)))
    records = []
    for row in page.runs:
        record: dict[str, Any] = {
            "run_id": row.run_id, "run_name": row.run_name, "status": row.status,
            "start_time": pd.Timestamp(row.start_time, unit="ms", tz="UTC")
            if row.start_time else pd.NaT,
            "duration": row.duration, "experiment": row.experiment}
        record.update({f"params.{k}": v for k, v in row.params.items()})
        record.update({f"metrics.{k}": v for k, v in row.metrics.items()})
        record["models"] = [m["uri"] for m in row.models]
        records.append(record)
    columns = ["run_id", "run_name", "status", "start_time", "duration", "experiment",
               *[f"params.{k}" for k in page.param_keys],
               *[f"metrics.{k}" for k in page.metric_keys], "models"]
    return pd.DataFrame.from_records(records, columns=columns)


def compare(*run_ids: str, cwd: str | os.PathLike[str] | None = None) -> Comparison:
    """Compare runs: parameter differences, latest metrics and metric histories."""
    return compare_runs(load_config(cwd), run_ids)


def register(run_id: str, name: str | None = None, alias: str | None = None, *,
             model: str | None = None, cwd: str | os.PathLike[str] | None = None
             ) -> Registration:
    """Register the model of run ``run_id`` in MLflow's registry, and set ``alias``."""
    return register_run(load_config(cwd), run_id, name, alias, model)
