"""REST routes of the Features panel.

Every route takes ``?path=FOLDER`` (relative to the server root, default the root; a file
path means its folder; outside the root → 403): the project whose configuration applies,
exactly as ``GET status`` does. Errors are ``{"message": …}``; an unknown view is a 404 whose
message has a "did you mean 'x'?" suggestion.

    GET features/views?q=TEXT&tag=k=v&owner=NAME&path=…
      -> {backend: "embedded"|"feast", views: [ViewSummary]}   newest publish first; q matches
         name, description, feature names, field descriptions, tags, owner
      ViewSummary = {name, version: int, description, owner: str|null, tags: {k: v},
                     entities: [col], features: [name], newest_event: ISO-8601|null,
                     last_publish: ISO-8601|null, rows: int|null,
                     match: str|null (which field matched q, e.g. "description")}
    GET features/views/NAME?version=N&path=…
      -> {view: ViewSummary + {timestamp: col, created_timestamp: col|null,
                               ttl_seconds: number|null,
                               versions: [{version, created_at: ISO, columns: [name]}],
                               schema: [{name, type, role: "entity"|"timestamp"|
                                         "created_timestamp"|"feature", description}],
                               runs: [{run_id, run_name, experiment_id, status,
                                       started_at: ISO|null}],
                               snippet: str}}
         snippet: a ready magic line, e.g. "%mlops features get NAME:* --entities entity_df
         --timestamp event_timestamp --into training"
    GET features/views/NAME/stats?version=N&path=…   (computed lazily, off the event loop,
                                                      cached per version)
      -> {name, version, rows, columns: [{name, type, nulls, min, max, mean, distinct}]}

``tag`` may be given more than once (every one must match). Nothing in a reply comes from the
project's credentials.
"""

from __future__ import annotations

from typing import Any

from tornado import web

from ..errors import UserInputError
from ..server.base import MLOpsHandler


class FeaturesHandler(MLOpsHandler):
    """Shared parsing: the project folder, a version number, JSON replies."""

    def version(self) -> int | None:
        raw = self.get_argument("version", "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise UserInputError(f"version must be a whole number from 1, not {raw!r}")
        return int(raw)


class ViewsHandler(FeaturesHandler):
    @web.authenticated
    async def get(self) -> None:
        from .api import search_views

        folder = self.folder()
        query = self.get_argument("q", "")
        owner = self.get_argument("owner", "").strip() or None
        tags: dict[str, str] = {}
        for raw in self.get_arguments("tag"):
            key, sep, value = raw.partition("=")
            if not sep or not key.strip():
                raise UserInputError(f"tag filter {raw!r} is not key=value")
            tags[key.strip()] = value.strip()

        def find() -> dict[str, Any]:
            backend, found = search_views(query, tags=tags, owner=owner, cwd=folder)
            return {"backend": backend,
                    "views": [view.summary(match) for view, match in found]}

        self.reply(await self.in_executor(find))


class ViewHandler(FeaturesHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        from .api import show

        folder, version = self.folder(), self.version()
        view = await self.in_executor(lambda: show(name, version, cwd=folder))
        self.reply({"view": view.to_dict()})


class StatsHandler(FeaturesHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        from .api import stats

        folder, version = self.folder(), self.version()
        found = await self.in_executor(lambda: stats(name, version, cwd=folder))
        self.reply(found.to_dict())


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("features/views", ViewsHandler),
    (r"features/views/([^/]+)", ViewHandler),
    (r"features/views/([^/]+)/stats", StatsHandler),
]
