"""A sweep's progress as it runs: ``mlops.sweep(…, progress=P)`` tells ``P`` when the sweep
starts, when each trial starts and ends (complete, failed, pruned), and when it finishes, in
the sweep's own process, against a real ``mlflow server``; and ``%%mlops sweep`` in a real
IPython shell shows it as one live table (an ipywidgets widget, or a display updated by its
id without ipywidgets) that ends with the best trials."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import RichOutput, capture_output

import jupyter_mlops as mlops
from jupyter_mlops.sweep import Sweep, sweep, uniform
from jupyter_mlops.sweep.progress import LiveTable

from .shell_fixtures import run
from .test_sweep_magic import TRAIN, shell  # noqa: F401  (the shell running train.ipynb)

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


# --------------------------------------------------------------------------- in the notebook

WIDGET = "application/vnd.jupyter.widget-view+json"
SWEEP = ("%%mlops sweep --trials 6 --sampler random --seed 4 --pruner none "
         "--space \"x=uniform(-5, 5)\"\n"
         "import jupyter_mlops as mlops\n"
         "if x > 3:\n"
         "    raise ValueError('x is too far')\n"
         "mlops.log(loss=(x - 2) ** 2)\n")


def table_outputs(outputs: list[RichOutput]) -> list[RichOutput]:
    """The outputs of the live table (an error line of a failed trial is not one)."""
    return [o for o in outputs if o.transient and "display_id" in o.transient]


def check_the_final_table(final: RichOutput, result: Sweep) -> None:
    text = final.data["text/plain"]
    assert text.startswith(result.to_text())  # the sweep's summary, then its best trials
    best = result.trials[result.trials["state"] == "complete"].sort_values("value")
    rows = [line.split() for line in text.splitlines()[text.splitlines().index(
        "best trials:") + 2:]]
    assert [int(r[0]) for r in rows] == list(best["number"])
    assert [float(r[2]) for r in rows] == pytest.approx(list(best["value"]), rel=1e-3)
    assert rows[0][-1] == f"x={result.best_params['x']:.4g}"
    html = final.data["text/html"]
    assert html.count("<tr data-state=\"complete\">") == len(best)
    assert "running" not in html


def test_the_magic_shows_one_live_widget_that_ends_as_the_best_trials(
        shell: InteractiveShell) -> None:  # noqa: F811
    with capture_output() as captured:
        result = run(shell, SWEEP)

    outputs = table_outputs(captured.outputs)
    first, final = outputs[0], outputs[-1]
    assert WIDGET in first.data and not first.update  # the widget, shown once
    assert len(outputs) == 2  # the widget drew each trial; the end replaced it, in place
    assert final.update and final.transient == first.transient
    assert WIDGET not in final.data  # the saved notebook keeps a plain table
    check_the_final_table(final, result)
    assert "fail" in list(result.trials["state"])


def test_without_ipywidgets_one_display_is_updated_per_trial(
        shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets fails
    with capture_output() as captured:
        result = run(shell, SWEEP)

    outputs = table_outputs(captured.outputs)
    assert not outputs[0].update and all(o.update for o in outputs[1:])
    assert {o.transient["display_id"] for o in outputs} == {
        outputs[0].transient["display_id"]}  # one output, not one line per trial
    assert len(outputs) >= 1 + 6  # drawn at least as each trial started, and at the end
    assert outputs[0].data["text/plain"].splitlines()[1] == (
        "0/6 trials · 0 complete · 0 running · 0 failed · 0 pruned")
    running = [o for o in outputs if "· 1 running ·" in o.data["text/plain"]]
    assert len(running) >= 6
    for output in running:  # the running trial is listed first
        lines = output.data["text/plain"].splitlines()
        assert lines[lines.index("trials:") + 2].split()[1] == "running"
    check_the_final_table(outputs[-1], result)


def test_the_widget_counts_the_trials_and_keeps_the_best_so_far() -> None:
    table = LiveTable("loss", "minimize", widgets=True)
    with capture_output() as captured:
        table.started(4, "study", "parent-id")
        widget = table._widget
        assert "0/4 trials" in widget.value
        table.trial({"number": 0, "params": {"lr": 0.1}, "value": None, "state": "running",
                     "duration": None, "run_id": "a"})
        assert "1 running" in widget.value and "<td>running</td>" in widget.value
        for number, state, value in ((0, "complete", 0.5), (1, "pruned", 0.9),
                                     (2, "fail", None), (3, "complete", 0.25)):
            table.trial({"number": number, "params": {"lr": 0.1 * number}, "value": value,
                         "state": state, "duration": 1.5, "run_id": str(number)})
            table._drawn = 0  # no wait between two drawings in this test
        assert "4/4 trials · 2 complete · 0 running · 1 failed · 1 pruned" in widget.value
        assert "best so far: loss = 0.25 (trial 3) with lr=0.3" in widget.value
    assert len(captured.outputs) == 1 and WIDGET in captured.outputs[0].data
    assert table.best is not None and table.best["number"] == 3


def test_a_table_that_cannot_draw_never_stops_the_sweep(server: str) -> None:
    class Broken(LiveTable):
        def _show(self, last: bool) -> None:
            raise RuntimeError("no frontend")

    with pytest.warns(UserWarning, match="the progress table stopped: no frontend"):
        result = sweep(lambda x: x, space={"x": uniform(0, 1)}, trials=3,
                       progress=Broken("loss", "minimize"))
    assert list(result.trials["state"]) == ["complete"] * 3
