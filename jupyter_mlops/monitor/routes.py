"""REST routes of the Monitor panel.

Every route takes ``?path=FOLDER`` (relative to the server root; default the root): the
project whose configuration, deployments and ``.mlops/monitoring`` are meant.

    GET monitor/deployments          {deployments: [{name, target, status, version, device,
                                      url}]}: every deployment, with its live status
    GET monitor/deployments/NAME?since=1h
                                     MonitorSummary.to_dict(): {name, target, status,
                                      version, versions: [{version, status, device, run_id,
                                      model, traffic, requests}], device, run_id, url,
                                      interval_s, since, series: {t: [ISO 8601], rps,
                                      p50_ms, p99_ms, error_rate, batch_size (lists as long
                                      as t; null where an interval had no request)},
                                      totals: {requests, errors, client_errors, rows, by_code,
                                      by_version, available}, log: {rows_written, dropped,
                                      sampled_out, error}, message}
    GET monitor/deployments/NAME/inferences?since=&until=&limit=50
                                     {columns: [name], rows: [[value]] (oldest first, the
                                      latest ``limit``; timestamps ISO 8601 UTC), total: the
                                      rows of the window}

An unknown deployment is a 404, a ``since``/``until``/``limit`` that does not parse a 400,
each with its one-line message.
"""

from __future__ import annotations

import json
from typing import Any

from tornado import web

from ..deploy.state import check_name
from ..errors import UserInputError
from ..server.base import MLOpsHandler

#: rows a panel gets when it does not say how many
DEFAULT_LIMIT = 50


class MonitorHandler(MLOpsHandler):
    def deployment_name(self, raw: str) -> str:
        return check_name(raw)


class DeploymentsHandler(MonitorHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..deploy import deployments

        folder = self.folder()

        def collect() -> dict[str, Any]:
            found = deployments(cwd=folder)
            return {"deployments": [
                {"name": d.name, "target": d.target, "status": d.status,
                 "version": d.version, "device": d.device, "url": d.url} for d in found]}

        self.reply(await self.in_executor(collect))


class SummaryHandler(MonitorHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from .api import summary

        name, folder = self.deployment_name(raw), self.folder()
        since = self.get_argument("since", "1h")
        found = await self.in_executor(lambda: summary(name, since, cwd=folder))
        self.reply(found.to_dict())


class InferencesHandler(MonitorHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from .api import read_log

        name, folder = self.deployment_name(raw), self.folder()
        since, until = self.get_argument("since", None), self.get_argument("until", None)
        text = self.get_argument("limit", str(DEFAULT_LIMIT))
        try:
            limit = int(text)
        except ValueError:
            raise UserInputError(f"limit must be a whole number, not {text!r}") from None

        def page() -> dict[str, Any]:
            frame, total = read_log(name, since or None, until or None, limit, cwd=folder)
            split = json.loads(frame.to_json(orient="split", index=False, date_format="iso",
                                             date_unit="us"))
            return {"columns": split["columns"], "rows": split["data"], "total": total}

        self.reply(await self.in_executor(page))


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("monitor/deployments", DeploymentsHandler),
    ("monitor/deployments/(.*)/inferences", InferencesHandler),
    ("monitor/deployments/(.*)", SummaryHandler),
]
