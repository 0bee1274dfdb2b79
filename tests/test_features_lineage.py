"""Features and tracking against the embedded MLflow store (SQLite under ``.mlops/``): a
retrieval during a run becomes the run's dataset input, and ``show`` lists the runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import jupyter_mlops as mlops
from jupyter_mlops import features
from jupyter_mlops.config import load_config
from jupyter_mlops.features.lineage import frame_digest, used_inputs
from tests.features_fixtures import generate

pytestmark = pytest.mark.usefixtures("tracking_reset")


def _client(project: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(load_config(project)["tracking.uri"])


def test_a_retrieval_in_a_run_is_its_input_and_show_lists_the_run(project: Path) -> None:
    data = generate(4, rows=90, entity_rows=100)
    for batch in data.orders:
        features.publish(batch, "orders", entities="customer_id", timestamp="event_timestamp",
                         created_timestamp="created", cwd=project)
    features.publish(data.sessions[0], "sessions", entities=["customer_id", "device"],
                     timestamp="event_timestamp", cwd=project)
    features.get("orders:amount", data.entities, timestamp="event_timestamp", cwd=project)
    assert features.show("orders", cwd=project).runs == []  # no run, nothing recorded

    with mlops.start_run(run_name="trained-on-features", cwd=str(project)) as run:
        frame = features.get(["orders:amount", "orders:segment", "sessions:*"],
                             data.entities, timestamp="event_timestamp", cwd=project)
    assert len(frame) == len(data.entities)

    inputs = _client(project).get_run(run.run_id).inputs
    specs = sorted(used_inputs(inputs), key=lambda s: s["view"])
    assert [(s["view"], s["version"], s["features"]) for s in specs] == [
        ("orders", 1, ["amount", "segment"]), ("sessions", 1, ["minutes", "active"])]
    assert {s["entity_digest"] for s in specs} == {frame_digest(data.entities)}
    assert specs[0]["entity_rows"] == len(data.entities)
    names = {i.dataset.name: i for i in inputs.dataset_inputs}
    assert set(names) == {"features:orders", "features:sessions"}
    tags = {t.key: t.value for t in names["features:orders"].tags}
    assert tags["mlflow.data.context"] == "training"
    schema = json.loads(names["features:orders"].dataset.schema)["mlflow_colspec"]
    assert schema == [{"name": "amount", "type": "double"},
                      {"name": "segment", "type": "string"}]

    used = features.show("orders", cwd=project).runs
    assert used is not None
    assert [(r.run_id, r.run_name, r.status) for r in used] == [
        (run.run_id, "trained-on-features", "FINISHED")]
    assert used[0].started_at is not None
    # another entity frame is another digest: the run's input says which rows were used
    assert frame_digest(data.entities.iloc[::-1]) != frame_digest(data.entities)


def test_show_does_not_create_the_tracking_store(project: Path) -> None:
    frame = pd.DataFrame({"k": [1], "ts": pd.to_datetime(["2024-01-01"], utc=True),
                          "x": [1.0]})
    features.publish(frame, "only", entities="k", timestamp="ts", cwd=project)
    assert features.show("only", cwd=project).runs == []
    assert not (project / ".mlops" / "mlflow.db").exists()
