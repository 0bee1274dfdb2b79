"""Live progress in the notebook: one display, updated in place while long work runs (a
deploy's phases, a retrieval's views, a pipeline's steps). ``LiveProgress`` implements
``jupyter_mlops.verb.Progress``; ``PipelineProgress`` draws the pipeline's DAG instead of
lines, each step coloured by its state. The magic hands verbs ``progress_factory(...)`` as
``ctx.progress``; the command line keeps ``verb.TextProgress``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from IPython.display import display

if TYPE_CHECKING:
    from jupyter_mlops.pipeline.model import Pipeline
    from jupyter_mlops.verb import Progress


class LiveProgress:
    """A title and the messages so far, each with the seconds since the start."""

    def __init__(self, title: str, *, rich: bool = True) -> None:
        self.title = title
        self.rich = rich
        self.lines: list[tuple[float, str]] = []
        self.began = time.monotonic()
        self.lock = threading.Lock()  # pipeline steps report from the runner's threads
        self.handle: Any = display(self, display_id=True)  # type: ignore[no-untyped-call]

    def __call__(self, message: str) -> None:
        with self.lock:
            self.lines.append((time.monotonic() - self.began, message))
            self._refresh()

    def event(self, event: Any) -> None:
        self(str(event))

    def close(self, result: Any = None) -> None:
        with self.lock:
            self._refresh()

    def _refresh(self) -> None:
        if self.handle is not None:
            self.handle.update(self)

    def to_text(self) -> str:
        return "\n".join([self.title, *(f"  {t:5.1f}s  {m}" for t, m in self.lines)])

    def to_html(self) -> str:
        items = "".join(f'<li><span style="opacity:.6">{t:5.1f}s</span> {escape(m)}</li>'
                        for t, m in self.lines)
        return (f'<div class="mlops-progress" style="font-size: 12px"><b>{escape(self.title)}'
                f'</b><ul style="margin: 2px 0">{items}</ul></div>')

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self.to_text()}
        if self.rich:
            bundle["text/html"] = self.to_html()
        return bundle


class PipelineProgress(LiveProgress):
    """A pipeline run: the DAG coloured by each step's state; at the end, the run's table
    when it failed (the error follows as the cell's error)."""

    def __init__(self, title: str, pipeline: Pipeline, *, rich: bool = True) -> None:
        self.pipeline = pipeline
        self.states: dict[str, str] = {s.name: "queued" for s in pipeline.steps}
        self.outcome = ""
        super().__init__(title, rich=rich)

    def event(self, event: Any) -> None:
        with self.lock:
            self.states[event.step] = event.state
            self._refresh()

    def close(self, result: Any = None) -> None:
        from jupyter_mlops.pipeline.render import run_html

        with self.lock:
            if result is not None:
                for name, state in result.steps.items():
                    self.states[name] = state.state
                self.outcome = "" if result.ok else run_html(result)
            self._refresh()

    def to_text(self) -> str:
        return "pipeline: " + ", ".join(f"{n} {s}" for n, s in self.states.items())

    def to_html(self) -> str:
        from jupyter_mlops.pipeline.render import pipeline_svg

        svg = pipeline_svg(self.pipeline, self.states)
        return f'<div class="mlops-pipeline-progress">{svg}{self.outcome}</div>'


def progress_factory(rich: Callable[[], bool]) -> Callable[..., Progress]:
    """``ctx.progress`` for the magic: a ``PipelineProgress`` when the work is about a
    pipeline, else a ``LiveProgress``; ``rich()`` says whether HTML is wanted."""

    def progress(title: str, subject: Any = None) -> Progress:
        if subject is not None and type(subject).__name__ == "Pipeline":
            from jupyter_mlops.pipeline.model import Pipeline

            if isinstance(subject, Pipeline):
                return PipelineProgress(title, subject, rich=rich())
        return LiveProgress(title, rich=rich())

    return progress
