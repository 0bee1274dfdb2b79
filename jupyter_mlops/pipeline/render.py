"""Pictures and tables of a pipeline and of a run: an SVG DAG laid out here (layers by longest
path, no graphviz) and HTML for Jupyter; the plain text for terminals is the objects' own
``to_text()``. Called from outside the model (the kernel's displays, the REST routes): the
model and the results never import this module."""

from __future__ import annotations

import time
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Pipeline
    from .results import RunResult

#: a colour for each StepStateName (looked up by the plain strings callers hand in)
STATE_COLORS: dict[str, str] = {
    "queued": "#9e9e9e", "running": "#1565c0", "cached": "#6a1b9a", "done": "#2e7d32",
    "failed": "#c62828", "skipped": "#bdbdbd"}
NODE_W, NODE_H, GAP_X, GAP_Y = 170, 54, 36, 58


def layout(pipeline: Pipeline) -> dict[str, tuple[float, float]]:
    """Top-left corner of each step's box: one row per longest-path depth, notebook order in a
    row, rows centred."""
    depth: dict[str, int] = {}
    for step in pipeline.order:
        depth[step.name] = 1 + max((depth[d] for d in step.depends_on), default=-1)
    rows: dict[int, list[str]] = {}
    for step in pipeline.steps:
        rows.setdefault(depth[step.name], []).append(step.name)
    widest = max((len(r) for r in rows.values()), default=1)
    width = widest * NODE_W + (widest - 1) * GAP_X
    where: dict[str, tuple[float, float]] = {}
    for level, names in rows.items():
        row_width = len(names) * NODE_W + (len(names) - 1) * GAP_X
        left = (width - row_width) / 2
        for i, name in enumerate(names):
            where[name] = (left + i * (NODE_W + GAP_X), level * (NODE_H + GAP_Y))
    return where


