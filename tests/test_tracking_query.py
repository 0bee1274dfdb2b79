"""The query side of tracking: ``mlops.runs``, ``mlops.compare``, ``mlops.register`` on the
embedded store and on a real ``mlflow server``, and ``%mlops runs|compare|register`` in a
real IPython shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jupyter_mlops as mlops
from jupyter_mlops.errors import BackendUnavailableError, NotFoundError, UserInputError
from jupyter_mlops.tracking import Comparison, Registration

from .shell_fixtures import run

pytestmark = pytest.mark.usefixtures("tracking_reset")

EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


class Doubler:
    """A pyfunc model (MLflow 3 logs a callable's ``predict``): doubles its input."""

    def __call__(self, model_input: list[float]) -> list[float]:
        return [2 * x for x in model_input]


def notebook(project: Path, name: str) -> Path:
    path = project / name
    path.write_text(json.dumps(EMPTY_NOTEBOOK))
    return path


def tracked(nb: Path | None, name: str, lr: float, losses: list[float], *,
            experiment: str | None = None, model: bool = False) -> str:
    """A finished run of notebook ``nb`` with params lr/layers and a loss history."""
    run = mlops.start_run(experiment, run_name=name, notebook=str(nb) if nb else None)
    mlops.log_params(lr=lr, layers=3)
    for loss in losses:
        mlops.log(loss=loss)
    mlops.log(accuracy=1 - losses[-1])
    if model:
        import mlflow.pyfunc

        class Model(mlflow.pyfunc.PythonModel):
            def predict(self, context: Any, model_input: Any) -> Any:
                return model_input

        mlops.log_model(Model(), "scorer")
    summary = mlops.end_run()
    assert summary.status == "FINISHED" and summary.flush.done
    return run.run_id


# --------------------------------------------------------------------------- embedded store


def test_runs_of_a_notebook_and_of_the_experiment_newest_first(project: Path) -> None:
    train, other = notebook(project, "train.ipynb"), notebook(project, "other.ipynb")
    first = tracked(train, "baseline", 0.1, [1.0, 0.5])
    elsewhere = tracked(other, "elsewhere", 0.3, [0.9])
    second = tracked(train, "wider", 0.01, [0.8, 0.4, 0.2])

    frame = mlops.runs(notebook=train)
    assert list(frame["run_id"]) == [second, first]  # newest first, only this notebook's
    assert list(frame["run_name"]) == ["wider", "baseline"]
    assert list(frame["status"]) == ["FINISHED", "FINISHED"]
    assert list(frame["params.lr"]) == ["0.01", "0.1"]
    assert list(frame["metrics.loss"]) == [0.2, 0.5]  # the latest value of each history
    assert (frame["duration"] >= 0).all()
    assert str(frame["start_time"].dtype).startswith("datetime64")

    whole = mlops.runs()  # the project's experiment: every notebook's runs
    assert list(whole["run_id"]) == [second, elsewhere, first]
    assert list(mlops.runs(limit=1)["run_id"]) == [second]


def test_runs_of_an_experiment_that_does_not_exist_say_so(project: Path) -> None:
    with pytest.raises(NotFoundError) as caught:  # before any run: no store either
        mlops.runs(experiment="nope")
    message = str(caught.value)
    assert "no experiment named 'nope'" in message and "\n" not in message
    assert mlops.runs().empty  # the project's own experiment: no runs yet, not an error

    tracked(None, "first", 0.1, [1.0])
    with pytest.raises(NotFoundError) as caught:
        mlops.runs(experiment="nothing-here")
    message = str(caught.value)
    assert "no experiment named 'nothing-here'" in message and "\n" not in message
    # what does exist, named in the same line
    from jupyter_mlops.config import load_config

    named = message.partition("; its experiments: ")[2].split(", ")
    assert str(load_config(project)["tracking.experiment"]) in named


def test_compare_shows_which_parameters_differ_and_each_metric_history(project: Path) -> None:
    a = tracked(None, "baseline", 0.1, [1.0, 0.5])
    b = tracked(None, "wider", 0.01, [0.8, 0.4, 0.2])

    comparison = mlops.compare(a, b)
    assert isinstance(comparison, Comparison)
    assert [d["key"] for d in comparison.differences] == ["lr"]
    (layers,) = [p for p in comparison.params if p["key"] == "layers"]
    assert layers["differs"] is False and set(layers["values"].values()) == {"3"}
    assert comparison.histories[a]["loss"] == [
        (0, 1.0, comparison.histories[a]["loss"][0][2]),
        (1, 0.5, comparison.histories[a]["loss"][1][2])]
    assert [(s, v) for s, v, _ in comparison.histories[b]["loss"]] == [
        (0, 0.8), (1, 0.4), (2, 0.2)]
    frame = comparison.frame(only_differences=True)
    assert list(frame.columns) == ["baseline", "wider"]
    assert frame.loc["params.lr"].tolist() == ["0.1", "0.01"]
    assert frame.loc["metrics.loss"].tolist() == [0.5, 0.2]

    spec = comparison.vega_lite()
    assert spec["$schema"].endswith("vega-lite/v5.json")
    assert spec["facet"]["field"] == "metric"
    points = spec["data"]["values"]
    assert sorted((p["run"], p["metric"], p["step"], p["value"]) for p in points
                  if p["metric"] == "loss") == [
        ("baseline", "loss", 0, 1.0), ("baseline", "loss", 1, 0.5),
        ("wider", "loss", 0, 0.8), ("wider", "loss", 1, 0.4), ("wider", "loss", 2, 0.2)]
    text = comparison.to_text()
    assert "lr: baseline=0.1, wider=0.01" in text and "layers" not in text


def test_compare_needs_two_known_runs(project: Path) -> None:
    a = tracked(None, "only", 0.1, [1.0])
    with pytest.raises(UserInputError, match="at least two"):
        mlops.compare(a)
    with pytest.raises(UserInputError, match="at least two"):
        mlops.compare(a, a)
    with pytest.raises(NotFoundError) as caught:
        mlops.compare(a, "0123456789abcdef0123456789abcdef")
    message = str(caught.value)
    assert "no run '0123456789abcdef0123456789abcdef'" in message and "\n" not in message


def test_register_makes_versions_and_points_the_alias_at_the_newest(project: Path) -> None:
    first = tracked(None, "v1", 0.1, [1.0], model=True)
    second = tracked(None, "v2", 0.01, [0.5], model=True)
    (logged,) = mlops.runs()["models"].iloc[0]
    assert logged.startswith("models:/")

    one = mlops.register(first, alias="champion")
    assert isinstance(one, Registration)
    assert (one.name, one.version, one.alias) == ("scorer", "1", "champion")
    two = mlops.register(second, "churn-scorer", alias="champion")
    again = mlops.register(first, "churn-scorer")
    assert (two.version, again.version) == ("1", "2")
    assert again.uri == "models:/churn-scorer/2" and two.uri == "models:/churn-scorer@champion"
    # it says what it registered: the registered name and version, and how to load it
    assert str(two) == "churn-scorer version 1 → models:/churn-scorer@champion"
    assert str(again) == "churn-scorer version 2 → models:/churn-scorer/2"
    assert repr(two) == f"mlops: registered {two} (from run {second})"

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.store import client

    registry = client(load_config(project))
    champion = registry.get_model_version_by_alias("churn-scorer", "champion")
    assert str(champion.version) == "1" and champion.run_id == second
    second_model = mlops.runs()["models"].iloc[0][0].removeprefix("models:/")
    assert champion.source == registry.get_logged_model(second_model).artifact_location
    assert registry.get_model_version("churn-scorer", "2").run_id == first


def test_register_says_what_is_wrong(project: Path) -> None:
    plain = tracked(None, "no-model", 0.1, [1.0])
    with pytest.raises(UserInputError, match="logged no model"):
        mlops.register(plain)
    with_model = tracked(None, "with-model", 0.1, [1.0], model=True)
    with pytest.raises(UserInputError, match="cannot be an alias"):
        mlops.register(with_model, alias="latest")
    with pytest.raises(UserInputError, match="has no model 'other'"):
        mlops.register(with_model, model="other")
    with pytest.raises(NotFoundError, match="no run 'feedbeef'"):
        mlops.register("feedbeef")


# --------------------------------------------------------------------------- a tracking server


def test_runs_compare_and_register_on_a_tracking_server(
        project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    a = tracked(None, "server-a", 0.1, [1.0, 0.7], experiment="query-on-server", model=True)
    b = tracked(None, "server-b", 0.2, [0.9, 0.3], experiment="query-on-server")

    frame = mlops.runs(experiment="query-on-server")
    assert list(frame["run_id"]) == [b, a]
    comparison = mlops.compare(a, b)
    assert [d["key"] for d in comparison.differences] == ["lr"]
    assert [(s, v) for s, v, _ in comparison.histories[b]["loss"]] == [(0, 0.9), (1, 0.3)]
    (row,) = [r for r in comparison.runs if r.run_id == a]
    assert row.url == f"{tracking_server}/#/experiments/{row.experiment_id}/runs/{a}"
    done = mlops.register(a, "server-scorer", alias="staging")
    assert str(done) == "server-scorer version 1 → models:/server-scorer@staging"
    with pytest.raises(NotFoundError, match="no experiment named 'nope' in tracking store http"):
        mlops.runs(experiment="nope")

    from mlflow import MlflowClient

    found = MlflowClient(tracking_server).get_model_version_by_alias("server-scorer", "staging")
    assert str(found.version) == done.version and found.run_id == a


def test_an_unreachable_tracking_server_is_one_clear_error(
        project: Path, closed_port_url: str, blackhole_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for url in (closed_port_url, blackhole_url):  # refused at once; accepted, never answered
        monkeypatch.setenv("MLOPS_TRACKING_URI", url)
        with pytest.raises(BackendUnavailableError) as caught:
            mlops.runs()
        message = str(caught.value)
        assert f"tracking server {url} is unreachable" in message and "\n" not in message


# --------------------------------------------------------------------------- the magics


def test_magics_list_compare_and_register_the_runs_of_this_notebook(
        shell: InteractiveShell, project: Path) -> None:
    train = notebook(project, "train.ipynb")
    other = notebook(project, "other.ipynb")
    tracked(other, "not-this-one", 0.5, [1.0])
    shell.user_ns["__session__"] = str(train)  # what ipykernel sets in a notebook's kernel
    cell = ("for loss in losses:\n"
            "    mlops.log(loss=loss)\n"
            "mlops.log_model(Doubler(), 'doubler', input_example=[1.0, 2.0])\n")
    shell.user_ns["Doubler"] = Doubler
    shell.user_ns["losses"] = [1.0, 0.6]
    first = run(shell, "%%mlops track --run-name small\nimport jupyter_mlops as mlops\n"
                "mlops.log_params(lr=0.1)\n" + cell)
    shell.user_ns["losses"] = [0.9, 0.4, 0.1]
    second = run(shell, "%%mlops track --run-name large\nimport jupyter_mlops as mlops\n"
                 "mlops.log_params(lr=0.3)\n" + cell)

    frame = run(shell, "%mlops runs --this-notebook")
    assert list(frame["run_id"]) == [second.run_id, first.run_id]
    assert len(run(shell, "%mlops runs")) == 3  # the whole experiment
    assert len(run(shell, "%mlops runs --limit 1")) == 1

    view = run(shell, f"%mlops compare {first.run_id} {second.run_id}")
    table = view.table_bundle()
    assert 'data-param="lr" data-differs="true"' in table["text/html"]
    assert "lr: small=0.1, large=0.3" in table["text/plain"]
    chart = view.chart_bundle()
    spec = chart["application/vnd.vegalite.v5+json"]
    assert {(p["run"], p["step"], p["value"]) for p in spec["data"]["values"]
            if p["metric"] == "loss"} == {("small", 0, 1.0), ("small", 1, 0.6),
                                           ("large", 0, 0.9), ("large", 1, 0.4),
                                           ("large", 2, 0.1)}
    import base64

    assert base64.b64decode(chart["image/png"]).startswith(b"\x89PNG")  # matplotlib fallback

    registered = run(shell, f"%mlops register {second.run_id} --name doubler --alias champion")
    assert isinstance(registered, Registration)
    assert registered.uri == "models:/doubler@champion"
    assert "registered" in repr(registered) and "models:/doubler@champion" in repr(registered)


def test_magics_refuse_bad_arguments_in_one_line(shell: InteractiveShell, project: Path) -> None:
    with pytest.raises(UsageError, match="at least two run ids"):
        run(shell, "%mlops compare abc")
    with pytest.raises(UsageError, match="must be at least 1"):
        run(shell, "%mlops runs --limit 0")
    with pytest.raises(UsageError, match="no run 'abc123'"):
        run(shell, "%mlops register abc123")
    with pytest.raises(UsageError, match="does not know its notebook"):
        run(shell, "%mlops runs --this-notebook")


def test_the_cli_lists_runs_and_registers_in_a_process_that_did_not_track(
        project: Path, cli: Any) -> None:
    run_id = tracked(None, "from-cli", 0.1, [1.0], model=True)
    done = cli("runs", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "from-cli" in done.stdout and "FINISHED" in done.stdout
    # MLflow's own process-wide tracking URI points nowhere in that process
    done = cli("register", run_id, "--alias", "champion", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "models:/scorer@champion" in done.stdout


def test_models_logged_through_mlflows_own_api_are_named_as_logged(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model logged with ``mlflow.<flavor>.log_model`` (not ``mlops.log_model``) shows by
    the name it was logged under in every listing, and registers under it."""
    import mlflow
    import mlflow.pyfunc

    from jupyter_mlops.config import load_config
    from jupyter_mlops.tracking.comparison import compare_runs
    from jupyter_mlops.tracking.listing import run_detail, search

    class Model(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input

    other = tracked(None, "plain", 0.2, [0.9])
    run = mlops.start_run(run_name="both")
    mlops.log_model(Model(), "scorer")
    own = mlflow.pyfunc.log_model(name="mlflow-scorer", python_model=Model())
    mlops.end_run()
    own_uri = f"models:/{own.model_id}"
    assert own.model_id.startswith("m-")

    config = load_config(project)
    (row, _) = search(config).runs
    assert row.run_id == run.run_id
    assert [(m["name"], m["uri"]) for m in row.models][1] == ("mlflow-scorer", own_uri)
    assert row.models[0]["name"] == "scorer"
    detail = run_detail(config, run.run_id)
    assert [m["name"] for m in detail["models"]] == ["scorer", "mlflow-scorer"]
    compared = compare_runs(config, [run.run_id, other])
    assert [m["name"] for m in compared.runs[0].models] == ["scorer", "mlflow-scorer"]

    # registered without a name: the name it was logged under
    registration = mlops.register(run.run_id, model="mlflow-scorer")
    assert (registration.name, registration.version) == ("mlflow-scorer", "1")
    # and under a name given: said by that name, never by the logged model's m-… id
    cubic = mlops.register(run.run_id, name="cubic", alias="champion", model="mlflow-scorer")
    assert str(cubic) == "cubic version 1 → models:/cubic@champion"
    assert own.model_id not in repr(cubic) and "models:/cubic@champion" in repr(cubic)

    # a store that cannot search logged models: the id still names it, nothing fails
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise MlflowException("logged models are not supported by this server")

    monkeypatch.setattr(MlflowClient, "search_logged_models", refuse)
    (row, _) = search(config).runs
    assert row.models[1] == {"name": own.model_id, "uri": own_uri, "flavor": ""}
