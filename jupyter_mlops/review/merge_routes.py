"""REST routes of notebook merges (issue #15). Paths are relative to the server root (outside
it: 403; missing: 404); the work runs in the executor. ``merge.py`` describes the conflict
record a merge leaves in a cell's ``metadata.mlops.conflict``.

    GET  review/conflicts?path=NB
      -> {path, conflicts: [{id, cell_index, cell_id, kind, base, local, remote, note,
          cells: [{cell_index, cell_id, side?}]}]}
         (kind: source | outputs | metadata | deleted-vs-modified | both-added; base, local,
          remote: {cell_type, source, outputs?, execution_count?, metadata?, attachments?} or
          null; ``cells``: every cell of the conflict, two for both-added, each with its side)
         A notebook holding git's text conflict markers: 409, with the way out.
    POST review/conflicts/resolve {path, resolutions: [{id, take: "local"|"remote"|"both"|
          "edit", source?}], stage?: bool}
      -> {path, remaining, staged, message}
         (written whole or not at all; ``stage`` and none remaining: ``git add PATH``; a
          conflict the notebook no longer holds: 404)
    POST review/merge {base, local, remote, out?}
      -> {path, clean, conflicts: [as above]}
         (the merged notebook is written to ``out``, else over ``local``; ``path`` names it)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tornado import web

from ..errors import UserInputError
from ..paths import resolve_inside
from ..server.base import MLOpsHandler
from .conflicts import Resolution, conflicts_of, merge_files, read_notebook, resolve_file


@dataclass(frozen=True)
class ResolveBody:
    path: str
    resolutions: list[Resolution]
    stage: bool = False


@dataclass(frozen=True)
class MergeBody:
    base: str
    local: str
    remote: str
    out: str | None = None


class ConflictsHandler(MLOpsHandler):
    """GET ?path=NB: the conflicts a merge recorded in the notebook."""

    @web.authenticated
    async def get(self) -> None:
        notebook = self.notebook(self.get_argument("path", ""))
        data = await self.in_executor(read_notebook, notebook)
        self.reply({"path": self.relative(notebook), "conflicts": conflicts_of(data)})


class ResolveHandler(MLOpsHandler):
    """POST {path, resolutions, stage?}: resolve, write, and stage when none remain."""

    @web.authenticated
    async def post(self) -> None:
        body = self.body(ResolveBody)
        if not body.resolutions:
            raise UserInputError("'resolutions' is empty: name the conflicts to resolve")
        notebook = self.notebook(body.path)
        done = await self.in_executor(lambda: resolve_file(
            notebook, body.resolutions, stage=body.stage, display=self.relative(notebook)))
        self.reply(done.to_dict())


class MergeHandler(MLOpsHandler):
    """POST {base, local, remote, out?}: merge three notebook files of the server root."""

    @web.authenticated
    async def post(self) -> None:
        body = self.body(MergeBody)
        root = self.mlops.root_dir
        sides = [self._side(root, name, value) for name, value in
                 (("base", body.base), ("local", body.local), ("remote", body.remote))]
        out = self.notebook(body.out, must_exist=False) if body.out else None
        result = await self.in_executor(merge_files, *sides, out)
        assert result.path is not None
        self.reply({"path": self.relative(result.path), "clean": result.clean,
                    "conflicts": conflicts_of(result.notebook)})

    @staticmethod
    def _side(root: str, name: str, value: str) -> Path:
        if not value:
            raise UserInputError(f"'{name}' names a notebook (relative to the server root)")
        path = resolve_inside(root, value)
        if path.is_dir():
            raise UserInputError(f"'{name}' is a folder, not a notebook: {value}")
        return path


ROUTES: list[tuple[str, type[MLOpsHandler]]] = [
    ("review/conflicts", ConflictsHandler),
    ("review/conflicts/resolve", ResolveHandler),
    ("review/merge", MergeHandler),
]
