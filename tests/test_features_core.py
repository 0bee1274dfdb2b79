"""The embedded feature store in-process: point-in-time retrieval against a brute-force
reference, versions, the online table, search, statistics, bad input and concurrent
publishes from several processes."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_mlops import features
from jupyter_mlops.config import Config, load_config
from jupyter_mlops.errors import NotFoundError, UserInputError
from jupyter_mlops.features import FeatureWarning
from jupyter_mlops.features.api import open_store
from jupyter_mlops.features.model import parse_refs
from tests.features_fixtures import ORDERS_TTL, at, brute_force, generate, same_values

ORDER_FEATURES = ["amount", "order_count", "segment"]
SESSION_FEATURES = ["minutes", "active"]


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project)


def publish_generated(config: Config, seed: int = 7):  # type: ignore[no-untyped-def]
    data = generate(seed)
    for batch in data.orders:
        features.publish(batch, "orders", entities="customer_id", timestamp="event_timestamp",
                         created_timestamp="created", ttl=ORDERS_TTL.to_pytimedelta(),
                         description="Order totals per customer", owner="data-eng",
                         tags={"team": "growth"}, config=config)
    for batch in data.sessions:
        features.publish(batch, "sessions", entities=["customer_id", "device"],
                         timestamp="event_timestamp", description="App sessions per device",
                         field_descriptions={"minutes": "time in the app"}, config=config)
    return data


# --------------------------------------------------------------------------- point in time

JOINS = ["sorted", "duckdb"]  # the hand-written join and DuckDB's ASOF JOIN


def get_by(join: str, wanted: str | list[str], entities: pd.DataFrame, timestamp: str,
           config: Config) -> pd.DataFrame:
    """``features.get`` through one join of the embedded store."""
    store = open_store(config)
    return store.historical(parse_refs(wanted), entities, timestamp,  # type: ignore[call-arg]
                            join=join)


@pytest.mark.parametrize("join", JOINS)
@pytest.mark.parametrize("seed", [7, 11])
def test_training_frame_matches_the_brute_force_reference(config: Config, seed: int,
                                                          join: str) -> None:
    data = publish_generated(config, seed)
    entities = data.entities.set_index(pd.Index(range(1000, 1000 + len(data.entities))))

    frame = get_by(join, ["orders:*", "sessions:minutes", "sessions:active"], entities,
                   "event_timestamp", config)

    # every entity row, in the caller's order and index, with its own columns unchanged
    assert list(frame.index) == list(entities.index)
    pd.testing.assert_frame_equal(frame[list(entities.columns)], entities)
    orders = brute_force(data.orders, data.entities, ["customer_id"], ORDER_FEATURES,
                         ORDERS_TTL, "created")
    sessions = brute_force(data.sessions, data.entities, ["customer_id", "device"],
                           SESSION_FEATURES, None, None)
    for name in ORDER_FEATURES:
        assert same_values(frame[name], orders[name]) == [], name
    for name in SESSION_FEATURES:
        assert same_values(frame[name], sessions[name]) == [], name
    # the generated data does exercise the hard cases
    assert frame["amount"].isna().sum() > 20  # no history, before the first row, past TTL
    assert frame["amount"].notna().sum() > 100
    assert frame["minutes"].isna().sum() > 20  # android devices never had a session


@pytest.mark.parametrize("join", JOINS)
def test_ttl_edge_ties_and_late_rows_on_a_small_case(config: Config, join: str) -> None:
    first = pd.DataFrame({
        "k": [1, 1, 1, 2],
        "ts": [at(0), at(100), at(100), at(50)],
        "made": [at(0), at(105), at(101), at(50)],
        "v": [1.0, 2.0, 3.0, 4.0],
    })
    features.publish(first, "small", entities="k", timestamp="ts", created_timestamp="made",
                     ttl=60, config=config)
    late = pd.DataFrame({"k": [1, 1], "ts": [at(100), at(30)], "made": [at(105), at(200)],
                         "v": [5.0, 6.0]})
    features.publish(late, "small", entities="k", timestamp="ts", created_timestamp="made",
                     config=config)
    entities = pd.DataFrame({"k": [1, 1, 1, 1, 1, 2, 3],
                             "t": [at(0), at(29), at(60), at(100), at(161), at(110), at(5)]})

    got = get_by(join, "small:v", entities, "t", config)["v"].tolist()

    # t=0: the row at 0; t=29: still it; t=60: the late row at 30 (created later, event
    # later); t=100: tie at 100 with created 105 twice -> the later publish (5.0);
    # t=161: 100 is 61 s old with a TTL of 60 -> null; k=2 at 110: 60 s old -> kept (edge);
    # k=3: no history
    assert got[:4] == [1.0, 1.0, 6.0, 5.0]
    assert np.isnan(got[4]) and got[5] == 4.0 and np.isnan(got[6])


def test_both_joins_give_the_same_frame_with_its_types(config: Config) -> None:
    data = publish_generated(config)
    stamped = pd.DataFrame({"k": [1, 2, 2], "ts": [at(0), at(10), at(20)],
                            "seen": [at(1), at(2), at(3)], "flag": [True, False, True],
                            "label": ["a", "b", "c"], "n": [1, 2, 3], "x": [0.5, None, 2.5]})
    features.publish(stamped, "kinds", entities="k", timestamp="ts", ttl=15, config=config)
    asked = [("orders:*", data.entities, "event_timestamp"),
             ("sessions:*", data.entities.iloc[::-1], "event_timestamp"),
             ("sessions:*", data.entities.iloc[:0], "event_timestamp")]
    for times in ([at(5), at(11), at(40)], [at(-1), at(30), at(20)], [at(25)] * 3):
        # every value found, some missing, none found: the column types follow
        asked.append(("kinds:*", pd.DataFrame({"k": [1, 2, 2], "t": times}), "t"))
    asked.append(("kinds:*", pd.DataFrame({"k": [3], "t": [at(5)]}), "t"))
    for wanted, entities, timestamp in asked:
        sorted_frame = get_by("sorted", wanted, entities, timestamp, config)
        duck_frame = get_by("duckdb", wanted, entities, timestamp, config)
        pd.testing.assert_frame_equal(sorted_frame, duck_frame)
    # features.get picks the sorted join where it covers the view, DuckDB elsewhere
    floats = pd.DataFrame({"k": [1.0], "t": [at(5)]})  # a float key: DuckDB's job
    assert features.get("kinds:n", floats, timestamp="t", config=config)["n"].tolist() == [1]
    with pytest.raises(UserInputError, match="sorted join does not cover"):
        get_by("sorted", "kinds:n", floats, "t", config)


LATE_PUBLISHER = """
import pandas as pd
from jupyter_mlops import features
frame = pd.DataFrame({"k": [1], "ts": pd.to_datetime([50], unit="s", utc=True), "x": [9.0]})
features.publish(frame, "cached", entities="k", timestamp="ts")
"""


def test_a_publish_from_another_process_is_seen_by_the_sorted_join(
        project: Path, config: Config, child_env: Callable[..., dict[str, str]]) -> None:
    first = pd.DataFrame({"k": [1], "ts": pd.to_datetime([10], unit="s", utc=True),
                          "x": [1.0]})
    features.publish(first, "cached", entities="k", timestamp="ts", config=config)
    entities = pd.DataFrame({"k": [1, 1], "t": pd.to_datetime([20, 60], unit="s", utc=True)})
    assert get_by("sorted", "cached:x", entities, "t", config)["x"].tolist() == [1.0, 1.0]

    done = subprocess.run([sys.executable, "-c", LATE_PUBLISHER], cwd=project,
                          env=child_env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr

    assert get_by("sorted", "cached:x", entities, "t", config)["x"].tolist() == [1.0, 9.0]
    assert features.get("cached:x", entities, timestamp="t", config=config)["x"].tolist() == [
        1.0, 9.0]


def _copies(project: Path, view: str) -> list[Path]:
    return sorted((project / ".mlops" / "features" / ".sorted" / view).glob("v*/*/rows.arrow"))


def test_a_new_process_answers_from_the_sorted_copy_that_publish_wrote(
        project: Path, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from jupyter_mlops.features import sorted_join

    data = publish_generated(config)
    assert len(_copies(project, "orders")) == 1  # one copy per version, of every part
    want = features.get(["orders:*", "sessions:*"], data.entities, timestamp="event_timestamp",
                        config=config)

    # a new process: nothing in memory, and sorting the parts would fail
    sorted_join.clear_cache()

    def no_sorting(*_args: object) -> None:
        raise AssertionError("the parts were read and sorted again")

    with monkeypatch.context() as patched:
        patched.setattr(sorted_join.SortedVersion, "build", no_sorting)
        again = features.get(["orders:*", "sessions:*"], data.entities,
                             timestamp="event_timestamp", config=config)
    pd.testing.assert_frame_equal(again, want)

    # a publish adds a part: the copy is replaced by one holding it too
    before = _copies(project, "orders")
    late = data.orders[0].head(3).assign(amount=[1e6, 2e6, 3e6])
    late["event_timestamp"] = late["event_timestamp"] + pd.Timedelta(seconds=1)
    features.publish(late, "orders", entities="customer_id", timestamp="event_timestamp",
                     created_timestamp="created", ttl=ORDERS_TTL.to_pytimedelta(), config=config)
    after = _copies(project, "orders")
    assert len(after) == 1 and after != before
    sorted_join.clear_cache()
    frame = get_by("sorted", "orders:amount", data.entities, "event_timestamp", config)
    reference = get_by("duckdb", "orders:amount", data.entities, "event_timestamp", config)
    pd.testing.assert_series_equal(frame["amount"], reference["amount"])


def test_a_damaged_sorted_copy_is_made_again(project: Path, config: Config) -> None:
    from jupyter_mlops.features import sorted_join

    data = publish_generated(config)
    want = get_by("duckdb", "orders:*", data.entities, "event_timestamp", config)
    (copy,) = _copies(project, "orders")
    copy.write_bytes(copy.read_bytes()[:1000])  # cut short, as by a full disk
    sorted_join.clear_cache()

    frame = get_by("sorted", "orders:*", data.entities, "event_timestamp", config)

    pd.testing.assert_frame_equal(frame, want)
    (copy,) = _copies(project, "orders")  # written whole again
    assert sorted_join.SortedVersion.load(copy.parent) is not None
    sorted_join.clear_cache()
    pd.testing.assert_frame_equal(
        get_by("sorted", "orders:*", data.entities, "event_timestamp", config), want)


def test_a_changed_schema_is_a_new_version_and_versions_can_be_pinned(config: Config) -> None:
    old = pd.DataFrame({"k": [1], "ts": [at(0)], "a": [1.0]})
    features.publish(old, "grow", entities="k", timestamp="ts", config=config)
    new = pd.DataFrame({"k": [1], "ts": [at(10)], "a": [2.0], "b": [20]})
    view = features.publish(new, "grow", entities="k", timestamp="ts", config=config)
    assert view.version == 2 and [v.version for v in view.versions] == [1, 2]
    entities = pd.DataFrame({"k": [1], "t": [at(20)]})

    pinned = features.get("grow@1:*", entities, timestamp="t", config=config)
    latest = features.get("grow:*", entities, timestamp="t", config=config)

    assert pinned["a"].tolist() == [1.0] and "b" not in pinned
    assert latest["a"].tolist() == [2.0] and latest["b"].tolist() == [20]
    assert features.show("grow", 1, config=config).features == ["a"]
    # the same columns again append to the latest version
    again = features.publish(new.assign(ts=[at(30)]), "grow", entities="k", timestamp="ts",
                             config=config)
    assert again.version == 2 and again.rows == 2


def test_clashing_feature_names_need_full_names(config: Config) -> None:
    one = pd.DataFrame({"k": [1], "ts": [at(0)], "score": [1.0]})
    features.publish(one, "first", entities="k", timestamp="ts", config=config)
    features.publish(one.assign(score=[2.0]), "second", entities="k", timestamp="ts",
                     config=config)
    entities = pd.DataFrame({"k": [1], "t": [at(1)]})
    with pytest.raises(UserInputError, match="full_names=True"):
        features.get(["first:score", "second:score"], entities, timestamp="t", config=config)
    frame = features.get(["first:score", "second:score"], entities, timestamp="t",
                         full_names=True, config=config)
    assert frame["first__score"].tolist() == [1.0] and frame["second__score"].tolist() == [2.0]


# --------------------------------------------------------------------------- online


def test_online_gives_the_latest_row_per_entity_in_the_callers_order(config: Config) -> None:
    data = publish_generated(config)
    orders = pd.concat(data.orders, ignore_index=True)
    orders["publish"] = np.repeat(range(3), [len(b) for b in data.orders])
    orders["position"] = np.concatenate([np.arange(len(b)) for b in data.orders])
    latest = orders.sort_values(["event_timestamp", "created", "publish", "position"]) \
        .groupby("customer_id").tail(1).set_index("customer_id")
    keys = [41, *latest.index[:5].tolist(), 3, 3]

    frame = features.online("orders", keys, config=config)

    assert frame["customer_id"].tolist() == keys
    for position, key in enumerate(keys):
        if key in latest.index:
            assert frame["amount"].iloc[position] == latest.loc[key, "amount"]
            assert frame["order_count"].iloc[position] == latest.loc[key, "order_count"]
            assert frame["segment"].iloc[position] == latest.loc[key, "segment"]
        else:
            assert pd.isna(frame["amount"].iloc[position])
    assert str(frame["order_count"].dtype) == "Int64"
    # several views side by side, keyed by the entity columns they share
    both = features.online(["orders:amount", "sessions:*"],
                           {"customer_id": keys, "device": ["ios"] * len(keys)}, config=config)
    assert both.columns.tolist() == ["customer_id", "amount", "device", "minutes", "active"]
    assert same_values(both["amount"], frame["amount"]) == []
    sessions = features.online("sessions", {"customer_id": keys, "device": ["ios"] * len(keys)},
                               config=config)
    assert same_values(both["minutes"], sessions["minutes"]) == []
    with pytest.raises(UserInputError, match="latest version"):
        features.online(["orders@1:amount"], keys, config=config)


def test_online_with_two_keys_and_a_late_row_that_must_not_win(config: Config) -> None:
    rows = pd.DataFrame({"customer_id": [1, 1], "device": ["ios", "web"],
                         "ts": [at(100), at(100)], "m": [1.5, 2.5]})
    features.publish(rows, "devices", entities=["customer_id", "device"], timestamp="ts",
                     config=config)
    late = pd.DataFrame({"customer_id": [1], "device": ["ios"], "ts": [at(50)], "m": [9.0]})
    features.publish(late, "devices", entities=["customer_id", "device"], timestamp="ts",
                     config=config)

    frame = features.online("devices", [{"customer_id": 1, "device": "web"},
                                        {"customer_id": 1, "device": "ios"},
                                        {"customer_id": 2, "device": "ios"}], config=config)

    assert frame["m"].tolist()[:2] == [2.5, 1.5] and pd.isna(frame["m"].iloc[2])


# --------------------------------------------------------------------------- find and show


def test_search_matches_description_words_tags_and_owner(config: Config) -> None:
    publish_generated(config)

    found = features.search("sessions device", config=config)
    assert found["name"].tolist() == ["sessions"]
    assert found["match"].tolist() == ["description"]
    assert features.search("time in the app", config=config)["match"].tolist() == [
        "field descriptions"]
    assert features.search(tags={"team": "growth"}, config=config)["name"].tolist() == [
        "orders"]
    assert features.search(owner="data-eng", config=config)["name"].tolist() == ["orders"]
    # newest publish first, everything without a query
    assert features.search(config=config)["name"].tolist() == ["sessions", "orders"]
    assert features.search("nothing-like-this", config=config).empty


def test_show_has_schema_freshness_and_lazy_statistics(config: Config) -> None:
    data = publish_generated(config)
    orders = pd.concat(data.orders, ignore_index=True)

    view = features.show("orders", config=config)

    assert view.entities == ("customer_id",) and view.timestamp == "event_timestamp"
    assert view.ttl_seconds == ORDERS_TTL.total_seconds()
    assert view.rows == len(orders)
    assert view.newest_event == orders["event_timestamp"].max()
    roles = {f.name: f.role for f in view.schema}
    assert roles == {"customer_id": "entity", "event_timestamp": "timestamp",
                     "created": "created_timestamp", "amount": "feature",
                     "order_count": "feature", "segment": "feature"}
    stats = {c.name: c for c in view.stats.columns}
    assert view.stats.rows == len(orders)
    assert stats["amount"].mean == pytest.approx(orders["amount"].mean())
    assert stats["amount"].min == orders["amount"].min()
    assert stats["order_count"].distinct == orders["order_count"].nunique()
    assert stats["segment"].min == "bronze" and stats["segment"].mean is None
    again = features.stats("orders", config=config)  # from the cache: the same answer
    assert again.to_dict() == json.loads(json.dumps(view.stats.to_dict()))


# --------------------------------------------------------------------------- bad input


def _store_state(config: Config) -> dict[str, bytes]:
    root = Path(config["features.path"])
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".staging" not in p.parts and p.name != "registry.lock"}


def test_bad_input_is_one_line_and_leaves_the_store_as_it_was(config: Config) -> None:
    good = pd.DataFrame({"k": [1, 2], "ts": [at(0), at(1)], "x": [1.0, 2.0]})
    features.publish(good, "clean", entities="k", timestamp="ts", config=config)
    before = _store_state(config)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: features.publish(good, "clean", entities="key", timestamp="ts",
                                  config=config), "entity column 'key' is not in the frame"),
        (lambda: features.publish(good.drop(columns="ts"), "clean", entities="k",
                                  timestamp="ts", config=config), "timestamp column 'ts'"),
        (lambda: features.publish(good.assign(ts=["2024-01-01", "x"]), "clean", entities="k",
                                  timestamp="ts", config=config), "not a datetime"),
        (lambda: features.publish(good.assign(x=["a", "b"]), "clean", entities="k",
                                  timestamp="ts", config=config), "is double, not string"),
        (lambda: features.publish(good, "bad name!", entities="k", timestamp="ts",
                                  config=config), "not valid"),
        (lambda: features.get("claen:x", good.rename(columns={"ts": "t"}), timestamp="t",
                              config=config), "did you mean 'clean'?"),
        (lambda: features.get("clean:y", good.rename(columns={"ts": "t"}), timestamp="t",
                              config=config), "has no feature 'y'"),
        (lambda: features.get("clean:x", good, timestamp="when", config=config),
         "timestamp column 'when'"),
        (lambda: features.get("clean:x", good[["ts"]], timestamp="ts", config=config),
         "entity ('clean') column 'k'"),
        (lambda: features.get("clean@7:x", good, timestamp="ts", config=config),
         "has no version 7"),
        (lambda: features.get("clean x", good, timestamp="ts", config=config),
         "is not 'view:feature'"),
    ]
    for call, says in cases:
        with pytest.raises(UserInputError) as caught:
            call()
        message = str(caught.value)
        assert says in message, message
        assert "\n" not in message, message
    with pytest.raises(NotFoundError):
        features.show("nope", config=config)
    assert _store_state(config) == before


def test_naive_timestamps_are_read_as_utc_and_said_once(config: Config) -> None:
    naive = pd.DataFrame({"k": [1], "ts": [pd.Timestamp("2024-03-01 10:00")], "x": [1.0]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        features.publish(naive, "naive", entities="k", timestamp="ts", config=config)
    said = [w for w in seen if issubclass(w.category, FeatureWarning)]
    assert len(said) == 1 and "read as UTC" in str(said[0].message)
    entities = pd.DataFrame({"k": [1, 1], "t": [pd.Timestamp("2024-03-01 10:00", tz="UTC"),
                                                pd.Timestamp("2024-03-01 09:59", tz="UTC")]})
    assert features.get("naive:x", entities, timestamp="t", config=config)["x"].tolist()[0] == 1.0
    assert features.show("naive", config=config).newest_event == pd.Timestamp(
        "2024-03-01 10:00", tz="UTC")


# --------------------------------------------------------------------------- concurrency

PUBLISHER = """
import sys
import pandas as pd
from jupyter_mlops import features
worker = int(sys.argv[1])
for i in range(6):
    frame = pd.DataFrame({"k": [worker * 100 + i, worker], "ts": pd.to_datetime(
        [i, i + 1], unit="s", utc=True), "x": [float(i), float(worker)]})
    features.publish(frame, "shared", entities="k", timestamp="ts")
    features.publish(frame, f"own{worker}", entities="k", timestamp="ts")
