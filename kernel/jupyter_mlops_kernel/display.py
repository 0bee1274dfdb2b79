"""Rich displays of the verbs' results: the one home of their HTML.

The core's verbs return plain result objects (a ``StatusReport``, a ``Pipeline``, a
``NotebookDiff``, …) and render no HTML; ``wrap`` turns a result into what the magic returns
so Jupyter shows it well, and ``add_formatters`` teaches the shell's display formatter the
core types a notebook keeps as they are (a ``Pipeline``, a ``RunResult``), drawn through
``jupyter_mlops.pipeline.render`` or shown by a view of this module (a ``MonitorSummary``).
Objects of the Python API that have their own ``_repr_html_`` (a ``FeatureView``, a
``Deployment``) keep it. Live progress is in
``progress``. Plain text always comes along, for terminals.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from html import escape
from typing import Any

from jupyter_mlops.status import StatusReport

_COLORS = {"ok": "#2e7d32", "warning": "#ef6c00", "error": "#c62828"}
_MARKS = {"ok": "✓", "warning": "!", "error": "✗"}


class ResultView:
    """A verb's result as the magic returns it: its text always (``to_text()``, else
    ``str``), its HTML (``html()``) while the magic's ``rich`` setting is on."""

    def __init__(self, result: Any, *, rich: bool = True) -> None:
        self.result = result
        self.rich = rich

    def text(self) -> str:
        to_text = getattr(self.result, "to_text", None)
        return str(to_text() if callable(to_text) else self.result)

    def html(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.text()}
        if self.rich:
            bundle["text/html"] = self.html()
        return bundle


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
            parts.append(f'<div style="color:{_COLORS["error"]}"><b>Config error:</b> '
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
            color = _COLORS[cap.state]
            checks = "<br>".join(
                f'<span style="color:{_COLORS[c.level]}">{_MARKS[c.level]}</span> '
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


VEGA_LITE = "application/vnd.vegalite.v5+json"


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


# --------------------------------------------------------------------------- monitor


class MonitorView(ResultView):
    """A ``MonitorSummary`` (``%mlops monitor NAME``, ``mlops.monitor.summary(NAME)``): the
    deployment's card (version, device, totals, the inference log), then its series as
    Vega-Lite sparklines; text with sparklines for terminals."""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
        if self.rich and self.result.samples:
            display({"text/plain": "requests/s, p50/p99 latency, error rate, batch size",
                     VEGA_LITE: self.result.vega_lite()}, raw=True)  # type: ignore[no-untyped-call]

    def html(self) -> str:
        s = self.result
        data = s.to_dict()
        totals, log = data["totals"], data["log"]
        rows = [("Version", escape(", ".join(f"v{v['version']} ({v.get('traffic', 0)}%)"
                                             for v in s.versions) if len(s.versions) > 1
                                   else f"v{s.version}" if s.version is not None else "-"))]
        if s.device:
            rows.append(("Device", escape(s.device)))
        if s.url:
            rows.append(("URL", f"<code>{escape(s.url)}</code>"))
        if totals["available"]:
            rows.append(("Requests", f"{totals['requests']:,} ({totals['errors']:,} errors, "
                         f"{totals['client_errors']:,} client errors) · "
                         f"{totals['rows']:,} rows"))
        error = (f' · <span style="color:{_COLORS["error"]}">{escape(str(log["error"]))}'
                 "</span>" if log["error"] else "")
        rows.append(("Inference log", f"{log['rows_written'] or 0:,} rows written · "
                     f"{log['dropped'] or 0:,} dropped · {log['sampled_out'] or 0:,} "
                     f"sampled out{error}"))
        if s.message:
            rows.append(("Note", escape(s.message)))
        color = _COLORS["ok"] if s.status == "serving" else _COLORS["warning"]
        body = "".join(f'<tr><td style="text-align:left;opacity:.7;padding:2px 10px 2px 0">'
                       f'{k}</td><td style="text-align:left">{v}</td></tr>' for k, v in rows)
        return (f'<div class="mlops-monitor" data-deployment="{escape(s.name)}" '
                f'data-status="{escape(s.status)}" style="font-family: '
                'var(--jp-ui-font-family, sans-serif); font-size: 13px; border: 1px solid #ccc;'
                ' border-radius: 4px; padding: 8px 12px; display: inline-block">'
                f'<div><b>{escape(s.name)}</b> <span style="color:{color}">● '
                f'{escape(s.status)}</span> <span style="opacity:.6">({escape(s.target)})'
                f"</span></div><table>{body}</table></div>")


# --------------------------------------------------------------------------- Monitor II

_ROW_STYLE = "text-align:left; padding:2px 8px"
_DRIFTED_BG = "rgba(198, 40, 40, 0.14)"


def _number(value: Any) -> str:
    if value is None or value != value:  # NaN: no value
        return "—"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else (
        f"{value:.4g}" if isinstance(value, float) else str(value))


def _utc(iso: Any) -> str | None:
    """An ISO 8601 time of a result as a short UTC time (None stays None)."""
    return f"{str(iso)[:19].replace('T', ' ')} UTC" if iso else None


def _table(head: list[str], rows: list[str]) -> str:
    cells = "".join(f'<th style="{_ROW_STYLE}">{escape(h)}</th>' for h in head)
    return (f'<table style="border-collapse: collapse; margin-top: 4px"><thead><tr>{cells}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _box(kind: str, attrs: str, body: str) -> str:
    return (f'<div class="mlops-{kind}" {attrs} style="font-family: var(--jp-ui-font-family, '
            f'sans-serif); font-size: 13px; line-height: 1.5">{body}</div>')


class ChartedView(ResultView):
    """A result shown as its card or table, then its Vega-Lite charts (while rich)."""

    def charts(self) -> list[dict[str, Any]]:
        return []

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
        if self.rich:
            for chart in self.charts():
                display(chart, raw=True)  # type: ignore[no-untyped-call]


class DriftView(ChartedView):
    """A ``DriftReport`` (``%mlops drift NAME``, ``mlops.monitor.drift(NAME)``): one row per
    feature, drifted ones red, then the reference against the current distributions."""

    def html(self) -> str:
        d = self.result.to_dict()
        reference = d.get("reference") or {}
        window = (f"{_utc(d.get('since')) or 'the start of the log'} → "
                  f"{_utc(d.get('until')) or 'now'}")
        head = (f"<div><b>{escape(str(d['name']))}</b>: drift of {_number(d['current_rows'])}"
                f" logged rows ({escape(window)}) against {_number(reference.get('rows'))} "
                f"reference rows</div>")
        if reference.get("origin"):
            head += f'<div style="opacity:.7">reference: {escape(str(reference["origin"]))}</div>'
        drifted = d.get("drifted") or []
        color = _COLORS["error"] if drifted else _COLORS["ok"]
        verdict = (f"{len(drifted)} of {len(d['features'])} features drifted: "
                   + ", ".join(drifted) if drifted else
                   f"no drift in {len(d['features'])} features")
        parts = [head, f'<div style="color:{color}">{escape(verdict)}</div>']
        if d.get("message"):
            parts.append(f'<div style="color:{_COLORS["warning"]}">{escape(d["message"])}</div>')
        rows = []
        for f in d["features"]:
            style = f' style="background:{_DRIFTED_BG}"' if f["drifted"] else ""
            status = ("drifted" if f["drifted"] else "no data" if f["statistic"] is None
                      else "ok")
            mark = {"drifted": _COLORS["error"], "ok": _COLORS["ok"]}.get(status, "#888")
            cells = [escape(str(f["feature"])), escape(str(f["kind"])), escape(str(f["method"])),
                     _number(f["statistic"]),
                     # ks and chisquare give a p-value (drifted below it), the others a distance
                     f"{'p &lt; ' if f['method'] in ('ks', 'chisquare') else '≥ '}"
                     f"{_number(f['threshold'])}",
                     f'<span style="color:{mark}">● {status}</span>',
                     _number(f["reference_rows"]), _number(f["current_rows"])]
            rows.append(f'<tr data-feature="{escape(str(f["feature"]))}" data-drifted='
                        f'"{str(bool(f["drifted"])).lower()}"{style}>'
                        + "".join(f'<td style="{_ROW_STYLE}">{c}</td>' for c in cells) + "</tr>")
        if rows:
            parts.append(_table(["feature", "kind", "method", "statistic", "threshold",
                                 "status", "reference rows", "current rows"], rows))
        if d.get("missing"):
            parts.append(f'<div style="opacity:.7">not in the reference: '
                         f"{escape(', '.join(map(str, d['missing'])))}</div>")
        return _box("drift", f'data-deployment="{escape(str(d["name"]))}"', "".join(parts))

    def charts(self) -> list[dict[str, Any]]:
        if not self.result.histograms:
            return []
        features = ", ".join(self.result.histograms)
        return [{"text/plain": f"reference vs current: {features}",
                 VEGA_LITE: self.result.vega_lite()}]


class LabelsView(ResultView):
    """``LabelsLogged``: how many labels, how many matched a logged request (orange when
    some matched none, red when none matched)."""

    def html(self) -> str:
        d = self.result.to_dict()
        level = ("error" if not d.get("matched") else
                 "warning" if d.get("unmatched") else "ok")
        return _box("labels", f'data-level="{level}"',
                    f'<span style="color:{_COLORS[level]}">{_MARKS[level]}</span> '
                    f"{escape(self.text())}")


def _result_html(result: Any) -> str:
    """A rule's last firing (``{status, run_id, log, error}``), coloured by its status."""
    if not isinstance(result, dict) or not result.get("status"):
        return '<span style="opacity:.5">—</span>'
    status = str(result["status"])
    color = {"succeeded": _COLORS["ok"], "failed": _COLORS["error"]}.get(status, "#1565c0")
    extra = [f"run <code>{escape(str(result['run_id'])[:12])}</code>"
             if result.get("run_id") else "",
             f"log <code>{escape(str(result['log']))}</code>" if result.get("log") else "",
             escape(str(result["error"])) if result.get("error") else ""]
    return (f'<span style="color:{color}">{escape(status)}</span> '
            + " · ".join(e for e in extra if e))


class RulesView(ResultView):
    """``%mlops rule add|list|remove``: the deployment's rules with their last firing."""

    def html(self) -> str:
        shown = self.result
        if shown.action != "listed" or not shown.rules:
            return _box("rules", f'data-action="{shown.action}"', escape(self.text()))
        rows = []
        for r in (rule.to_dict() for rule in shown.rules):
            cells = [f"<code>{escape(str(r['id']))}</code>", escape(str(r["when"])),
                     escape(str(r["then"])), escape(str(r["target"])),
                     "default" if r["cooldown_s"] is None else f"{_number(r['cooldown_s'])} s",
                     escape(_utc(r.get("last_fired")) or "never"),
                     _result_html(r.get("last_result"))]
            rows.append(f'<tr data-rule="{escape(str(r["id"]))}">'
                        + "".join(f'<td style="{_ROW_STYLE}">{c}</td>' for c in cells) + "</tr>")
        return _box("rules", 'data-action="listed"',
                    f"<div><b>{escape(shown.name)}</b>: {len(rows)} rules</div>"
                    + _table(["id", "when", "then", "target", "cooldown", "last fired",
                              "last result"], rows))


class RuleView(ResultView):
    """A ``Rule`` (``mlops.monitor.rule(...)``): its one line, not the dataclass's fields."""

    def html(self) -> str:
        return _box("rules", f'data-rule="{escape(str(self.result.id))}"', escape(self.text()))


class CheckView(ResultView):
    """A ``CheckResult`` (``%mlops check NAME``): each rule, whether it fired, and why."""

    def html(self) -> str:
        d = self.result.to_dict()
        rows = []
        for r in d["rules"]:
            state = ("fired" if r["fired"] else f"skipped ({r['skipped']})" if r["skipped"]
                     else {True: "holds", False: "not met", None: "not evaluated"}[r["holds"]])
            color = _COLORS["warning"] if r["fired"] else "#888"
            style = ' style="background: rgba(239, 108, 0, 0.12)"' if r["fired"] else ""
            cells = [f"<code>{escape(str(r['id']))}</code>", escape(str(r["when"])),
                     f'<span style="color:{color}">{escape(state)}</span>',
                     escape(str(r.get("reason") or "")), _result_html(r.get("result"))]
            rows.append(f'<tr data-rule="{escape(str(r["id"]))}" data-fired='
                        f'"{str(bool(r["fired"])).lower()}"{style}>'
                        + "".join(f'<td style="{_ROW_STYLE}">{c}</td>' for c in cells) + "</tr>")
        fired = sum(1 for r in d["rules"] if r["fired"])
        head = (f"<div><b>{escape(str(d['name']))}</b>: {len(rows)} rules checked at "
                f"{escape(_utc(d['checked_at']) or '')}, {fired} fired"
                + (" (dry run: nothing started)" if d.get("dry_run") else "") + "</div>")
        body = _table(["rule", "when", "state", "reason", "result"], rows) if rows else (
            '<div style="opacity:.7">no rules: add one with %mlops rule add</div>')
        return _box("check", f'data-deployment="{escape(str(d["name"]))}"', head + body)


class PerformanceView(ChartedView):
    """``%mlops performance NAME``: the metric per bucket as a table, then a line chart with
    the training run's value as a dashed rule."""

    def html(self) -> str:
        d = self.result.to_dict()
        training = (f" (training run: {_number(d['training'])})" if d.get("training")
                    is not None else " (no training value logged)")
        head = (f"<div><b>{escape(str(d['name']))}</b>: {escape(str(d['metric']))} per "
                f"{escape(str(d['by']))}{escape(training)}</div>")
        if d.get("message"):
            head += f'<div style="color:{_COLORS["warning"]}">{escape(str(d["message"]))}</div>'
        rows = [f'<tr><td style="{_ROW_STYLE}">{escape(str(p["t"]))}</td>'
                f'<td style="{_ROW_STYLE}">{_number(p["value"])}</td>'
                f'<td style="{_ROW_STYLE}">{_number(p["rows"])}</td></tr>' for p in d["points"]]
        table = _table(["time (UTC)", "value", "labelled rows"], rows) if rows else ""
        return _box("performance", f'data-metric="{escape(str(d["metric"]))}"', head + table)

    def charts(self) -> list[dict[str, Any]]:
        if not any(p["value"] is not None for p in self.result.to_dict()["points"]):
            return []
        return [{"text/plain": f"{self.result.metric} over time",
                 VEGA_LITE: self.result.vega_lite()}]


#: core types shown as several outputs (a card, then charts) by a view of this module: (the
#: module that defines the type, its name, the view); by name, like ``FORMATTED``
VIEWED: tuple[tuple[str, str, type[ResultView]], ...] = (
    ("jupyter_mlops.monitor.overview", "MonitorSummary", MonitorView),
    ("jupyter_mlops.monitor.drift_report", "DriftReport", DriftView),
    ("jupyter_mlops.monitor.check", "CheckResult", CheckView),
    ("jupyter_mlops.monitor.labels", "LabelsLogged", LabelsView),
    ("jupyter_mlops.monitor.rules", "Rule", RuleView),
    ("jupyter_mlops.monitor.verbs", "RulesShown", RulesView),
    ("jupyter_mlops.monitor.verbs", "Performance", PerformanceView),
)
