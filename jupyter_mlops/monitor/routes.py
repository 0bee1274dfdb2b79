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
    GET monitor/deployments/NAME/drift?since=&until=
                                     DriftReport.to_dict(): {name, since, until, reference:
                                      {origin, rows}, current_rows, features: [{feature, kind,
                                      method, statistic, threshold, drifted, reference_rows,
                                      current_rows}], drifted: [feature], missing: [feature],
                                      histograms: {feature: {bins, reference, current}},
                                      message}; without a reference: 200 with features [],
                                      reference null and message the how-to line
    GET monitor/deployments/NAME/performance?metric=accuracy&since=&until=&by=1h
                                     {metric, by, training, points: [{t, value, rows}],
                                      message} (metric: accuracy, f1, auc, rmse or mae)
    GET monitor/deployments/NAME/rules
                                     {rules: [{id, when, then, target, cooldown_s, created,
                                      last_fired, last_result}]}
    POST monitor/deployments/NAME/rules  {when, then, target?, cooldown?}
                                     the rule added (201); then: a notebook relative to the
                                      project folder; cooldown: seconds or a duration (6h)
    DELETE monitor/deployments/NAME/rules/ID
                                     {removed: ID}
    POST monitor/deployments/NAME/check  {dry_run?: false}
                                     CheckResult.to_dict(): {name, checked_at, dry_run,
                                      rules: [{id, when, holds, fired, skipped, reason,
                                      result}]}

An unknown deployment (or rule) is a 404; a ``since``/``until``/``limit``/``metric``/``by``, a
rule or a body that does not parse a 400, each with its one-line message. Every route's work
(reading the log, comparing it with the reference, checking rules, which may start a
pipeline) runs in an executor, never on the event loop.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tornado import web

from ..deploy.state import check_name
from ..errors import UserInputError
from ..server.base import MLOpsHandler
from .timespan import parse_time

#: rows a panel gets when it does not say how many
DEFAULT_LIMIT = 50


class MonitorHandler(MLOpsHandler):
    def deployment_name(self, raw: str) -> str:
        return check_name(raw)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """``?since=&until=`` as UTC times (absent or empty: None), read once so that a
        duration means the same instant throughout the request; one line if unreadable."""
        return (parse_time(self.get_argument("since", None) or None, "since"),
                parse_time(self.get_argument("until", None) or None, "until"))


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


class DriftHandler(MonitorHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from .drift import drift
        from .reference import NoReference

        name, folder = self.deployment_name(raw), self.folder()
        since, until = self.window()

        def report() -> dict[str, Any]:
            try:
                return drift(name, since=since, until=until, cwd=folder).to_dict()
            except NoReference as exc:  # not the caller's mistake: the panel shows how
                return {"name": name, "since": _iso(since), "until": _iso(until),
                        "reference": None, "current_rows": None, "features": [],
                        "drifted": [], "missing": [], "histograms": {}, "message": str(exc)}

        self.reply(await self.in_executor(report))


class PerformanceHandler(MonitorHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from .performance import performance, performance_dict

        name, folder = self.deployment_name(raw), self.folder()
        since, until = self.window()
        by = self.get_argument("by", "1h")
        metric: Any = self.get_argument("metric", "accuracy")  # performance() names the known

        def points() -> dict[str, Any]:
            return performance_dict(performance(name, metric, since=since, until=until, by=by,
                                                cwd=folder))

        self.reply(await self.in_executor(points))


class RulesHandler(MonitorHandler):
    @web.authenticated
    async def get(self, raw: str) -> None:
        from .rules import rules

        name, folder = self.deployment_name(raw), self.folder()
        found = await self.in_executor(lambda: rules(name, cwd=folder))
        self.reply({"rules": [r.to_dict() for r in found]})

    @web.authenticated
    async def post(self, raw: str) -> None:
        from .rules import rule

        name, folder = self.deployment_name(raw), self.folder()
        body = self.body()
        unknown = set(body) - {"when", "then", "target", "cooldown", "path"}
        if unknown:
            raise UserInputError(f"unknown fields: {', '.join(sorted(unknown))}")
        when, then = _text(body, "when"), _text(body, "then")
        target, cooldown = _text(body, "target", "local"), body.get("cooldown")
        if cooldown is not None and not isinstance(cooldown, int | str):
            raise UserInputError(f"cooldown: give seconds or a duration (6h), not {cooldown!r}")
        added = await self.in_executor(lambda: rule(name, when, then, target=target,
                                                    cooldown=cooldown, cwd=folder))
        self.reply(added.to_dict(), 201)


class RuleHandler(MonitorHandler):
    @web.authenticated
    async def delete(self, raw: str, rule_id: str) -> None:
        from .rules import remove_rule

        name, folder = self.deployment_name(raw), self.folder()
        removed = await self.in_executor(lambda: remove_rule(name, rule_id, cwd=folder))
        self.reply({"removed": removed.to_dict()["id"]})


class CheckHandler(MonitorHandler):
    @web.authenticated
    async def post(self, raw: str) -> None:
        from .check import check

        name, folder = self.deployment_name(raw), self.folder()
        body = self.body()
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise UserInputError(f"dry_run must be true or false, not {dry_run!r}")
        result = await self.in_executor(lambda: check(name, fire=not dry_run, cwd=folder))
        self.reply(result.to_dict())


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    """The body's text ``key`` (``default`` when absent; required when there is none)."""
    value = body.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise UserInputError(f"'{key}' is required: text" if default is None
                             else f"'{key}' must be text, not {value!r}")
    return value.strip()


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("monitor/deployments", DeploymentsHandler),
    ("monitor/deployments/(.*)/inferences", InferencesHandler),
    ("monitor/deployments/(.*)/drift", DriftHandler),
    ("monitor/deployments/(.*)/performance", PerformanceHandler),
    ("monitor/deployments/(.*)/rules", RulesHandler),
    ("monitor/deployments/(.*)/rules/(.*)", RuleHandler),
    ("monitor/deployments/(.*)/check", CheckHandler),
    ("monitor/deployments/(.*)", SummaryHandler),
]
