"""``mlops.sweep``: an Optuna study whose trials are child runs of one parent run on a real
``mlflow server``; failed, pruned and interrupted trials; resuming a study; the space's
grammar and each bad input as one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.errors import UserInputError
from jupyter_mlops.sweep import Sweep, choice, integer, loguniform, sweep, uniform
from jupyter_mlops.sweep.space import parse_annotations, parse_distribution, parse_space

pytestmark = pytest.mark.usefixtures("tracking_reset")


@pytest.fixture
def server(project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    return tracking_server


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def children(uri: str, result: Sweep) -> list[Any]:
    parent = client(uri).get_run(result.run_id)
    return list(client(uri).search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'",
        max_results=1000))


def quadratic(x: float, y: float) -> None:
    mlops.log(loss=(x - 2) ** 2 + (y + 1) ** 2)


# --------------------------------------------------------------------------- the search


def test_a_quadratic_is_found_by_40_tpe_trials_each_a_child_run(server: str) -> None:
    result = sweep(quadratic, space={"x": uniform(-5, 5), "y": uniform(-5, 5)}, trials=40,
                   metric="loss", pruner="none", seed=7, name="quadratic")

    assert result.best_params is not None and result.best_value is not None
    assert abs(result.best_params["x"] - 2) < 0.5 and abs(result.best_params["y"] + 1) < 0.5
    assert result.best_value == pytest.approx((result.best_params["x"] - 2) ** 2
                                              + (result.best_params["y"] + 1) ** 2)
    assert mlops.active_run() is None
    runs = children(server, result)
    assert len(runs) == 40
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.tags["mlops.sweep.state"] for r in runs} == {"complete"}
    best = client(server).get_run(result.best_run_id)
    assert best.data.tags["mlflow.parentRunId"] == result.run_id
    assert float(best.data.params["x"]) == pytest.approx(result.best_params["x"])
    assert best.data.metrics["loss"] == pytest.approx(result.best_value)
    parent = client(server).get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    # a trial shares its parent's host and source tags; the environment files are the parent's
    for key in ("mlops.host.name", "mlops.python.version", "mlflow.source.type"):
        assert best.data.tags[key] == parent.data.tags[key]
    assert client(server).list_artifacts(result.best_run_id) == []
    assert "environment" in {a.path for a in client(server).list_artifacts(result.run_id)}
    assert parent.data.params["sweep.sampler"] == "tpe"
    assert parent.data.params["sweep.space"] == "x=uniform(-5, 5) y=uniform(-5, 5)"
    assert float(parent.data.params["best.x"]) == pytest.approx(result.best_params["x"])
    assert parent.data.metrics["best_loss"] == pytest.approx(result.best_value)
    assert parent.data.tags["mlops.sweep.best_run_id"] == result.best_run_id

    frame = result.trials
    assert list(frame.columns) == ["number", "params", "value", "state", "duration", "run_id"]
    assert list(frame["number"]) == list(range(40))
    assert set(frame["run_id"]) == {r.info.run_id for r in runs}
    assert set(frame["state"]) == {"complete"}
    assert "best: loss = " in result.to_text() and result.best_run_id in result.to_text()
    chart = result.vega_lite()
    assert len(chart["data"]["values"]) == 80  # each trial, and the best so far
    assert chart["data"]["values"][-1]["value"] == pytest.approx(result.best_value)


def test_mlops_sweep_is_callable_and_a_returned_value_is_the_objective(server: str) -> None:
    result = mlops.sweep(lambda lr, act: lr * (2 if act == "relu" else 3),
                         space={"lr": loguniform(1e-3, 1.0), "act": choice("relu", "tanh")},
                         trials=4, metric="score", direction="maximize", sampler="random",
                         seed=1)

    values = [v for v in result.trials["value"]]
    assert result.best_value == max(values)
    best = client(server).get_run(result.best_run_id)
    assert best.data.metrics["score"] == pytest.approx(result.best_value)  # logged for it
    assert best.data.params["act"] in ("relu", "tanh")


def test_a_grid_sweep_tries_each_value_once_and_stops(server: str) -> None:
    seen: list[tuple[int, str]] = []

    def objective(n: int, act: str) -> float:
        seen.append((n, act))
        return float(n)

    result = sweep(objective, space={"n": integer(1, 3), "act": choice("a", "b")}, trials=50,
                   sampler="grid")

    assert sorted(seen) == [(n, a) for n in (1, 2, 3) for a in ("a", "b")]
    assert len(result.trials) == 6 and result.best_value == 1.0


# --------------------------------------------------------------------------- failures


def test_a_raising_trial_is_a_failed_child_and_the_sweep_goes_on(server: str) -> None:
    def objective(x: float) -> None:
        mlops.log(loss=x * x)
        if x > 0:
            raise ValueError(f"diverged at x={x:.2f}")

    result = sweep(objective, space={"x": uniform(-1, 1)}, trials=12, sampler="random",
                   seed=3, pruner="none")

    states = list(result.trials["state"])
    assert "fail" in states and "complete" in states and len(states) == 12
    assert result.best_value is not None and result.best_params["x"] <= 0
    assert mlops.active_run() is None
    failed = [r for r in children(server, result) if r.info.status == "FAILED"]
    assert len(failed) == states.count("fail")
    assert failed[0].data.tags["mlops.error"].startswith("ValueError: diverged at x=")
    assert failed[0].data.tags["mlops.sweep.state"] == "failed"
    artifacts = [a.path for a in client(server).list_artifacts(failed[0].info.run_id, "error")]
    assert artifacts == ["error/traceback.txt"]
    assert client(server).get_run(result.run_id).info.status == "FINISHED"


def test_a_metric_the_trial_never_logs_fails_it_with_that_message(server: str) -> None:
    result = sweep(lambda x: mlops.log(accuracy=x), space={"x": uniform(0, 1)}, trials=2,
                   metric="loss")

    assert list(result.trials["state"]) == ["fail", "fail"]
    assert result.best_value is None and "no trial completed" in result.to_text()
    run = children(server, result)[0]
    assert run.data.tags["mlops.error"] == ("MetricNotLogged: the trial never logged metric "
                                            "'loss' with mlops.log and returned no number")


def test_pruned_trials_are_killed_and_tagged(server: str) -> None:
    def curve(x: float) -> None:
        for step in range(8):
            mlops.log(loss=abs(x) + 1.0 / (step + 1))

    result = sweep(curve, space={"x": uniform(-10, 10)}, trials=20, sampler="random", seed=0,
                   pruner="median")

    states = list(result.trials["state"])
    assert states.count("pruned") >= 3, states
    runs = {r.info.run_id: r for r in children(server, result)}
    pruned = [runs[i] for i, s in zip(result.trials["run_id"], states, strict=True)
              if s == "pruned"]
    assert {r.info.status for r in pruned} == {"KILLED"}
    assert {r.data.tags["mlops.sweep.state"] for r in pruned} == {"pruned"}
    history = client(server).get_metric_history(pruned[0].info.run_id, "loss")
    assert 1 < len(history) < 8  # stopped after its intermediate values, not before
    assert mlops.active_run() is None


def test_an_interrupt_ends_every_run_and_stops_the_sweep(server: str) -> None:
    calls: list[float] = []

    def objective(x: float) -> None:
        calls.append(x)
        mlops.log(loss=x)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(objective, space={"x": uniform(0, 1)}, trials=10, name="interrupted")

    assert len(calls) == 3 and mlops.active_run() is None
    import mlflow

    assert mlflow.active_run() is None
    runs = client(server).search_runs(
        [client(server).get_experiment_by_name(Path.cwd().name).experiment_id],
        "attributes.run_name LIKE 'interrupted%'")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED", "KILLED", "KILLED"]


def test_no_trial_starts_after_the_timeout(server: str) -> None:
    import time

    def slow(x: float) -> float:
        time.sleep(0.4)
        return x

    began = time.monotonic()
    result = sweep(slow, space={"x": uniform(0, 1)}, trials=50, timeout=1.0)

    assert 1 <= len(result.trials) <= 3  # started within 1 s, each taking 0.4 s or more
    assert time.monotonic() - began < 1.0 + 5  # the trial under way when it passed, no more


# --------------------------------------------------------------------------- the study


def test_resume_adds_trials_to_the_same_study(server: str, project: Path) -> None:
    space = {"x": uniform(-5, 5)}
    first = sweep(lambda x: x * x, space=space, trials=3, name="resumable")
    first_runs = list(first.trials["run_id"])
    again = sweep(lambda x: x * x, space=space, trials=2, name="resumable", resume=True)

    assert len(first_runs) == 3
    assert list(again.trials["number"]) == [0, 1, 2, 3, 4]  # one study: the trials of both
    assert list(again.trials["run_id"])[:3] == first_runs
    assert len(children(server, again)) == 2  # a new parent for the second session
    assert (project / ".mlops" / "sweeps" / "studies.journal").is_file()
    with pytest.raises(UserInputError, match="study 'resumable' exists: add --resume"):
        sweep(lambda x: x, space=space, trials=1, name="resumable")


def test_a_study_an_earlier_version_kept_in_sqlite_is_resumed_there(server: str,
                                                                    project: Path) -> None:
    import optuna

    folder = project / ".mlops" / "sweeps"
    folder.mkdir(parents=True)
    legacy = f"sqlite:///{folder / 'studies.db'}"
    old = optuna.create_study(storage=legacy, study_name="sweep-1")
    old.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)

    again = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, resume=True)
    fresh = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1)

    assert again.name == "sweep-1"  # the latest study, found in the old file
    assert len(again.trials) == 3  # its two trials and this one, kept there
    assert len(optuna.load_study(study_name="sweep-1", storage=legacy).trials) == 3
    assert fresh.name == "sweep-2"  # counted on from the old file's names
    assert optuna.get_all_study_names(legacy) == ["sweep-1"]  # new studies: the journal
    with pytest.raises(UserInputError, match="study 'sweep-1' exists: add --resume"):
        sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, name="sweep-1")


def test_a_study_in_a_database_named_by_url(server: str, tmp_path: Path,
                                             project: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, name="shared", storage=url)
    again = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, name="shared",
                  storage=url, resume=True)

    assert len(again.trials) == 2
    assert not (project / ".mlops" / "sweeps").exists()


def test_a_default_name_counts_up_and_resume_takes_the_latest(server: str) -> None:
    first = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1)
    second = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1)
    resumed = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, resume=True)

    assert (first.name, second.name, resumed.name) == ("sweep-1", "sweep-2", "sweep-2")
    assert len(resumed.trials) == 2


def test_a_study_of_the_other_direction_is_refused(server: str) -> None:
    sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, name="way")

    with pytest.raises(UserInputError) as caught:
        sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=1, name="way",
              direction="maximize", resume=True)
    assert str(caught.value) == ("study 'way' exists and minimizes its metric; this sweep asks "
                                 "to maximize: give another --name")
    assert mlops.active_run() is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"jobs": 0}, "jobs must be a whole number of at least 1, not 0"),
    ({"direction": "down"}, "direction must be one of minimize, maximize, not 'down'"),
    ({"sampler": "cmaes"}, "sampler must be one of tpe, random, grid, not 'cmaes'"),
    ({"trials": 0}, "trials must be a whole number of at least 1, not 0"),
    ({"space": {}}, "the search space is empty: give at least one parameter"),
    ({"sampler": "grid"}, "--sampler grid: parameter 'x' is uniform(0, 1), which has no finite "
                          "set of values; use choice(...) or a small integer(...)"),
])
def test_bad_settings_are_one_line(server: str, kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"space": {"x": uniform(0, 1)}, "trials": 1, **kwargs}
    with pytest.raises(UserInputError) as caught:
        sweep(lambda x: x, **settings)
    assert str(caught.value) == message
    assert mlops.active_run() is None


# --------------------------------------------------------------------------- the space


def test_the_space_grammar() -> None:
    space = parse_space('lr=loguniform(1e-4,1e-1) hidden=integer(8, 256, log=True) '
                        'act=choice(relu,tanh) drop=choice(0.1, 0.5, None) tag=choice("a,b", c)')

    assert space == {"lr": loguniform(1e-4, 1e-1), "hidden": integer(8, 256, log=True),
                     "act": choice("relu", "tanh"), "drop": choice(0.1, 0.5, None),
                     "tag": choice("a,b", "c")}
    assert str(space["hidden"]) == "integer(8, 256, log=True)"
    assert parse_distribution(" uniform( -5, 5 ) ") == uniform(-5, 5)


def test_annotations_on_the_parameters_cell() -> None:
    source = ('lr = 0.01  # sweep: loguniform(1e-4, 1e-1)\n'
              'epochs = 3\n'
              'act: str = "relu"  # sweep: choice(relu, tanh)\n'
              '# a comment with no sweep\n')

    assert parse_annotations(source) == {"lr": loguniform(1e-4, 1e-1),
                                         "act": choice("relu", "tanh")}
    with pytest.raises(UserInputError, match="line 1: '# sweep:' must follow an assignment"):
        parse_annotations("# sweep: uniform(0, 1)\nx = 1\n")
    with pytest.raises(UserInputError, match=r"line 1 \(x\): 'gauss\(0, 1\)': unknown"):
        parse_annotations("x = 1  # sweep: gauss(0, 1)\n")


@pytest.mark.parametrize(("text", "message"), [
    ("lr=loguniform(1e-4", "--space: cannot read 'lr=loguniform(1e-4': write NAME=KIND(ARGS)"),
    ("lr=gauss(0,1)", "--space lr: 'gauss(0,1)': unknown distribution 'gauss'; use one of "
                      "uniform, loguniform, integer, choice"),
    ("x=uniform(5,1)", "--space x: uniform(5, 1): the low bound must be below the high"),
    ("x=uniform(0,1) x=uniform(0,2)", "--space: parameter 'x' is given twice"),
    ("x=loguniform(0,1)", "--space x: loguniform(0, 1): the bounds must be above 0"),
    ("n=integer(1.5,3)", "--space n: integer(1.5, 3): the bounds must be whole numbers"),
    ("x=uniform(0,1,2)", "--space x: 'uniform(0,1,2)': wrong number of arguments"),
    ("x=uniform(0,1,log=True)", "--space x: 'uniform(0,1,log=True)': only integer(...) takes a "
                                "keyword (log=True)"),
    ("x=choice(__import__('os'))", "--space: cannot read 'x=choice(__import__('os'))'"),
    ("x=choice(1 + y)", "--space x: 'choice(1 + y)': '1 + y' is not a number, a string or a "
                        "word"),
    ("x=choice([1, 2])", "--space x: 'choice([1, 2])': '[1' is not a number"),
    ("x=choice()", "--space x: choice(): give at least one value"),
    ("", "--space is empty: write NAME=KIND(ARGS), e.g. x=uniform(-5,5)"),
])
def test_a_space_that_does_not_parse_is_one_line(text: str, message: str) -> None:
    with pytest.raises(UserInputError) as caught:
        parse_space(text)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_pruner_hears_the_metric_at_the_same_checkpoints_in_every_trial(server: str) -> None:
    """Every step up to 32, then every 32nd: a cell logging its loss per step does not pay a
    database write per step; with no pruner the study is told only the final values."""
    def curve(x: float) -> None:
        for step in range(300):
            mlops.log(loss=x + 1.0 / (step + 1))

    checkpoints = {*range(32), *range(32, 300, 32)}
    pruned = sweep(curve, space={"x": uniform(0, 1)}, trials=2, pruner="median", seed=0)
    assert [set(t.intermediate_values) for t in pruned.study.trials] == [checkpoints] * 2
    plain = sweep(curve, space={"x": uniform(0, 1)}, trials=2, pruner="none", seed=0)
    assert [t.intermediate_values for t in plain.study.trials] == [{}, {}]
    assert list(plain.trials["value"]) == pytest.approx(
        [t.params["x"] + 1 / 300 for t in plain.study.trials])
    history = client(server).get_metric_history(plain.trials["run_id"][0], "loss")
    assert len(history) == 300  # the run still has every point