def _short(names: list[str], limit: int = 24) -> str:
    text = ", ".join(names)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pipeline_svg(pipeline: Pipeline, states: dict[str, str] | None = None) -> str:
    where = layout(pipeline)
    if not where:
        return ""
    pad = 12
    width = max(x for x, _ in where.values()) + NODE_W + 2 * pad
    height = max(y for _, y in where.values()) + NODE_H + 2 * pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="mlops-pipeline-dag" '
             f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
             'font-family="sans-serif" font-size="12">',
             '<defs><marker id="mlops-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
             'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
             '<path d="M 0 0 L 10 5 L 0 10 z" fill="#757575"/></marker></defs>']
    out_count: dict[str, int] = {}
    for edge in pipeline.edges():
        x1, y1 = where[edge["from"]]
        x2, y2 = where[edge["to"]]
        ax, ay = x1 + pad + NODE_W / 2, y1 + pad + NODE_H
        bx, by = x2 + pad + NODE_W / 2, y2 + pad
        mid = (ay + by) / 2
        dash = ' stroke-dasharray="4 3"' if edge["after"] else ""
        parts.append(f'<path d="M {ax:.0f} {ay:.0f} C {ax:.0f} {mid:.0f}, {bx:.0f} {mid:.0f}, '
                     f'{bx:.0f} {by - 2:.0f}" fill="none" stroke="#757575" stroke-width="1.4"'
                     f'{dash} marker-end="url(#mlops-arrow)"/>')
        # labels of one step's edges sit one above the other in the gap below it, each next
        # to its edge, with a white halo where lines cross
        k = out_count[edge["from"]] = out_count.get(edge["from"], -1) + 1
        ly = ay + 13 + 12 * (k % 3)
        share = min(1.0, (ly - ay) / max(by - ay, 1.0))
        lx = ax + (bx - ax) * share
        anchor = "end" if bx < ax - 1 else "start"
        lx += -5 if anchor == "end" else 5
        label = _short(edge["names"]) if edge["names"] else "after"
        parts.append(f'<text x="{lx:.0f}" y="{ly:.0f}" fill="#616161" font-size="10" '
                     f'text-anchor="{anchor}" stroke="#fff" stroke-width="3" '
                     f'paint-order="stroke">{escape(label)}</text>')
    for step in pipeline.steps:
        x, y = where[step.name]
        x, y = x + pad, y + pad
        state = (states or {}).get(step.name)
        color = STATE_COLORS.get(state or "", "#455a64")
        extra = []
        if step.gpu:
            extra.append(f"{step.gpu} GPU")
        if step.parameters:
            extra.append("params: " + ", ".join(step.parameters))
        sub = _short(extra, 26) if extra else f"{len(step.cells)} cell" + (
            "s" if len(step.cells) != 1 else "")
        parts.append(
            f'<g data-step="{escape(step.name)}"'
            + (f' data-state="{state}"' if state else "") + ">"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="8" '
            f'fill="#fafafa" stroke="{color}" stroke-width="2"/>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 22:.0f}" text-anchor="middle" '
            f'font-weight="bold" fill="#212121">{escape(step.name)}</text>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 40:.0f}" text-anchor="middle" '
            f'fill="#616161" font-size="10">{escape(state or sub)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _cells(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def pipeline_text(pipeline: Pipeline) -> str:
    return pipeline.to_text()


_TABLE = ('style="border-collapse: collapse; font-size: 12px; margin-top: 6px"')
_TD = 'style="text-align: left; padding: 2px 8px; vertical-align: top"'


def pipeline_html(pipeline: Pipeline, states: dict[str, str] | None = None) -> str:
    rows = []
    for step in pipeline.steps:
        inputs = ", ".join(f"<code>{escape(n)}</code> <span style='opacity:.6'>"
                           f"({escape(s)})</span>" for n, s in step.inputs.items())
        outputs = ", ".join(f"<code>{escape(n)}</code>" for n in step.outputs)
        needs = []
        if step.gpu:
            needs.append(f"{step.gpu} GPU")
        if step.cpu:
            needs.append(f"{step.cpu} CPU")
        if step.memory:
            needs.append(step.memory)
        if step.retries:
            needs.append(f"{step.retries} retries")
        if not step.cache:
            needs.append("no cache")
        rows.append(f"<tr data-step='{escape(step.name)}'><td {_TD}><b>{escape(step.name)}</b>"
                    f"</td><td {_TD}>{_cells([c.number for c in step.cells])}</td>"
                    f"<td {_TD}>{inputs or '–'}</td><td {_TD}>{outputs or '–'}</td>"
                    f"<td {_TD}>{escape(', '.join(step.parameters)) or '–'}</td>"
                    f"<td {_TD}>{escape(', '.join(needs)) or '–'}</td></tr>")
    head = "".join(f"<th {_TD}>{h}</th>" for h in ("step", "cells", "inputs (from)", "outputs",
                                                   "parameters", "needs"))
    parts = [f'<div class="mlops-pipeline" style="font-family: var(--jp-ui-font-family, '
             f'sans-serif); font-size: 13px"><div><b>Pipeline {escape(pipeline.name)}</b> '
             f'<span style="opacity:.6">from {escape(pipeline.notebook.name)}, '
             f"{len(pipeline.steps)} steps</span></div>",
             pipeline_svg(pipeline, states),
             f"<table {_TABLE}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
             "</table>"]
    if pipeline.parameters:
        parts.append("<div>Parameters: " + ", ".join(
            f"<code>{escape(p.name)}: {p.type} = {escape(repr(p.default))}</code>"
            for p in pipeline.parameters) + "</div>")
    for warning in pipeline.warnings:
        parts.append(f'<div style="color:#ef6c00">⚠ {escape(str(warning))}</div>')
    parts.append("</div>")
    return "".join(parts)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} s"


def run_text(run: RunResult) -> str:
    return run.to_text()


def run_html(run: RunResult) -> str:
    rows = []
    for state in run.steps.values():
        color = STATE_COLORS.get(state.state, "#000")
        detail = escape(state.message) if state.state in ("failed", "skipped") else _seconds(
            state.seconds)
        rows.append(f"<tr data-step='{escape(state.name)}' data-state='{state.state}'>"
                    f"<td {_TD}><b>{escape(state.name)}</b></td>"
                    f"<td {_TD} style='color:{color}'>{state.state}</td><td {_TD}>{detail}</td>"
                    "</tr>")
    took = (run.finished or time.time()) - run.started
    color = STATE_COLORS["done" if run.state == "done" else
                         "failed" if run.state == "failed" else "running"]
    return (f'<div class="mlops-pipeline-run" style="font-size: 13px"><b>Run {run.run_id}</b> '
            f'of {escape(run.pipeline)}: <span style="color:{color}">{run.state}</span> '
            f'<span style="opacity:.6">({took:.1f} s)</span>'
            f"<table {_TABLE}>{''.join(rows)}</table>"
            + (f'<div style="color:#c62828">{escape(run.error)}</div>' if run.error else "")
            + f'<div style="opacity:.6">logs: {escape(run.folder)}/logs</div></div>')
