"""The Features REST routes through a real Jupyter server (pytest-jupyter), unauthenticated
access off: search, a view's detail, lazy statistics, 4xx on bad input, 403 outside the root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlops import features
from tests.features_fixtures import ORDERS_TTL, generate

from .rest_helpers import api_error, api_get


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True},
                          "allow_unauthenticated_access": False}}


@pytest.fixture
def published(jp_root_dir: Path) -> Path:
    """Two views in a project folder ``proj`` under the server root."""
    project = jp_root_dir / "proj"
    (project / "notebooks").mkdir(parents=True)
    (project / "notebooks" / "x.ipynb").write_text("{}")
    (project / "mlops.toml").write_text('[tracking]\nexperiment = "features-test"\n')
    data = generate(3, rows=120, entity_rows=100)
    for batch in data.orders:
        features.publish(batch, "orders", entities="customer_id", timestamp="event_timestamp",
                         created_timestamp="created", ttl=ORDERS_TTL.to_pytimedelta(),
                         description="Order totals per customer", owner="data-eng",
                         tags={"team": "growth"}, cwd=project)
    features.publish(data.sessions[0], "sessions", entities=["customer_id", "device"],
                     timestamp="event_timestamp", description="App sessions per device",
                     field_descriptions={"minutes": "time spent in the app"}, cwd=project)
    return project


async def _get(jp_fetch: Any, *parts: str, **params: Any) -> Any:
    return await api_get(jp_fetch, "features", *parts, **params)


async def _error(jp_fetch: Any, *parts: str, **params: Any) -> tuple[int, str]:
    return await api_error(jp_fetch, "features", *parts, **params)


async def test_search_lists_views_newest_first_with_what_matched(
        jp_fetch: Any, published: Path) -> None:
    body = await _get(jp_fetch, "views", path="proj/notebooks/x.ipynb")
    assert body["backend"] == "embedded"
    assert [v["name"] for v in body["views"]] == ["sessions", "orders"]
    orders = body["views"][1]
    assert orders == {
        "name": "orders", "version": 1, "description": "Order totals per customer",
        "owner": "data-eng", "tags": {"team": "growth"}, "entities": ["customer_id"],
        "features": ["amount", "order_count", "segment"],
        "newest_event": orders["newest_event"], "last_publish": orders["last_publish"],
        "rows": 120, "match": None}
    assert pd.Timestamp(orders["newest_event"]).tzinfo is not None

    found = await _get(jp_fetch, "views", path="proj", q="totals")
    assert [(v["name"], v["match"]) for v in found["views"]] == [("orders", "description")]
    found = await _get(jp_fetch, "views", path="proj", q="spent")
    assert [(v["name"], v["match"]) for v in found["views"]] == [
        ("sessions", "field descriptions")]
    found = await _get(jp_fetch, "views", path="proj", tag="team=growth", owner="data-eng")
    assert [v["name"] for v in found["views"]] == ["orders"]
    # the server root has no views of its own: the path decides the project
    assert (await _get(jp_fetch, "views"))["views"] == []


async def test_view_detail_has_schema_versions_runs_and_a_snippet(
        jp_fetch: Any, published: Path) -> None:
    view = (await _get(jp_fetch, "views", "orders", path="proj"))["view"]
    assert view["timestamp"] == "event_timestamp" and view["created_timestamp"] == "created"
    assert view["ttl_seconds"] == ORDERS_TTL.total_seconds()
    assert [v["version"] for v in view["versions"]] == [1]
    assert view["versions"][0]["columns"] == ["customer_id", "event_timestamp", "created",
                                              "amount", "order_count", "segment"]
    roles = {f["name"]: (f["role"], f["type"]) for f in view["schema"]}
    assert roles["customer_id"] == ("entity", "int64")
    assert roles["created"] == ("created_timestamp", "timestamp[us, tz=UTC]")
    assert roles["amount"] == ("feature", "double")
    assert view["runs"] == []
    assert view["snippet"] == ("%mlops features get orders:* --entities entity_df "
                               "--timestamp event_timestamp --into training")
    pinned = (await _get(jp_fetch, "views", "orders", path="proj", version="1"))["view"]
    assert pinned["version"] == 1


async def test_stats_are_computed_on_request_and_json_ready(
        jp_fetch: Any, published: Path) -> None:
    stats = await _get(jp_fetch, "views", "orders", "stats", path="proj")
    assert stats["name"] == "orders" and stats["version"] == 1 and stats["rows"] == 120
    columns = {c["name"]: c for c in stats["columns"]}
    assert set(columns["amount"]) == {"name", "type", "nulls", "min", "max", "mean",
                                      "distinct"}
    assert columns["amount"]["nulls"] == 0 and isinstance(columns["amount"]["mean"], float)
    assert columns["segment"]["min"] == "bronze" and columns["segment"]["mean"] is None
    assert pd.Timestamp(columns["event_timestamp"]["max"]) == pd.Timestamp(
        (await _get(jp_fetch, "views", "orders", path="proj"))["view"]["newest_event"])


async def test_mistakes_are_json_4xx_and_paths_outside_the_root_403(
        jp_fetch: Any, published: Path) -> None:
    code, message = await _error(jp_fetch, "views", "ordres", path="proj")
    assert code == 404 and "did you mean 'orders'?" in message
    code, message = await _error(jp_fetch, "views", "orders", "stats", path="proj",
                                 version="9")
    assert code == 404 and "no version 9" in message
    code, message = await _error(jp_fetch, "views", "orders", path="proj", version="x")
    assert code == 400 and "whole number" in message
    code, message = await _error(jp_fetch, "views", path="proj", tag="team")
    assert code == 400 and "key=value" in message
    code, _message = await _error(jp_fetch, "views", path="../elsewhere")
    assert code == 403
    code, _message = await _error(jp_fetch, "views", "orders", path="/etc")
    assert code == 403


async def test_a_broken_registry_is_a_clear_5xx_not_a_traceback(
        jp_fetch: Any, published: Path) -> None:
    (published / ".mlops" / "features" / "registry.json").write_text("{not json")
    code, message = await _error(jp_fetch, "views", path="proj")
    assert code == 503 and "not valid JSON" in message


async def test_routes_need_authentication(jp_fetch: Any, published: Path) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops", "api", "features", "views", headers={"Authorization": ""})
    assert caught.value.code == 403


@pytest.mark.usefixtures("tracking_reset")
async def test_the_detail_lists_the_runs_that_used_the_view(
        jp_fetch: Any, published: Path) -> None:
    import jupyter_mlops as mlops

    entities = generate(3, rows=120, entity_rows=100).entities
    with mlops.start_run(run_name="uses-orders", cwd=str(published)) as run:
        features.get("orders:amount", entities, timestamp="event_timestamp", cwd=published)
    view = (await _get(jp_fetch, "views", "orders", path="proj"))["view"]
    assert [(r["run_id"], r["run_name"], r["status"]) for r in view["runs"]] == [
        (run.run_id, "uses-orders", "FINISHED")]
    assert view["runs"][0]["experiment_id"] == run.experiment_id
    assert pd.Timestamp(view["runs"][0]["started_at"]).tzinfo is not None
    sessions = (await _get(jp_fetch, "views", "sessions", path="proj"))["view"]
    assert sessions["runs"] == []


async def test_a_feast_backend_without_feast_here_says_how_to_get_it(
        jp_fetch: Any, jp_root_dir: Path) -> None:
    from importlib.util import find_spec

    if find_spec("feast") is not None:
        pytest.skip("Feast is importable in this environment")
    repo = jp_root_dir / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text("project: p\nregistry: r.db\nprovider: local\n")
    (jp_root_dir / "mlops.toml").write_text(f'[features]\nbackend = "feast"\nrepo = "{repo}"\n')
    code, message = await _error(jp_fetch, "views")
    assert code == 503 and "pip install 'jupyter-mlops[feast]'" in message
    (jp_root_dir / "mlops.toml").write_text('[features]\nbackend = "feast"\n')
    code, message = await _error(jp_fetch, "views")
    assert code == 400 and "features.repo is not set" in message
