"""``%mlops features …`` in a real IPython shell, and ``jupyter mlops features …`` in a
subprocess: publish, search, show, get into a variable, online lookup, one-line errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from tests.features_fixtures import ORDERS_TTL, brute_force, generate, same_values
from tests.shell_fixtures import run, shown


def test_publish_search_show_get_and_online_from_the_notebook(
        shell: InteractiveShell) -> None:
    data = generate(5, rows=150, entity_rows=120)
    shell.user_ns["orders_df"] = pd.concat(data.orders, ignore_index=True)
    shell.user_ns["entity_df"] = data.entities

    view = run(shell, "%mlops features publish orders_df --name orders --entities customer_id "
                      "--timestamp event_timestamp --created created --ttl 1d "
                      "--description 'Order totals per customer' --owner data-eng "
                      "--tag team=growth --describe 'amount=order value in EUR'")
    assert view.version == 1 and view.rows == 150 and view.ttl_seconds == 86400
    assert 'data-view="orders"' in shown(shell, view)["text/html"]

    found = run(shell, "%mlops features search totals --tag team=growth")
    assert found["name"].tolist() == ["orders"] and found["match"].tolist() == ["description"]
    assert "orders" in shown(shell, found)["text/html"]  # a table

    detail = run(shell, "%mlops features show orders --stats")
    bundle = shown(shell, detail)
    assert "order value in EUR" in bundle["text/html"] and "distinct" in bundle["text/html"]
    assert "ttl: 1d" in bundle["text/plain"]

    summary = run(shell, "%mlops features get orders:amount orders:segment "
                         "--entities entity_df --timestamp event_timestamp --into training")
    training = shell.user_ns["training"]
    want = brute_force([shell.user_ns["orders_df"]], data.entities, ["customer_id"],
                       ["amount", "segment"], ORDERS_TTL, "created")
    assert same_values(training["amount"], want["amount"]) == []
    assert same_values(training["segment"], want["segment"]) == []
    assert repr(summary).startswith(f"training: {len(data.entities):,} rows × ")
    assert "<table" in shown(shell, summary)["text/html"]

    latest = run(shell, "%mlops features online orders customer_id=1,2 customer_id=999")
    assert latest["customer_id"].tolist() == [1, 2, 999]
    assert pd.isna(latest["amount"].iloc[2])


def test_mistakes_are_one_line_usage_errors(shell: InteractiveShell) -> None:
    frame = pd.DataFrame({"k": [1], "ts": pd.to_datetime(["2024-01-01"], utc=True),
                          "x": [1.0]})
    shell.user_ns["frame"] = frame
    run(shell, "%mlops features publish frame --name clean --entities k --timestamp ts")
    for line, says in (
            ("%mlops features show claen", "did you mean 'clean'?"),
            ("%mlops features get clean:y --entities frame --timestamp ts",
             "has no feature 'y'"),
            ("%mlops features get clean:x --entities nothing --timestamp ts",
             "no variable 'nothing'"),
            ("%mlops features get clean:x --entities frame --timestamp when",
             "timestamp column 'when'"),
            ("%mlops features online clean k=abc", "'abc' is not a int64 key"),
            ("%mlops features online clean key=1", "'key' is not a column"),
            ("%mlops features publish frame --name clean --entities k --timestamp x",
             "not a datetime"),
            ("%mlops features get", "the following arguments are required"),
            ("%mlops features", "the following arguments are required: ACTION")):
        with pytest.raises(UsageError) as caught:
            run(shell, line)
        message = str(caught.value)
        assert says in message, message
        if "usage:" not in message:
            assert "\n" not in message, message


def test_the_cli_reads_and_writes_files(project: Path,
                                        cli: Callable[..., subprocess.CompletedProcess[str]]
                                        ) -> None:
    data = generate(9, rows=90, entity_rows=80)
    pd.concat(data.sessions, ignore_index=True).to_parquet(project / "sessions.parquet")
    entities = data.entities[["customer_id", "device", "event_timestamp"]]
    entities.assign(event_timestamp=entities["event_timestamp"].astype(str)).to_csv(
        project / "entities.csv", index=False)

    done = cli("features", "publish", "sessions.parquet", "--name", "sessions", "--entities",
               "customer_id,device", "--timestamp", "event_timestamp", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entities"] == ["customer_id", "device"]
    assert "published as version 1" in done.stderr  # progress goes to stderr

    done = cli("features", "get", "sessions:*", "--entities", "entities.csv", "--timestamp",
               "event_timestamp", "--into", "training.parquet", cwd=project)
    assert done.returncode == 0, done.stderr
    training = pd.read_parquet(project / "training.parquet")
    want = brute_force(data.sessions, data.entities, ["customer_id", "device"],
                       ["minutes", "active"], None, None)
    assert same_values(training["minutes"], want["minutes"]) == []

    done = cli("features", "search", "--json", cwd=project)
    assert [v["name"] for v in json.loads(done.stdout)["views"]] == ["sessions"]
    done = cli("features", "show", "nope", cwd=project)
    assert done.returncode == 1 and "no feature view 'nope'" in done.stderr
