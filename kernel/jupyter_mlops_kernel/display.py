"""Rich displays of the verbs' results: the one home of their HTML.

The core's verbs return plain result objects (a ``StatusReport``, a ``Pipeline``, a
``NotebookDiff``, …) and render no HTML; ``wrap`` turns a result into what the magic returns
so Jupyter shows it well, and ``add_formatters`` teaches the shell's display formatter the
core types a notebook keeps as they are (a ``Pipeline``, a ``RunResult``), drawn through
``jupyter_mlops.pipeline.render`` or shown by a view of ``monitor_views`` (a
``MonitorSummary``, a ``DriftReport``). Objects of the Python API that have their own
``_repr_html_`` (a ``FeatureView``, a ``Deployment``) keep it. Live progress is in
``progress``. Plain text always comes along, for terminals.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from html import escape
from typing import Any

from jupyter_mlops.status import StatusReport

from .monitor_views import VIEWED
from .views import COLORS, MARKS, VEGA_LITE, ResultView


class StatusView(ResultView):
    """``%mlops status``: the same report as the sidebar shows."""

    @property
    def report(self) -> StatusReport:
        report: StatusReport = self.result
        return report

    def html(self) -> str:
        r = self.report
        parts = [
            '<div class="mlops-status" style="font-family: var(--jp-ui-font-family, '
            'sans-serif); font-size: 13px; line-height: 1.5">',
            f"<div><b>jupyter-mlops {escape(r.version)}</b>"
            f' <span style="opacity:.6">({r.elapsed_ms:.0f} ms)</span></div>',
        ]
        if r.config_error:
            parts.append(f'<div style="color:{COLORS["error"]}"><b>Config error:</b> '
                         f"{escape(r.config_error)}</div>")
        if r.config:
            config_file = r.config["config_file"]
            shown = (f"<code>{escape(str(config_file))}</code>" if config_file
                     else "none (embedded defaults)")
            parts.append(f"<div>Project root: <code>{escape(r.config['project_root'])}</code>"
                         f" · config file: {shown}</div>")
            uri = next(v for v in r.config["values"] if v["key"] == "tracking.uri")
            parts.append(f"<div>Tracking URI: <code>{escape(str(uri['value']))}</code> "
                         f'<span style="opacity:.6">[{escape(uri["source"])}]</span></div>')
        parts.append('<table style="border-collapse: collapse; margin-top: 6px">')
        for cap in r.capabilities:
            color = COLORS[cap.state]
            checks = "<br>".join(
                f'<span style="color:{COLORS[c.level]}">{MARKS[c.level]}</span> '
                f"{escape(c.name)}: {escape(c.message)} "
                f'<span style="opacity:.5">{c.elapsed_ms:.0f} ms</span>'
                for c in cap.checks
            )
            parts.append(
                f'<tr data-capability="{escape(cap.id)}" data-state="{cap.state}">'
                f'<td style="vertical-align: top; padding: 3px 8px; color:{color}">●</td>'
                f'<td style="vertical-align: top; padding: 3px 8px; text-align: left">'
                f"<b>{escape(cap.title)}</b></td>"
                f'<td style="padding: 3px 8px; text-align: left">{escape(cap.summary)}'
                f'<div style="font-size: 12px; opacity: .85">{checks}</div></td></tr>'
            )
        parts.append("</table>")
        if r.config:
            rows = "".join(
                f'<tr><td style="text-align:left"><code>{escape(v["key"])}</code></td>'
                f'<td style="text-align:left"><code>{escape(str(v["value"]))}</code></td>'
                f'<td style="text-align:left; opacity:.7">{escape(v["source"])}</td></tr>'
                for v in r.config["values"]
            )
            parts.append(f"<details><summary>Configuration</summary><table>{rows}</table>"
                         "</details>")
        parts.append("</div>")
        return "".join(parts)



class ComparisonView:
    """``%mlops compare``: a table of the parameters that differ and the latest metrics,
    then the metric histories as a Vega-Lite chart (PNG through matplotlib where it is
    installed, for frontends without Vega; plain text always)."""

    def __init__(self, comparison: Any, *, rich: bool = True) -> None:
        self.comparison = comparison
        self.rich = rich

    def __repr__(self) -> str:
        return str(self.comparison.to_text())

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.table_bundle(), raw=True)  # type: ignore[no-untyped-call]
        chart = self.chart_bundle()
        if chart is not None:
            display(chart, raw=True)  # type: ignore[no-untyped-call]

    def table_bundle(self) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.comparison.to_text()}
        if self.rich:
            bundle["text/html"] = self._html()
        return bundle

    def chart_bundle(self) -> dict[str, Any] | None:
        """The histories' chart; None when no run has a metric."""
        points = self.comparison.chart_points()
        if not points:
            return None
        keys = sorted({p["metric"] for p in points})
        bundle: dict[str, Any] = {"text/plain": "metric histories: " + ", ".join(keys)}
        if self.rich:
            bundle[VEGA_LITE] = self.comparison.vega_lite()
            png = _histories_png(points, keys)
            if png is not None:
                bundle["image/png"] = png
        return bundle

    def _html(self) -> str:
        c = self.comparison
        labels = c.labels
        head = "".join(f'<th style="text-align:left">{escape(labels[r.run_id])}<br>'
                       f'<code style="font-size:11px">{escape(r.run_id[:12])}</code> '
                       f"{escape(r.status)}</th>" for r in c.runs)

        def cells(values: dict[str, Any], number: bool = False) -> str:
            shown = []
            for r in c.runs:
                value = values.get(r.run_id)
                text = "—" if value is None else (f"{value:.6g}" if number else str(value))
                shown.append(f'<td style="text-align:left">{escape(text)}</td>')
            return "".join(shown)

        rows = []
        for p in c.params:
            style = ' style="background: rgba(255, 193, 7, 0.18)"' if p["differs"] else ""
            differs = "true" if p["differs"] else "false"
            rows.append(f'<tr data-param="{escape(p["key"])}" data-differs="{differs}"{style}>'
                        f'<td style="text-align:left"><code>{escape(p["key"])}</code>'
                        f"</td>{cells(p['values'])}</tr>")
        for m in c.metrics:
            rows.append(f'<tr data-metric="{escape(m["key"])}"><td style="text-align:left">'
                        f'<code>{escape(m["key"])}</code> (latest)</td>'
                        f"{cells(m['values'], number=True)}</tr>")
        differ = len(c.differences)
        summary = (f"{differ} of {len(c.params)} parameters differ (highlighted)"
                   if c.params else "no parameters")
        return ('<div class="mlops-compare" style="font-size: 13px">'
                f"<div>{escape(summary)}</div>"
                '<table style="border-collapse: collapse; margin-top: 4px">'
                f'<thead><tr><th style="text-align:left"></th>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table></div>")


def _histories_png(points: list[dict[str, Any]], keys: list[str]) -> str | None:
    """One small line chart per metric as a base64 PNG; None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    import base64
    import io

    columns = min(2, len(keys))
    rows = (len(keys) + columns - 1) // columns
    figure = Figure(figsize=(4.2 * columns, 2.6 * rows), dpi=80)
    for index, key in enumerate(keys):
        axes = figure.add_subplot(rows, columns, index + 1)
        for run in sorted({p["run"] for p in points if p["metric"] == key}):
            series = [(p["step"], p["value"]) for p in points
                      if p["metric"] == key and p["run"] == run]
            axes.plot([s for s, _ in series], [v for _, v in series], marker="o",
                      markersize=3, label=run)
        axes.set_title(key, fontsize=10)
        axes.set_xlabel("step", fontsize=8)
        axes.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def _is(result: Any, where: str, name: str) -> bool:
    """``result`` is ``where.name`` (a package that exports it, or its module): asked only
    when the type's name matches, so nothing is imported that is not loaded already."""
    if not any(cls.__name__ == name for cls in type(result).__mro__):
        return False
    return isinstance(result, getattr(importlib.import_module(where), name))


def wrap(result: Any, *, rich: bool = True) -> Any:
    """The object the magic returns for a verb's result, so Jupyter displays it well."""
    if isinstance(result, StatusReport):
        return StatusView(result, rich=rich)
    if _is(result, "jupyter_mlops.tracking", "Comparison"):
        return ComparisonView(result, rich=rich)
    if _is(result, "jupyter_mlops.review", "NotebookDiff"):
        return DiffView(result, rich=rich)
    if _is(result, "jupyter_mlops.features.verbs", "FoundViews"):
        return result.frame()  # a table to filter and sort
    if _is(result, "jupyter_mlops.features.verbs", "ShownView"):
        return FeatureViewShown(result, rich=rich)
    if _is(result, "jupyter_mlops.features.verbs", "Retrieved"):
        return RetrievedView(result, rich=rich)
    if _is(result, "jupyter_mlops.deploy.verbs", "DryRun"):
        return result.deployment  # its card says "dry-run"; the manifest is in its details
    return result


# --------------------------------------------------------------------------- formatters

#: core types a notebook keeps as they are, drawn by the shell's display formatter: (the
#: module that defines the type, its name, the ``jupyter_mlops.pipeline.render`` function
#: that draws it as HTML); their text is their ``to_text()``. By name, so loading the
#: extension imports none of them
FORMATTED: tuple[tuple[str, str, str], ...] = (
    ("jupyter_mlops.pipeline.model", "Pipeline", "pipeline_html"),
    ("jupyter_mlops.pipeline.results", "RunResult", "run_html"),
)


def _plain(obj: Any, printer: Any, cycle: bool) -> None:
    printer.text(obj.to_text())


def add_formatters(shell: Any, rich: Callable[[], bool]) -> None:
    """Teach ``shell``'s display formatter the ``FORMATTED`` types (HTML while ``rich()``)."""
    formatters = shell.display_formatter.formatters
    for module, name, draw in FORMATTED:

        def html(obj: Any, draw: str = draw) -> str | None:
            if not rich():
                return None
            render = importlib.import_module("jupyter_mlops.pipeline.render")
            text: str = getattr(render, draw)(obj)
            return text

        formatters["text/plain"].for_type_by_name(module, name, _plain)
        formatters["text/html"].for_type_by_name(module, name, html)
    views = shell.display_formatter.ipython_display_formatter
    for module, name, view in VIEWED:

        def show(obj: Any, view: type[ResultView] = view) -> None:
            shown = view(obj, rich=rich())
            own = getattr(shown, "_ipython_display_", None)
            if callable(own):
                own()
            else:
                from IPython.display import display

                display(shown._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]

        views.for_type_by_name(module, name, show)


def remove_formatters(shell: Any) -> None:
    """Undo ``add_formatters`` (whether or not the types were displayed since)."""
    formatters = shell.display_formatter.formatters
    for module, name, _draw in FORMATTED:
        for mime in ("text/plain", "text/html"):
            formatters[mime].pop(f"{module}.{name}", None)
    for module, name, _view in VIEWED:
        shell.display_formatter.ipython_display_formatter.pop(f"{module}.{name}", None)


# --------------------------------------------------------------------------- features


class FeatureViewShown(ResultView):
    """``%mlops features show``: the view's card, with its statistics when asked for."""

    def html(self) -> str:
        html: str = self.result.view._repr_html_()
        if self.result.with_stats:
            html += self.result.view.stats.to_frame().to_html()
        return html


class RetrievedView(ResultView):
    """``%mlops features get --into VAR``: where the frame went, and its first rows."""

    def html(self) -> str:
        return (f'<div class="mlops-features-retrieved"><div>{escape(self.text())}</div>'
                f"{self.result.frame.head(5).to_html()}</div>")


# --------------------------------------------------------------------------- notebook diffs

_DIFF_BG = {"delete": "rgba(248, 81, 73, 0.15)", "insert": "rgba(46, 160, 67, 0.15)"}
_DIFF_MARK = {"delete": "rgba(248, 81, 73, 0.4)", "insert": "rgba(46, 160, 67, 0.4)"}
_STATUS_COLORS = {"added": "#2e7d32", "removed": "#c62828", "modified": "#ef6c00",
                  "moved": "#1565c0"}
#: changed cells shown inline; the rest are counted (the diff view shows them all)
DIFF_CELLS_SHOWN = 100


def _diff_text(text: str | None, spans: list[tuple[int, int]], op: str) -> str:
    """One side of a line, its changed characters marked."""
    if text is None:
        return ""
    if not spans:
        return escape(text)
    out, last = [], 0
    for start, end in spans:
        out.append(escape(text[last:start]))
        out.append(f'<span style="background:{_DIFF_MARK[op]}">{escape(text[start:end])}'
                   "</span>")
        last = end
    out.append(escape(text[last:]))
    return "".join(out)


def _diff_row(line: Any) -> str:
    cell = "padding:0 6px; white-space:pre; vertical-align:top; text-align:left"
    num = "padding:0 4px; opacity:.5; text-align:right; user-select:none; vertical-align:top"
    base_spans = [tuple(p.base) for p in line.inline or [] if p.op == "delete" and p.base]
    head_spans = [tuple(p.head) for p in line.inline or [] if p.op == "insert" and p.head]
    left_bg = _DIFF_BG["delete"] if line.op in ("delete", "replace") else "transparent"
    right_bg = _DIFF_BG["insert"] if line.op in ("insert", "replace") else "transparent"
    return (f'<tr data-op="{line.op}">'
            f'<td style="{num}">{line.base_line or ""}</td>'
            f'<td style="{cell}; background:{left_bg}">'
            f"{_diff_text(line.base_text, base_spans, 'delete')}</td>"
            f'<td style="{num}">{line.head_line or ""}</td>'
            f'<td style="{cell}; background:{right_bg}">'
            f"{_diff_text(line.head_text, head_spans, 'insert')}</td></tr>")


_TABLE = ('<table style="border-collapse:collapse; font-family: var(--jp-code-font-family, '
          'monospace); font-size: 12px; width:100%; table-layout:fixed"><colgroup>'
          '<col style="width:3em"><col><col style="width:3em"><col></colgroup>')
#: lines of a text output shown inline
OUTPUT_LINES = 12


def _output_html(output: Any) -> str:
    """One output, compactly: its text (first lines), or its image, or what kind it is."""
    if not isinstance(output, dict):
        return ""
    raw = output.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for mime in ("image/png", "image/jpeg"):
        if isinstance(data.get(mime), str):
            src = "".join(data[mime].split())
            return (f'<img alt="{mime}" src="data:{mime};base64,{escape(src)}" '
                    'style="max-width:100%; max-height:240px">')
    kind = output.get("output_type")
    if kind == "stream":
        text = str(output.get("text", ""))
    elif kind == "error":
        text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
    else:
        plain = data.get("text/plain")
        text = plain if isinstance(plain, str) else f"[{', '.join(sorted(data)) or kind}]"
    lines = text.splitlines()
    more = len(lines) - OUTPUT_LINES
    body = "\n".join(lines[:OUTPUT_LINES]) + (f"\n… {more} more lines" if more > 0 else "")
    return f'<pre style="margin:0; white-space:pre-wrap">{escape(body)}</pre>'


def _outputs_html(outputs: list[Any]) -> str:
    if not outputs:
        return '<span style="opacity:.5">no output</span>'
    return "".join(_output_html(o) for o in outputs)


def diff_html(result: Any) -> str:
    """A notebook diff as HTML: each changed cell's source side by side, lines coloured."""
    changed = result.changed_cells()
    parts = [
        '<div class="mlops-diff" data-mlops-diff style="font-family: var(--jp-ui-font-family, '
        'sans-serif); font-size: 13px; line-height: 1.4">',
        f"<div><b>{escape(result.path)}</b>: {escape(result.base.label)} → "
        f"{escape(result.head.label)}</div>",
        f'<div style="opacity:.8">{escape(result.summary.to_text())}</div>',
    ]
    if not changed:
        parts.append('<div style="margin-top:4px">No changes.</div>')
    for cell in changed[:DIFF_CELLS_SHOWN]:
        color = _STATUS_COLORS.get(cell.status, "inherit")
        where = (f"{cell.base_index} → {cell.head_index}" if cell.status == "moved"
                 else cell.head_index if cell.head_index is not None else cell.base_index)
        both_sides = cell.status in ("modified", "moved")
        notes = [n for n, on in (("outputs changed", cell.outputs_changed and both_sides),
                                 ("metadata changed", cell.metadata_changed)) if on]
        parts.append(
            f'<div data-cell-status="{cell.status}" style="margin-top:8px; border-left:3px '
            f'solid {color}; padding-left:6px"><div><b style="color:{color}">{cell.status}'
            f"</b> {escape(cell.cell_type)} cell {escape(str(where))}"
            + (f' <span style="opacity:.6">{escape(", ".join(notes))}</span>' if notes else "")
            + "</div>")
        shown_lines = cell.lines if cell.source_changed or not both_sides else (
            cell.lines[:3] if cell.status == "moved" else [])  # a moved cell: which one
        if shown_lines:
            parts.append(_TABLE)
            parts.extend(_diff_row(line) for line in shown_lines)
            if len(shown_lines) < len(cell.lines):
                parts.append('<tr><td></td><td style="opacity:.5">…</td><td></td>'
                             '<td style="opacity:.5">…</td></tr>')
            parts.append("</table>")
        if cell.outputs_changed and both_sides:
            out = ("vertical-align:top; padding:2px 6px; background:rgba(127,127,127,.08); "
                   "border-top:1px dashed rgba(127,127,127,.4)")
            label = ('<td style="vertical-align:top; opacity:.5; text-align:right; '
                     'padding:2px 4px">out</td>')
            parts.append(f'{_TABLE}<tr data-outputs>{label}<td style="{out}">'
                         f"{_outputs_html(cell.base_outputs)}</td>{label}"
                         f'<td style="{out}">{_outputs_html(cell.head_outputs)}'
                         "</td></tr></table>")
        parts.append("</div>")
    if len(changed) > DIFF_CELLS_SHOWN:
        parts.append(f'<div style="margin-top:6px; opacity:.7">… and '
                     f"{len(changed) - DIFF_CELLS_SHOWN} more changed cells: open the review "
                     "in the Review panel to see them all</div>")
    parts.append("</div>")
    return "".join(parts)


class DiffView(ResultView):
    """``%mlops diff``: the changed cells side by side (plain text for terminals)."""

    def html(self) -> str:
        return diff_html(self.result)
