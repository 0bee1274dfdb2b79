"""Rich displays of the monitor's results: a deployment's summary card with its sparklines,
the drift report with its histograms, labels logged, the metric over time, rules and checks.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .views import COLORS, MARKS, VEGA_LITE, ResultView


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
        error = (f' · <span style="color:{COLORS["error"]}">{escape(str(log["error"]))}'
                 "</span>" if log["error"] else "")
        rows.append(("Inference log", f"{log['rows_written'] or 0:,} rows written · "
                     f"{log['dropped'] or 0:,} dropped · {log['sampled_out'] or 0:,} "
                     f"sampled out{error}"))
        if s.message:
            rows.append(("Note", escape(s.message)))
        color = COLORS["ok"] if s.status == "serving" else COLORS["warning"]
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
        color = COLORS["error"] if drifted else COLORS["ok"]
        verdict = (f"{len(drifted)} of {len(d['features'])} features drifted: "
                   + ", ".join(drifted) if drifted else
                   f"no drift in {len(d['features'])} features")
        parts = [head, f'<div style="color:{color}">{escape(verdict)}</div>']
        if d.get("message"):
            parts.append(f'<div style="color:{COLORS["warning"]}">{escape(d["message"])}</div>')
        rows = []
        for f in d["features"]:
            style = f' style="background:{_DRIFTED_BG}"' if f["drifted"] else ""
            status = ("drifted" if f["drifted"] else "no data" if f["statistic"] is None
                      else "ok")
            mark = {"drifted": COLORS["error"], "ok": COLORS["ok"]}.get(status, "#888")
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
                    f'<span style="color:{COLORS[level]}">{MARKS[level]}</span> '
                    f"{escape(self.text())}")


def _result_html(result: Any) -> str:
    """A rule's last firing (``{status, run_id, log, error}``, or an engine's run with its
    link), coloured by its status."""
    if not isinstance(result, dict) or not result.get("status"):
        return '<span style="opacity:.5">—</span>'
    status = str(result["status"])
    color = {"succeeded": COLORS["ok"], "failed": COLORS["error"]}.get(status, "#1565c0")
    url = str(result.get("url") or "")
    engine_run = (f"{escape(str(result['engine']))} run "
                  + (f'<a href="{escape(url)}" target="_blank" rel="noopener">'
                     f"<code>{escape(str(result.get('engine_run')))}</code></a>"
                     if url.startswith(("http://", "https://")) else
                     f"<code>{escape(str(result.get('engine_run')))}</code>")
                  ) if result.get("engine") else ""
    extra = [engine_run,
             f"run <code>{escape(str(result['run_id'])[:12])}</code>"
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
            color = COLORS["warning"] if r["fired"] else "#888"
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
            head += f'<div style="color:{COLORS["warning"]}">{escape(str(d["message"]))}</div>'
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
