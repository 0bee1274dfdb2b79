"""Features and tracking: a retrieval during an active run is logged as the run's dataset
input (MLflow ``log_inputs``), one input per view; ``show`` finds the runs that used a view.

MLflow is imported only when a run is active (logging) or when runs are looked up.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .model import FeatureView, RunUse

if TYPE_CHECKING:
    import pandas as pd

    from ..config import Config

SOURCE_TYPE = "mlops-features"
VIEW_TAG = "mlops.features.view"
DATASET_PREFIX = "features:"


class LineageWarning(UserWarning):
    """The retrieval worked but could not be recorded on the run."""


def frame_digest(df: pd.DataFrame) -> str:
    """A digest of every row and column name of the entity frame (order matters)."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(df, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(json.dumps([str(c) for c in df.columns]).encode())
    return digest.hexdigest()


def record(resolved: Sequence[tuple[FeatureView, list[str]]], entity_df: pd.DataFrame,
           timestamp: str, store: str) -> str | None:
    """Log the retrieval on the active run, if there is one; returns its run id."""
    from ..tracking.lifecycle import active_run

    run = active_run()
    if run is None:
        return None
    if run.ref.run_id is None:
        warnings.warn("features: the tracking store is unreachable, so this retrieval is not "
                      "recorded on the run", LineageWarning, stacklevel=4)
        return None
    try:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        from ..tracking.store import client

        entities = frame_digest(entity_df)
        inputs = []
        for view, features in resolved:
            spec = {"view": view.name, "version": view.version, "features": features,
                    "entities": list(view.entities), "timestamp": timestamp,
                    "entity_rows": len(entity_df), "entity_digest": entities,
                    "backend": view.backend, "store": store}
            digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
            schema = {"mlflow_colspec": [{"name": f, "type": _mlflow_type(view, f)}
                                         for f in features]}
            dataset = Dataset(name=f"{DATASET_PREFIX}{view.name}", digest=digest,
                              source_type=SOURCE_TYPE, source=json.dumps(spec),
                              schema=json.dumps(schema),
                              profile=json.dumps({"num_rows": len(entity_df),
                                                  "num_features": len(features)}))
            inputs.append(DatasetInput(dataset, [
                InputTag("mlflow.data.context", "training"), InputTag(VIEW_TAG, view.name),
                InputTag("mlops.features.version", str(view.version))]))
        client(run.config).log_inputs(run.ref.run_id, datasets=inputs)
    except Exception as exc:  # the frame is the user's result; lineage must not cost it
        warnings.warn(f"features: could not record the retrieval on run {run.run_id}: "
                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                      LineageWarning, stacklevel=4)
        return None
    return run.ref.run_id


def _mlflow_type(view: FeatureView, feature: str) -> str:
    kind = next((f.type for f in view.schema if f.name == feature), "string")
    if kind == "int64":
        return "long"
    if kind == "double":
        return "double"
    if kind == "bool":
        return "boolean"
    if kind.startswith("timestamp"):
        return "datetime"
    return "string"


def runs_using(config: Config, view: str, limit: int = 50) -> list[RunUse]:
    """Runs of the project's tracking store whose inputs include ``view``, newest first.
    Nothing (not an error) when MLflow is missing or the store has no database yet."""
    from importlib.util import find_spec

    uri = str(config["tracking.uri"])
    if find_spec("mlflow") is None:
        return []
    if uri.startswith("sqlite:///") and not _exists(uri[len("sqlite:///"):]):
        return []  # looking must not create the embedded tracking store
    from ..tracking.store import client

    mlflow_client = client(config)
    experiments = [e.experiment_id for e in mlflow_client.search_experiments()]
    if not experiments:
        return []
    found = mlflow_client.search_runs(
        experiments, f"dataset.name = '{DATASET_PREFIX}{_quote(view)}'",
        order_by=["attributes.start_time DESC"], max_results=limit)
    return [RunUse(r.info.run_id, r.info.run_name, r.info.experiment_id, r.info.status,
                   datetime.fromtimestamp(r.info.start_time / 1000, timezone.utc)
                   if r.info.start_time else None) for r in found]


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def used_inputs(run_inputs: Any) -> list[dict[str, Any]]:
    """The feature specs among a run's dataset inputs (for tests and displays)."""
    specs = []
    for item in getattr(run_inputs, "dataset_inputs", []) or []:
        if item.dataset.source_type == SOURCE_TYPE:
            specs.append(json.loads(item.dataset.source))
    return specs
