"""The Feast adapter over a real Feast 0.67 repository made here (DuckDB offline store,
SQLite online store), run in Feast's own venv (it pins pandas < 3) with this package on
PYTHONPATH: the same verbs give the same answers as the embedded store and the brute-force
reference."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops import features
from tests.engines import engine_python
from tests.features_fixtures import ORDERS_TTL, at, brute_force, generate, same_values

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
import numpy as np
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


# --------------------------------------------------------------------------- publishing

TEAM_CODE = '''
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64,
                  description="a paying customer")
team_orders = FeatureView(
    name="team_orders", entities=[customer], ttl=timedelta(days=3),
    schema=[Field(name="customer_id", dtype=Int64), Field(name="refunds", dtype=Float64)],
    source=FileSource(name="team_orders_source", path="data/team_orders.parquet",
                      timestamp_field="event_timestamp"))
'''

PUBLISH = '''
import hashlib, json, sys
from pathlib import Path
import feast
import numpy as np
import pandas as pd
from jupyter_mlops import features
project, out, repo = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
keys = json.loads(sys.argv[4])
batches = lambda kind: [pd.read_parquet(p) for p in sorted(out.glob(f"{kind}-*.parquet"))]
orders, sessions = batches("orders"), batches("sessions")
def publish_orders(frame, name="orders", **extra):
    return features.publish(frame, name, entities="customer_id", timestamp="event_timestamp",
                            created_timestamp="created", cwd=project, **extra)
def publish_sessions(frame):
    return features.publish(frame, "sessions", entities=["customer_id", "device"],
                            timestamp="event_timestamp", cwd=project,
                            description="App sessions per device",
                            field_descriptions={"minutes": "time spent in the app"})
def files(skip=()):
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(repo.rglob("*")) if p.is_file() and p.name not in skip}
def registry():
    store = feast.FeatureStore(repo_path=str(repo))
    found = {}
    for kind, items in (("view", store.list_feature_views()), ("entity", store.list_entities()),
                        ("source", store.list_data_sources())):
        for item in items:
            proto = item.to_proto()
            spec = proto.spec if hasattr(proto, "spec") else proto
            if spec.HasField("meta") if "meta" in spec.DESCRIPTOR.fields_by_name else False:
                spec.ClearField("meta")
            found[f"{kind}:{item.name}"] = hashlib.sha256(spec.SerializeToString(
                deterministic=True)).hexdigest()
    return found

said = []
view = publish_orders(orders[0], ttl="1d", description="Order totals per customer",
                      owner="data-eng", tags={"team": "growth"},
                      field_descriptions={"amount": "order value in EUR"}, progress=said.append)
first_rows = view.rows
right_after = features.online("orders", keys, cwd=project)
publish_sessions(sessions[0])
for batch in orders[1:]:  # appends; what was said on the first publish stays
    view = publish_orders(batch)
for batch in sessions[1:]:
    publish_sessions(batch)
features.publish(pd.read_parquet(out / "devices.parquet"), "devices", entities="device",
                 timestamp="event_timestamp", cwd=project)

# refusals: one line each, nothing written
before_files, before_registry = files(), registry()
extra = orders[0].assign(discount=1.5)
as_text = orders[0].assign(amount=orders[0]["amount"].astype(str))
team = pd.DataFrame({"customer_id": [1], "event_timestamp": orders[0]["event_timestamp"][:1],
                     "refunds": [2.0]})
text_keys = orders[0].assign(customer_id=orders[0]["customer_id"].astype(str))
errors = {}
for label, call in (
        ("new column", lambda: publish_orders(extra)),
        ("type change", lambda: publish_orders(as_text)),
        ("other created column", lambda: features.publish(
            orders[0], "orders", entities="customer_id", timestamp="event_timestamp",
            cwd=project)),
        ("team's view", lambda: features.publish(team, "team_orders", entities="customer_id",
                                                 timestamp="event_timestamp", cwd=project)),
        ("key type", lambda: publish_orders(text_keys, "orders_by_text")),
        ("missing timestamp", lambda: features.publish(
            orders[0], "orders", entities="customer_id", timestamp="event_time",
            cwd=project)),
        ("bad name", lambda: publish_orders(orders[0], "no spaces")),
        ("ttl", lambda: publish_orders(orders[0], "orders_30h", ttl="30h"))):
    try:
        call()
        errors[label] = None
    except Exception as exc:
        errors[label] = f"{type(exc).__name__}: {exc}"
unchanged = files() == before_files and registry() == before_registry

# Feast failing half-way (materialize, injected): files and registry put back
def broken(*_args, **_kwargs):
    raise RuntimeError("disk full (injected)")
real, feast.FeatureStore.materialize = feast.FeatureStore.materialize, broken
failures = []
for call in (lambda: publish_orders(orders[0], "broken"), lambda: publish_orders(orders[1])):
    try:
        call()
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
feast.FeatureStore.materialize = real
volatile = ("registry.db", "online.db")
restored = (files(volatile) == {k: v for k, v in before_files.items()
                                if Path(k).name not in volatile}
            and registry() == before_registry)

entities = pd.read_parquet(out / "entities.parquet")
wanted = ["orders:*", "sessions:minutes", "sessions:active", "devices:screens"]
features.get(wanted, entities, timestamp="event_timestamp",
             cwd=project).to_parquet(out / "training.parquet")
features.online("orders", keys, cwd=project).to_parquet(out / "online.parquet")
right_after.to_parquet(out / "online-first.parquet")
print(json.dumps({"progress": said, "first_rows": first_rows, "rows": view.rows,
                  "show": features.show("orders", cwd=project, runs=False).to_dict(),
                  "errors": errors, "unchanged": unchanged, "failures": failures,
                  "restored": restored, "files": sorted(files())}))
'''

AFTER_APPLY = '''
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd
from jupyter_mlops import features
project, out, keys = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
entities = pd.read_parquet(out / "entities.parquet")
wanted = ["orders:*", "sessions:minutes", "sessions:active", "devices:screens"]
features.get(wanted, entities, timestamp="event_timestamp",
             cwd=project).to_parquet(out / "training-after.parquet")
features.online("orders", keys, cwd=project).to_parquet(out / "online-after.parquet")
print(json.dumps(sorted(v.name for v, _ in features.search_views(cwd=project)[1])))
'''


def _unique_batches(batches: list[pd.DataFrame], keys: list[str]) -> list[pd.DataFrame]:
    """The batches without rows that tie on every ordering column (across batches too: the
    embedded store's later publish wins, Feast's order for those is its own)."""
    frame = pd.concat([b.assign(_batch=i) for i, b in enumerate(batches)], ignore_index=True)
    frame = frame.drop_duplicates(keys, keep="last")
    return [part.drop(columns="_batch").reset_index(drop=True)
            for _i, part in frame.groupby("_batch", sort=True)]


def _registry_updates(plan: str) -> set[str]:
    """The views ``feast plan`` would update, checking that it would change nothing else and
    that each update is Feast's own noise after a materialize: the batch source's meta
    timestamps (it says the same of hand-written views after 'feast materialize')."""
    registry = plan.split("\n", 1)[1].split("\n\n\n")[0].strip()  # after "No project…"
    if registry == "No changes to registry":
        return set()
    updated = set()
    for block in registry.split("\n\n"):
        assert block.startswith("Updated feature view "), block
        name, _, body = block[len("Updated feature view "):].partition("\n")
        assert body.startswith("\tbatch_source: ") and "\n\t" not in body, block
        before, after = body[len("\tbatch_source: "):].split(" -> ")
        drop = ("seconds:", "nanos:")
        assert [line for line in before.splitlines() if not line.strip().startswith(drop)] \
            == [line for line in after.splitlines() if not line.strip().startswith(drop)], block
        updated.add(name.strip())
    return updated


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def test_publishing_into_a_real_feast_repository_gives_the_embedded_answers_and_survives_feast_apply(  # noqa: E501
        project: Path, tmp_path: Path, child_env: Callable[..., dict[str, str]]) -> None:
    python, why = engine_python("feast")
    if python is None:
        pytest.skip(why)
    feast_cli = str(Path(python).parent / "feast")
    data = generate(23, rows=300, entity_rows=400)
    orders = _unique_batches(data.orders, ["customer_id", "event_timestamp", "created"])
    sessions = _unique_batches(data.sessions, ["customer_id", "device", "event_timestamp"])
    devices = pd.DataFrame({
        "device": ["ios", "web", "ios", "web"],
        "event_timestamp": [at(0), at(3600), at(86400), at(5 * 86400)],
        "screens": np.array([5, 7, 6, 9], dtype="int64")})

    # a fresh repository whose team code defines the entity 'customer' (and a view of its own)
    repo = tmp_path / "feast_repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        "project: mlops_publish\nregistry: data/registry.db\nprovider: local\n"
        "offline_store:\n  type: duckdb\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
        "entity_key_serialization_version: 3\n")
    (repo / "team.py").write_text(TEAM_CODE)
    pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [at(0), at(60)],
                  "refunds": [0.0, 1.0]}).to_parquet(repo / "data" / "team_orders.parquet",
                                                      coerce_timestamps="us")
    env = child_env({"FEAST_USAGE": "False"})
    _run([feast_cli, "apply"], repo, env)

    feast_project = tmp_path / "feast_project"
    feast_project.mkdir()
    (feast_project / "mlops.toml").write_text(
        f'[features]\nbackend = "feast"\nrepo = "{repo}"\n')
    out = tmp_path / "out"
    out.mkdir()
    for i, batch in enumerate(orders):
        batch.to_parquet(out / f"orders-{i}.parquet", coerce_timestamps="us")
    for i, batch in enumerate(sessions):
        batch.to_parquet(out / f"sessions-{i}.parquet", coerce_timestamps="us")
    devices.to_parquet(out / "devices.parquet", coerce_timestamps="us")
    data.entities.to_parquet(out / "entities.parquet", coerce_timestamps="us")
    keys = [1, 2, 3, 999]
    printed = _run([str(python), "-c", PUBLISH, str(feast_project), str(out), str(repo),
                    json.dumps(keys)], feast_project, env)
    answer = json.loads(printed.strip().splitlines()[-1])

    # the embedded store, fed the same batches, and the brute force
    for batch in orders:
        features.publish(batch, "orders", entities="customer_id", timestamp="event_timestamp",
                         created_timestamp="created", ttl="1d", cwd=project)
    for batch in sessions:
        features.publish(batch, "sessions", entities=["customer_id", "device"],
                         timestamp="event_timestamp", cwd=project)
    features.publish(devices, "devices", entities="device", timestamp="event_timestamp",
                     cwd=project)
    wanted = ["orders:*", "sessions:minutes", "sessions:active", "devices:screens"]
    embedded = features.get(wanted, data.entities, timestamp="event_timestamp", cwd=project)
    reference = {**brute_force(orders, data.entities, ["customer_id"],
                               ["amount", "order_count", "segment"], ORDERS_TTL, "created"),
                 **brute_force(sessions, data.entities, ["customer_id", "device"],
                               ["minutes", "active"], None, None),
                 **brute_force([devices], data.entities, ["device"], ["screens"], None, None)}
    here = features.online("orders", keys, cwd=project)

    def check(training: pd.DataFrame, online: pd.DataFrame) -> None:
        assert training["customer_id"].tolist() == data.entities["customer_id"].tolist()
        for name in ("amount", "order_count", "segment", "minutes", "active", "screens"):
            assert same_values(training[name], reference[name]) == [], name
            assert same_values(training[name], embedded[name]) == [], name
        assert online["customer_id"].tolist() == keys
        for name in ("amount", "order_count", "segment"):
            assert same_values(online[name], here[name]) == [], name

    check(pd.read_parquet(out / "training.parquet"), pd.read_parquet(out / "online.parquet"))
    assert pd.read_parquet(out / "training.parquet")["amount"].isna().sum() > 20

    # online answered right after the first publish: the latest row of each key in it
    right_after = pd.read_parquet(out / "online-first.parquet")
    latest = (orders[0].sort_values(["event_timestamp", "created"])
              .drop_duplicates("customer_id", keep="last").set_index("customer_id"))
    want = pd.Series([latest["amount"].get(k) for k in keys], dtype="float64")
    assert same_values(right_after["amount"], want) == []
    assert right_after["amount"].notna().sum() == 3  # 999 has no rows

    # appended: every batch's rows are in the one data file; what the first publish said stays
    assert answer["first_rows"] == len(orders[0])
    assert answer["rows"] == sum(len(b) for b in orders)
    view = answer["show"]
    assert view["ttl_seconds"] == 86400 and view["created_timestamp"] == "created"
    assert view["description"] == "Order totals per customer" and view["owner"] == "data-eng"
    assert view["tags"] == {"team": "growth"} and view["entities"] == ["customer_id"]
    assert view["features"] == ["amount", "order_count", "segment"]
    assert {f["name"]: f["description"] for f in view["schema"]}["amount"] == \
        "order value in EUR"
    assert any("applied to the Feast registry" in line for line in answer["progress"])
    assert {"data/orders.parquet", "data/sessions.parquet", "data/devices.parquet",
            "mlops_features/orders.py", "mlops_features/sessions.py",
            "mlops_features/devices.py"} <= set(answer["files"])
    assert not [f for f in answer["files"] if f.endswith((".tmp", ".old"))]

    # the reviewable definitions: the team's entity referenced, never redefined
    orders_code = (repo / "mlops_features" / "orders.py").read_text()
    sessions_code = (repo / "mlops_features" / "sessions.py").read_text()
    assert "Entity(name='customer', join_keys=['customer_id']" in orders_code
    assert "customer_entity =" not in orders_code + sessions_code
    assert "device_entity = Entity(name='device'" in sessions_code
    # an entity only jupyter-mlops's files define: the same definition in each (equal objects,
    # so Feast sees one)
    devices_code = (repo / "mlops_features" / "devices.py").read_text()
    assert "device_entity = Entity(name='device', join_keys=['device'], " \
        "value_type=ValueType.STRING)" in devices_code
    assert "created_timestamp_column='created'" in orders_code
    assert "description='order value in EUR'" in orders_code

    # refusals: one line each, and the repository's files and registry unchanged
    errors = answer["errors"]
    assert all(e is not None and "\n" not in e for e in errors.values()), errors
    assert "no versions" in errors["new column"] and "discount" in errors["new column"]
    assert "is double, not string" in errors["type change"]
    assert "no versions" in errors["type change"]
    assert "created timestamp 'created'" in errors["other created column"]
    assert "own code" in errors["team's view"]
    assert "INT64 keys but column 'customer_id' is string" in errors["key type"]
    assert "did you mean 'event_timestamp'?" in errors["missing timestamp"]
    assert "is not valid" in errors["bad name"]
    assert "TTL of 30h mixes days and seconds" in errors["ttl"]
    assert answer["unchanged"] is True
    # Feast failing after apply began: one line, files and registry put back
    assert len(answer["failures"]) == 2, answer["failures"]
    for failure in answer["failures"]:
        assert "disk full (injected)" in failure and "as they were" in failure, failure
    assert answer["restored"] is True

    # the team's own `feast plan` / `feast apply` keep every view: nothing is deleted
    plan = _run([feast_cli, "plan"], repo, env)
    assert "Deleted" not in plan, plan
    assert _registry_updates(plan) <= {"orders", "sessions", "devices"}, plan
    applied = _run([feast_cli, "apply"], repo, env)
    assert "Deleted" not in applied, applied
    printed = _run([str(python), "-c", AFTER_APPLY, str(feast_project), str(out),
                    json.dumps(keys)], feast_project, env)
    assert json.loads(printed.strip().splitlines()[-1]) == [
        "devices", "orders", "sessions", "team_orders"]
    check(pd.read_parquet(out / "training-after.parquet"),
          pd.read_parquet(out / "online-after.parquet"))
