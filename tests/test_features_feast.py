"""The Feast adapter over a real Feast 0.67 repository made here (DuckDB offline store,
SQLite online store), run in Feast's own venv (it pins pandas < 3) with this package on
PYTHONPATH: the same verbs give the same answers as the embedded store and the brute-force
reference."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from jupyter_mlops import features
from tests.engines import engine_python
from tests.features_fixtures import ORDERS_TTL, brute_force, generate, same_values

pytestmark = pytest.mark.timeout(900)

DEFINITIONS = '''
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Bool, Float64, Int64, String

repo = Path(sys.argv[1])
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
device = Entity(name="device", join_keys=["device"], value_type=ValueType.STRING)
orders = FeatureView(
    name="orders", entities=[customer], ttl=timedelta(days=1),
    schema=[Field(name="customer_id", dtype=Int64),
            Field(name="amount", dtype=Float64, description="order value in EUR"),
            Field(name="order_count", dtype=Int64), Field(name="segment", dtype=String)],
    source=FileSource(path=str(repo / "data" / "orders.parquet"),
                      timestamp_field="event_timestamp", created_timestamp_column="created"),
    description="Order totals per customer", owner="data-eng", tags={"team": "growth"})
sessions = FeatureView(
    name="sessions", entities=[customer, device],
    schema=[Field(name="customer_id", dtype=Int64), Field(name="device", dtype=String),
            Field(name="minutes", dtype=Float64, description="time spent in the app"),
            Field(name="active", dtype=Bool)],
    source=FileSource(path=str(repo / "data" / "sessions.parquet"),
                      timestamp_field="event_timestamp"),
    description="App sessions per device")
store = FeatureStore(repo_path=str(repo))
store.apply([customer, device, orders, sessions])
store.materialize(datetime(2020, 1, 1, tzinfo=timezone.utc),
                  datetime(2030, 1, 1, tzinfo=timezone.utc))
print("applied")
'''

ADAPTER = '''
import json, sys
import pandas as pd
from jupyter_mlops import features
project, out = sys.argv[1], sys.argv[2]
entities = pd.read_parquet(f"{out}/entities.parquet")
backend, found = features.search_views("totals", cwd=project)
show = features.show("orders", cwd=project, runs=False)
frame = features.get(["orders:*", "sessions:minutes", "sessions:active"], entities,
                     timestamp="event_timestamp", cwd=project)
frame.to_parquet(f"{out}/training.parquet")
keys = json.loads(sys.argv[3])
features.online("orders", keys, cwd=project).to_parquet(f"{out}/online.parquet")
errors = []
for call in (lambda: features.show("ordres", cwd=project),
             lambda: features.get("orders:amout", entities, timestamp="event_timestamp",
                                  cwd=project)):
    try:
        call()
    except Exception as exc:
        errors.append(str(exc))
print(json.dumps({"backend": backend,
                  "search": [[v.name, m] for v, m in found],
                  "by_field": [[v.name, m] for v, m in
                               features.search_views("spent in the app", cwd=project)[1]],
                  "by_tag": [v.name for v, _ in features.search_views(
                      tags={"team": "growth"}, cwd=project)[1]],
                  "show": show.to_dict(), "stats": features.stats("orders", cwd=project)
                  .to_dict(), "errors": errors}))
'''


def _unique(batches: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """One frame without rows that tie on every ordering column (Feast's order for those is
    its own), kept as the embedded store would keep them: the last one."""
    frame = pd.concat(batches, ignore_index=True)
    return frame.drop_duplicates(keys, keep="last").reset_index(drop=True)


def test_the_verbs_over_a_real_feast_repository_give_the_embedded_answers(
        project: Path, tmp_path: Path, child_env: Callable[..., dict[str, str]]) -> None:
    python, why = engine_python("feast")
    if python is None:
        pytest.skip(why)
    data = generate(21, rows=300, entity_rows=400)
    orders = _unique(data.orders, ["customer_id", "event_timestamp", "created"])
    sessions = _unique(data.sessions, ["customer_id", "device", "event_timestamp"])
    repo = tmp_path / "feast_repo"
    (repo / "data").mkdir(parents=True)
    orders.to_parquet(repo / "data" / "orders.parquet", coerce_timestamps="us")
    sessions.to_parquet(repo / "data" / "sessions.parquet", coerce_timestamps="us")
    (repo / "feature_store.yaml").write_text(
        "project: mlops_test\nregistry: data/registry.db\nprovider: local\n"
        "offline_store:\n  type: duckdb\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
        "entity_key_serialization_version: 3\n")
    env = child_env({"FEAST_USAGE": "False"})
    done = subprocess.run([str(python), "-c", DEFINITIONS, str(repo)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    feast_project = tmp_path / "feast_project"
    feast_project.mkdir()
    (feast_project / "mlops.toml").write_text(
        f'[features]\nbackend = "feast"\nrepo = "{repo}"\n')
    out = tmp_path / "out"
    out.mkdir()
    data.entities.to_parquet(out / "entities.parquet", coerce_timestamps="us")
    keys = [1, 2, 3, 999]
    done = subprocess.run([str(python), "-c", ADAPTER, str(feast_project), str(out),
                           json.dumps(keys)], cwd=feast_project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])

    # the embedded store, fed the same rows, in this process
    features.publish(orders, "orders", entities="customer_id", timestamp="event_timestamp",
                     created_timestamp="created", ttl=ORDERS_TTL.to_pytimedelta(),
                     cwd=project)
    features.publish(sessions, "sessions", entities=["customer_id", "device"],
                     timestamp="event_timestamp", cwd=project)
    embedded = features.get(["orders:*", "sessions:minutes", "sessions:active"],
                            data.entities, timestamp="event_timestamp", cwd=project)
    feast = pd.read_parquet(out / "training.parquet")
    reference = {**brute_force([orders], data.entities, ["customer_id"],
                               ["amount", "order_count", "segment"], ORDERS_TTL, "created"),
                 **brute_force([sessions], data.entities, ["customer_id", "device"],
                               ["minutes", "active"], None, None)}

    # every entity row comes back, in order, from Feast too
    assert len(feast) == len(data.entities)
    assert feast["customer_id"].tolist() == data.entities["customer_id"].tolist()
    for name in ("amount", "order_count", "segment", "minutes", "active"):
        assert same_values(feast[name], reference[name]) == [], name
        assert same_values(feast[name], embedded[name]) == [], name
    assert feast["amount"].isna().sum() > 20  # outside the TTL, or no history: kept as nulls

    online = pd.read_parquet(out / "online.parquet")
    here = features.online("orders", keys, cwd=project)
    assert online["customer_id"].tolist() == keys
    for name in ("amount", "order_count", "segment"):
        assert same_values(online[name], here[name]) == [], name

    assert answer["backend"] == "feast"
    assert answer["search"] == [["orders", "description"]]
    assert answer["by_field"] == [["sessions", "field descriptions"]]
    assert answer["by_tag"] == ["orders"]
    view = answer["show"]
    assert view["entities"] == ["customer_id"] and view["ttl_seconds"] == 86400
    assert view["owner"] == "data-eng" and view["tags"] == {"team": "growth"}
    assert view["features"] == ["amount", "order_count", "segment"]
    assert view["rows"] == len(orders)
    assert pd.Timestamp(view["newest_event"]) == orders["event_timestamp"].max()
    assert {f["name"]: f["description"] for f in view["schema"]}["amount"] == \
        "order value in EUR"
    stats = {c["name"]: c for c in answer["stats"]["columns"]}
    assert stats["amount"]["mean"] == pytest.approx(orders["amount"].mean())
    assert "did you mean 'orders'?" in answer["errors"][0]
    assert "did you mean 'amount'?" in answer["errors"][1]