"""


def test_concurrent_publishes_from_several_processes_keep_every_row(
        project: Path, config: Config, child_env: Callable[..., dict[str, str]]) -> None:
    workers = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(n)], cwd=project,
                                env=child_env(), stderr=subprocess.PIPE, text=True)
               for n in range(4)]
    for worker in workers:
        _out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err

    registry = json.loads((Path(config["features.path"]) / "registry.json").read_text())
    assert sorted(registry["views"]) == ["own0", "own1", "own2", "own3", "shared"]
    shared = features.show("shared", config=config, runs=False)
    assert shared.rows == 4 * 6 * 2
    parts = registry["views"]["shared"]["versions"][0]["parts"]
    assert len({p["seq"] for p in parts}) == 24 == len(parts)
    for part in parts:
        assert (Path(config["features.path"]) / part["key"]).is_file()
    online = features.online("shared", [0, 1, 2, 3, 105], config=config)
    assert online["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 5.0]
    assert len(features.online("own2", [200, 201, 205], config=config)["x"].dropna()) == 3


def test_importing_the_package_loads_no_heavy_library(
        project: Path, child_env: Callable[..., dict[str, str]]) -> None:
    script = ("import sys, jupyter_mlops.features, jupyter_mlops.features.verbs\n"
              "print([m for m in ('pandas', 'duckdb', 'pyarrow', 'numpy', 'mlflow') "
              "if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", script], cwd=project, env=child_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_status_says_what_the_store_holds(project: Path, config: Config) -> None:
    from jupyter_mlops.status import collect_status

    def check() -> str:
        report = collect_status(project)
        cap = next(c for c in report.capabilities if c.id == "features")
        assert cap.state == "ok", cap
        return cap.checks[0].message

    assert "no views yet" in check()
    assert not (project / ".mlops").exists()  # looking creates nothing
    data = publish_generated(config)
    rows = sum(len(b) for b in [*data.orders, *data.sessions])
    assert check().endswith(f"2 views, 5 features, {rows:,} rows")
