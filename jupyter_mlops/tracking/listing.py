"""Listing runs: a sorted, paged listing of a notebook's or an experiment's runs, one run's
details and artifacts, and ``mlops.runs()``, the listing as a DataFrame.

Shared by the verbs (``mlops.runs``, ``%mlops runs``), the CLI and the REST API of the
Experiments panel. mlflow and pandas are imported inside the functions.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, load_config
from ..errors import BackendUnavailableError, NotFoundError, UserInputError
from ..session import current_notebook
from .run_rows import (
    RunRow,
    experiment_names,
    filter_literal,
    logged_model_names,
    models_of,
    row_of,
    shown_tags,
)
from .store import first_line, get_run, reachable_client, redact_uri, tracking_uri

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from mlflow import MlflowClient
    from mlflow.entities import Run

#: the newest runs a listing looks at (sorting and paging happen over these)
MAX_RUNS = 1000
SORTABLE = ("start_time", "end_time", "duration", "status", "run_name")
#: experiments named in the message about an unknown one
EXPERIMENTS_NAMED = 10


# --------------------------------------------------------------------------- one run


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
    get_run(mlflow_client, config, run_id)
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
    run = get_run(mlflow_client, config, run_id)
    uri = tracking_uri(config)
    row = row_of(run, uri, experiment_names(mlflow_client, [str(run.info.experiment_id)]),
                 logged_model_names(mlflow_client, [run]))
    detail = row.to_dict()
    detail["tags"] = shown_tags(dict(run.data.tags))
    detail["artifacts"] = artifacts(config, run_id)
    detail["artifact_uri"] = redact_uri(str(run.info.artifact_uri))
    return detail


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
    #: with ``fold_sweeps``: each listed sweep's summary by its parent's run id
    sweeps: dict[str, dict[str, Any]] = field(default_factory=dict)

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
                "param_keys": self.param_keys, "metric_keys": self.metric_keys,
                "sweeps": self.sweeps}


def _not_created_yet(uri: str) -> bool:
    """The embedded SQLite store before its first run (its file does not exist)."""
    if not uri.startswith("sqlite:///"):
        return False
    db = uri[len("sqlite:///"):]
    return bool(db) and db != ":memory:" and not Path(db).exists()


def search(config: Config, *, experiment: str | None = None, notebook: str | Path | None = None,
           offset: int = 0, limit: int = 50, sort: str = "start_time",
           descending: bool = True, fold_sweeps: bool = False) -> RunsPage:
    """Runs of ``notebook`` (an absolute path, in any experiment unless ``experiment`` is
    given) or of ``experiment`` (default: ``tracking.experiment``), sorted by ``sort``
    (start_time, end_time, duration, status, run_name, params.KEY, metrics.KEY), paged.
    An ``experiment`` named that the store does not have is a NotFoundError (the project's
    own experiment is only empty until its first run). ``fold_sweeps``: a sweep is one row,
    its parent's, the trials under it counted in ``sweeps`` (``sweep_runs.fold``)."""
    if offset < 0 or limit < 1:
        raise UserInputError("offset must be 0 or more and limit 1 or more")
    if sort not in SORTABLE and not sort.startswith(("params.", "metrics.")):
        raise UserInputError(f"cannot sort by '{sort}': use one of {', '.join(SORTABLE)}, "
                             "params.KEY or metrics.KEY")
    configured = str(config["tracking.uri"])
    # an experiment the caller named that is not the project's own must exist (the project's
    # own is simply empty until its first run)
    named = experiment if experiment and experiment != str(config["tracking.experiment"]) \
        else None
    if _not_created_yet(configured):  # no run was ever tracked here: do not create the store
        if named is not None:
            raise NotFoundError(f"no experiment named '{named}': no run was tracked in this "
                                f"project yet (tracking store {redact_uri(configured)})")
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
        if not names and named is not None:
            raise NotFoundError(_unknown_experiment(mlflow_client, named, uri))
    runs: list[Run] = []
    truncated = False
    if names:
        notebook_text = str(notebook) if notebook is not None else None
        literal = filter_literal(notebook_text) if notebook_text is not None else None
        filter_string = f"tags.`mlops.notebook.path` = {literal}" if literal else ""
        page = mlflow_client.search_runs(list(names), filter_string,
                                         run_view_type=ViewType.ACTIVE_ONLY,
                                         max_results=MAX_RUNS,
                                         order_by=["attributes.start_time DESC"])
        runs = list(page)
        truncated = bool(page.token)
        if notebook_text is not None and literal is None:  # filtered here instead
            runs = [r for r in runs if r.data.tags.get("mlops.notebook.path") == notebook_text]
    sweeps: dict[str, dict[str, Any]] = {}
    if fold_sweeps:
        from .sweep_runs import fold

        runs, sweeps = fold(runs)
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
                    param_keys, metric_keys,
                    {r.run_id: sweeps[r.run_id] for r in shown if r.run_id in sweeps})


def _unknown_experiment(mlflow_client: MlflowClient, name: str, uri: str) -> str:
    """The message for an experiment the store does not have, naming some that it has."""
    from mlflow.entities import ViewType

    try:
        found = mlflow_client.search_experiments(view_type=ViewType.ACTIVE_ONLY,
                                                 max_results=EXPERIMENTS_NAMED + 1)
        known = [str(e.name) for e in found]
    except Exception:  # the hint is a courtesy: the message stands without it
        known = []
    hint = ""
    if known:
        more = ", …" if len(known) > EXPERIMENTS_NAMED else ""
        hint = f"; its experiments: {', '.join(known[:EXPERIMENTS_NAMED])}{more}"
    return f"no experiment named '{name}' in tracking store {redact_uri(uri)}{hint}"


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


# --------------------------------------------------------------------------- the verb


def _config_for(notebook: Path | None, cwd: str | os.PathLike[str] | None) -> Config:
    return load_config(notebook.parent if notebook else cwd)


def _notebook_path(notebook: str | os.PathLike[str] | bool | None,
                   namespace: dict[str, Any] | None, cwd: str | os.PathLike[str] | None
                   ) -> Path | None:
    if notebook is None or notebook is False:
        return None
    if notebook is True:
        found = current_notebook(namespace, None, cwd)
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
    metrics.* (latest values), models (their URIs). An unknown ``experiment`` is a
    NotFoundError that names the experiments there are."""
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
