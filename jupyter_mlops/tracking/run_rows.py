"""A run as the query side shows it: a row of status, times, params, latest metrics and
models (named as logged), its link in MLflow's UI, the tags worth showing.

Shared by the listings (``listing.py``), ``compare`` and ``register``. mlflow is imported
inside the functions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .models import MODELS_TAG
from .store import RunStatus, run_url

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

LOGGED_MODELS_PER_SEARCH = 100  # model ids in one search's filter
#: tags shown with a run (besides params and metrics); the rest stay in MLflow's UI
SHOWN_TAG_PREFIXES = ("mlflow.source.", "mlops.")
SHOWN_TAGS = ("mlflow.user", "mlflow.parentRunId", "mlflow.note.content")
HIDDEN_TAGS = (MODELS_TAG, "mlops.client_run_id")
MAX_TAG_SHOWN = 500


@dataclass
class RunRow:
    """One run as listings show it: status, times, params, latest metrics, models."""

    run_id: str
    run_name: str | None
    status: RunStatus
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
                "metrics": {k: json_number(v) for k, v in self.metrics.items()},
                "models": self.models, "notebook": self.notebook, "user": self.user,
                "git_commit": self.git_commit, "error": self.error, "url": self.url}


def json_number(value: float) -> float | None:
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
            if f"models:/{model_id}" not in tagged and filter_literal(model_id) is not None:
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
        status=cast(RunStatus, str(info.status)), experiment_id=str(info.experiment_id),
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


def experiment_names(mlflow_client: MlflowClient, ids: Iterable[str]) -> dict[str, str]:
    """Experiment id -> name, for those of ``ids`` the store still knows."""
    names = {}
    for experiment_id in set(ids):
        try:
            names[experiment_id] = str(mlflow_client.get_experiment(experiment_id).name)
        except Exception:
            continue
    return names


def filter_literal(text: str) -> str | None:
    """``text`` as a literal of MLflow's filter syntax; None when it cannot be one."""
    return None if "'" in text or "\\" in text else f"'{text}'"
