"""A sweep's progress as it runs: ``mlops.sweep(…, progress=P)`` tells ``P`` when the sweep
starts, when each trial starts and ends (complete, failed, pruned), and when it finishes, in
the sweep's own process, against a real ``mlflow server``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import jupyter_mlops as mlops
from jupyter_mlops.sweep import Sweep, sweep, uniform

pytestmark = pytest.mark.usefixtures("tracking_reset")


@pytest.fixture
def server(project: Path, tracking_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLOPS_TRACKING_URI", tracking_server)
    return tracking_server


class Recorder:
    """A SweepProgress that remembers each call, and whether a run was active at the time."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def started(self, total: int, sweep_name: str, parent_run_id: str) -> None:
        self.calls.append(("started", (total, sweep_name, parent_run_id)))

    def trial(self, row: dict[str, Any]) -> None:
        active = mlops.active_run()
        self.calls.append(("trial", {**row, "active": active.run_id if active else None}))

    def finished(self, sweep: Sweep) -> None:
        self.calls.append(("finished", sweep))


def test_each_trial_is_told_when_it_starts_and_when_it_ends(server: str) -> None:
    def objective(x: float) -> None:
        if x > 0.8:
            raise ValueError("too far")
        mlops.log(loss=x)

    recorder = Recorder()
    result = sweep(objective, space={"x": uniform(0, 1)}, trials=12, sampler="random", seed=3,
                   pruner="none", name="told", progress=recorder)

    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["started"] + ["trial"] * 24 + ["finished"]
    assert recorder.calls[0][1] == (12, "told", result.run_id)
    assert recorder.calls[-1][1] is result
    rows = [row for kind, row in recorder.calls if kind == "trial"]
    frame = result.trials
    for number in range(12):
        began, ended = rows[2 * number], rows[2 * number + 1]
        assert began["number"] == ended["number"] == number
        assert began["state"] == "running" and began["value"] is None
        assert began["duration"] is None
        assert began["run_id"] == ended["run_id"] == frame["run_id"][number]
        assert began["active"] == ended["run_id"]  # told inside the trial's run
        assert ended["params"] == frame["params"][number]
        assert ended["state"] == frame["state"][number]
        assert ended["duration"] is not None and ended["duration"] >= 0
        if ended["state"] == "complete":
            assert ended["value"] == pytest.approx(frame["value"][number])
        else:
            assert ended["params"]["x"] > 0.8 and ended["value"] is None
    assert {row["state"] for row in rows[1::2]} == {"complete", "fail"}


def test_pruned_trials_are_told_pruned_with_their_last_value(server: str) -> None:
    def curve(x: float) -> None:
        for step in range(8):
            mlops.log(loss=abs(x) + 1.0 / (step + 1))

    recorder = Recorder()
    result = sweep(curve, space={"x": uniform(-10, 10)}, trials=20, sampler="random", seed=0,
                   pruner="median", progress=recorder)

    ended = [row for kind, row in recorder.calls if kind == "trial" and row["state"] != "running"]
    assert [row["state"] for row in ended] == list(result.trials["state"])
    pruned = [row for row in ended if row["state"] == "pruned"]
    assert len(pruned) >= 3
    assert all(row["value"] is not None and row["value"] > abs(row["params"]["x"])
               for row in pruned)


def test_an_interrupted_sweep_is_still_told_finished(server: str) -> None:
    def objective(x: float) -> None:
        raise KeyboardInterrupt

    recorder = Recorder()
    with pytest.raises(KeyboardInterrupt):
        sweep(objective, space={"x": uniform(0, 1)}, trials=5, progress=recorder)

    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["started", "trial", "trial", "finished"]
    assert recorder.calls[2][1]["state"] == "fail"
    assert mlops.active_run() is None
