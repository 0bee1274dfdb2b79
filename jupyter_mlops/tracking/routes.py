"""REST routes of the Experiments panel.

Every route takes ``?path=FOLDER`` (relative to the server root; default the root, or the
notebook's folder when ``notebook`` is given): the project whose configuration (and so whose
tracking store) is meant, as for ``status``.

    GET  runs?notebook=NB&experiment=NAME&offset=0&limit=50&sort=start_time&order=desc
            {runs: [Run], total, offset, limit, sort, order, truncated, experiment, notebook,
             tracking_uri, active, param_keys, metric_keys}
            The runs of notebook NB (relative to the server root; in any experiment unless
            ``experiment`` is given), else of ``experiment`` (default tracking.experiment).
            Sorted by start_time, end_time, duration, status, run_name, params.KEY or
            metrics.KEY over the newest 1000 runs (``truncated`` when there are more); a run
            without the value sorts last. ``active``: a run on the page is RUNNING.
            A sweep is one row, its parent run's: its trials are not listed, ``sweeps`` has
            {parent run id: {study, metric, direction, planned, trials, counts: {running,
            complete, pruned, fail}, best_value, best_run_id}} (GET sweeps/ID lists them).
            Run = {run_id, run_name, status, experiment_id, experiment, start_time, end_time
            (ms), duration (s, to now while RUNNING), params, metrics (latest), models:
            [{name, uri, flavor}], notebook, user, git_commit, error, url (MLflow's UI, for a
            tracking server)}
    GET  runs/compare?ids=ID,ID[,…]
            {runs: [Run], labels: {id: name}, params: [{key, values: {id: value}, differs}],
             metrics: [{key, values: {id: latest}}], histories: {id: {key: [[step, value,
             timestamp]]}}, spec: a Vega-Lite v5 spec of the histories}
    GET  runs/ID            Run + {tags (sources, git, host, notebook, error), artifacts,
                             artifact_uri}
    GET  runs/ID/artifacts?dir=SUB   {artifacts: [{path, is_dir, size}]} directly under SUB
    POST runs/ID/register  {model?, name?, alias?}
            -> {name, version, source, run_id, alias, uri}: the run's model (``model``: its
            name, when the run logged several) as a new version of ``name`` (default: the
            model's name), with ``alias`` pointing at it.

MLflow is called off the event loop and each call is bounded: a tracking server that does not
answer its health check within 2 s is a 503 at once, one that stops answering mid-call a 503
after ``handler.QUERY_TIMEOUT`` seconds. Passwords in the tracking URI are masked in every reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tornado import web

from ..errors import UserInputError
from ..server.base import MLOpsHandler
from .handler import TrackingHandler
from .sweep_routes import SweepHandler

RUN_ID = r"([0-9A-Za-z_-]+)"


class RunsHandler(TrackingHandler):
    @web.authenticated
    async def get(self) -> None:
        from .listing import search

        notebook = self.notebook_asked()
        folder = self.folder(notebook)
        experiment = self.get_argument("experiment", "") or None
        offset = self.whole("offset", 0, 0, 1_000_000)
        limit = self.whole("limit", 50, 1, 1000)
        sort = self.get_argument("sort", "start_time")
        order = self.get_argument("order", "desc")
        if order not in ("asc", "desc"):
            raise UserInputError(f"order must be 'asc' or 'desc', not '{order}'")
        config = await self.project_config(folder)

        def run() -> dict[str, Any]:
            page = search(config, experiment=experiment, notebook=notebook, offset=offset,
                          limit=limit, sort=sort, descending=order == "desc",
                          fold_sweeps=True)
            found = page.to_dict()
            if notebook is not None:  # as the panel names it, not the server's disk path
                found["notebook"] = self.relative(notebook)
            return found

        self.reply(await self.bounded(run))


class CompareHandler(TrackingHandler):
    @web.authenticated
    async def get(self) -> None:
        from .comparison import compare_runs

        ids = [i for i in self.get_argument("ids", "").split(",") if i.strip()]
        if len(ids) < 2:
            raise UserInputError("ids must name at least two runs: ?ids=RUN,RUN")
        config = await self.project_config(self.folder())
        comparison = await self.bounded(compare_runs, config, ids)
        self.reply(comparison.to_dict())


class RunHandler(TrackingHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        from .listing import run_detail

        config = await self.project_config(self.folder())
        self.reply(await self.bounded(run_detail, config, run_id))


class ArtifactsHandler(TrackingHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        from .listing import artifacts

        config = await self.project_config(self.folder())
        found = await self.bounded(artifacts, config, run_id, self.get_argument("dir", ""))
        self.reply({"artifacts": found})


@dataclass(frozen=True)
class RegisterBody:
    """POST runs/ID/register's body."""

    model: str | None = None
    name: str | None = None
    alias: str | None = None


class RegisterHandler(TrackingHandler):
    @web.authenticated
    async def post(self, run_id: str) -> None:
        from .registry import register_run

        body = self.body(RegisterBody)
        values = {key: text.strip() if text and text.strip() else None
                  for key, text in (("model", body.model), ("name", body.name),
                                    ("alias", body.alias))}
        config = await self.project_config(self.folder())
        done = await self.bounded(register_run, config, run_id, values["name"],
                                  values["alias"], values["model"])
        self.reply(done.to_dict(), 201)


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("runs", RunsHandler),
    ("runs/compare", CompareHandler),
    (f"runs/{RUN_ID}/artifacts", ArtifactsHandler),
    (f"runs/{RUN_ID}/register", RegisterHandler),
    (f"runs/{RUN_ID}", RunHandler),
    (f"sweeps/{RUN_ID}", SweepHandler),
]
