"""Rich displays of the core's results: HTML for Jupyter frontends, text for terminals."""

from __future__ import annotations

from html import escape
from typing import Any

from jupyter_mlops.status import StatusReport

_COLORS = {"ok": "#2e7d32", "warning": "#ef6c00", "error": "#c62828"}
_MARKS = {"ok": "✓", "warning": "!", "error": "✗"}


class StatusView:
    """``%mlops status``: the same report as the sidebar shows."""

    def __init__(self, report: StatusReport, *, rich: bool = True) -> None:
        self.report = report
        self.rich = rich

    def __repr__(self) -> str:
        return self.report.to_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.report.to_text()}
        if self.rich:
            bundle["text/html"] = self._html()
        return bundle

    def _html(self) -> str:
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
            coming = "" if cap.built else (
                f' <span style="opacity:.6">(coming in issue #{cap.issue})</span>')
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
                f"<b>{escape(cap.title)}</b>{coming}</td>"
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


def wrap(result: Any, *, rich: bool = True) -> Any:
    """The object the magic returns for a verb's result, so Jupyter displays it well."""
    if isinstance(result, StatusReport):
        return StatusView(result, rich=rich)
    return result
