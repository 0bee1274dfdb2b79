"""A sweep's progress as it runs: ``run_sweep(…, progress=P)`` calls, in the parent process,
``P.started(total, sweep_name, parent_run_id)`` once the parent run is started,
``P.trial(row)`` when a trial starts (``state`` "running") and again when it ends (its final
state: "complete", "pruned", "fail"), and ``P.finished(sweep)`` at the end — also when the
sweep is interrupted or fails, so a display never stays "running"."""

from __future__ import annotations

from collections.abc import Callable
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


# --------------------------------------------------------------------------- in the notebook

#: trials the live table lists (the newest; the best ones at the end)
SHOWN_TRIALS = 8
#: least seconds between two redraws for a trial that ended (a started trial always redraws)
REDRAW_S = 0.25


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_format(v)}" for k, v in params.items())


def _duration(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f} s"


class LiveTable:
    """A ``SweepProgress`` shown in the notebook as ONE output updated in place: the trials
    complete / running / failed / pruned, the best so far and the newest trials; at the end
    the sweep's summary (``Sweep.to_text``) and its best trials. Drawn in an ipywidgets
    ``HTML`` widget where ipywidgets is importable, else in a display updated by its id;
    the last drawing is a plain output either way, so the saved notebook keeps it."""

    def __init__(self, metric: str, direction: str, *, widgets: bool | None = None,
                 shown: int = SHOWN_TRIALS) -> None:
        self.metric = metric
        self.direction = direction
        self.shown = shown
        self.total = 0
        self.name = ""
        self.parent_run_id = ""
        self.running: dict[int, dict[str, Any]] = {}
        self.ended: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.sweep: Sweep | None = None
        self._widgets = widgets
        self._widget: Any = None
        self._handle: Any = None
        self._drawn = 0.0
        self._broken = False

    # the SweepProgress calls

    def started(self, total: int, sweep_name: str, parent_run_id: str) -> None:
        self.total, self.name, self.parent_run_id = total, sweep_name, parent_run_id
        self._draw(force=True)

    def trial(self, row: dict[str, Any]) -> None:
        number = int(row["number"])
        if row["state"] == "running":
            self.running[number] = dict(row)
            self._draw(force=True)
            return
        self.running.pop(number, None)
        self.ended.append(dict(row))
        value = row.get("value")
        if row["state"] == "complete" and isinstance(value, int | float) and \
                self._better(float(value)):
            self.best = dict(row)
        self._draw()

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        best = float(self.best["value"])
        return value < best if self.direction == "minimize" else value > best

    def finished(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.running.clear()
        self._draw(force=True, last=True)

    # what is shown

    def counts(self) -> dict[str, int]:
        found = {"complete": 0, "running": len(self.running), "fail": 0, "pruned": 0}
        for row in self.ended:
            found[row["state"]] = found.get(row["state"], 0) + 1
        return found

    def _rows(self) -> list[dict[str, Any]]:
        """The trials listed: while running, those running and the newest ended; at the end,
        the best completed ones."""
        if self.sweep is not None:
            done = [r for r in self.ended if r["state"] == "complete"
                    and r.get("value") is not None]
            done.sort(key=lambda r: float(r["value"]), reverse=self.direction == "maximize")
            return done[:self.shown]
        rows = sorted(self.running.values(), key=lambda r: -int(r["number"]))
        return (rows + self.ended[::-1])[:self.shown]

    def _head(self) -> list[str]:
        counts = self.counts()
        ended = counts["complete"] + counts["fail"] + counts["pruned"]
        lines = [f"sweep '{self.name}' ({self.direction} {self.metric}) · parent run "
                 f"{self.parent_run_id}",
                 f"{ended}/{self.total} trials · {counts['complete']} complete · "
                 f"{counts['running']} running · {counts['fail']} failed · "
                 f"{counts['pruned']} pruned"]
        if self.best is not None:
            lines.append(f"best so far: {self.metric} = {_format(self.best['value'])} "
                         f"(trial {self.best['number']}) with {_params(self.best['params'])}")
        return lines

    def text(self) -> str:
        head = self.sweep.to_text().splitlines() if self.sweep is not None else self._head()
        rows = self._rows()
        if not rows:
            return "\n".join(head)
        title = "best trials" if self.sweep is not None else "trials"
        table = [f"{title}:", f"{'#':>4}  {'state':<9} {self.metric:>10} {'time':>8}  params"]
        table += [f"{r['number']:>4}  {r['state']:<9} "
                  f"{_format(r['value']) if r.get('value') is not None else '—':>10} "
                  f"{_duration(r.get('duration')):>8}  {_params(r['params'])}" for r in rows]
        return "\n".join(head + table)

    def html(self) -> str:
        from html import escape

        head = self.sweep.to_text().splitlines() if self.sweep is not None else self._head()
        parts = ['<div class="jp-mlops-sweep-progress">']
        parts += [f"<div>{'<b>' if i == 0 else ''}{escape(line)}{'</b>' if i == 0 else ''}"
                  "</div>" for i, line in enumerate(head)]
        rows = self._rows()
        if rows:
            title = "best trials" if self.sweep is not None else "trials"
            parts.append(f'<table><caption style="text-align: left">{title}</caption>'
                         '<thead><tr><th>#</th><th>state</th>'
                         f'<th>{escape(self.metric)}</th><th>time</th><th>params</th>'
                         '</tr></thead><tbody>')
            for r in rows:
                value = r.get("value")
                parts.append(
                    f'<tr data-state="{escape(str(r["state"]))}"><td>{r["number"]}</td>'
                    f'<td>{escape(str(r["state"]))}</td>'
                    f'<td>{escape(_format(value)) if value is not None else "—"}</td>'
                    f'<td>{escape(_duration(r.get("duration")))}</td>'
                    f'<td>{escape(_params(r["params"]))}</td></tr>')
            parts.append("</tbody></table>")
        parts.append("</div>")
        return "".join(parts)

    def bundle(self) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}

    # drawing

    def _draw(self, force: bool = False, last: bool = False) -> None:
        """Show the table now (at most every REDRAW_S seconds unless ``force``). A drawing
        that fails stops the drawings, never the sweep."""
        import time

        if self._broken or (not force and time.monotonic() - self._drawn < REDRAW_S):
            return
        self._drawn = time.monotonic()
        try:
            self._show(last)
        except Exception as exc:  # the display is a courtesy: the sweep goes on
            self._broken = True
            import warnings

            warnings.warn(f"mlops sweep: the progress table stopped: {exc}", stacklevel=2)

    def _show(self, last: bool) -> None:
        from IPython.display import display as untyped_display

        display: Callable[..., Any] = untyped_display
        if self._handle is None:
            widget = self._make_widget() if not last else None
            if widget is not None:
                self._widget = widget
                self._handle = display(widget, display_id=True)
            else:
                self._handle = display(self.bundle(), raw=True, display_id=True)
            return
        if self._widget is not None and not last:
            self._widget.value = self.html()
            return
        self._handle.update(self.bundle(), raw=True)
        if self._widget is not None:  # the static table replaced it
            self._widget.close()
            self._widget = None

    def _make_widget(self) -> Any:
        if self._widgets is False:
            return None
        try:
            import ipywidgets  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            if self._widgets:
                raise
            return None
        return ipywidgets.HTML(value=self.html())


def live_progress(metric: str, direction: str) -> LiveTable | None:
    """The live table for a sweep run from a notebook's kernel; None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return LiveTable(metric, direction) if get_ipython() is not None else None
