"""A sweep's progress as it runs: ``run_sweep(…, progress=P)`` calls, in the parent process,
``P.started(total, sweep_name, parent_run_id)`` once the parent run is started,
``P.trial(row)`` when a trial starts (``state`` "running") and again when it ends (its final
state: "complete", "pruned", "fail"), and ``P.finished(sweep)`` at the end — also when the
sweep is interrupted or fails, so a display never stays "running"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

if TYPE_CHECKING:
    from .run import Sweep

TrialState = Literal["running", "complete", "pruned", "fail"]


class TrialRow(TypedDict):
    """One trial as the progress sees it (the same fields as a row of ``Sweep.trials``)."""

    number: int
    params: dict[str, Any]
    value: float | None
    state: TrialState
    duration: float | None
    run_id: str | None


class SweepProgress(Protocol):
    """What ``run_sweep`` tells about a sweep while it runs."""

    def started(self, total: int, sweep_name: str, parent_run_id: str) -> None: ...

    def trial(self, row: dict[str, Any]) -> None: ...

    def finished(self, sweep: Sweep) -> None: ...
