"""Publishing a frame into a Feast repository, so that the team's Feast code owns the result.

One publish of view NAME:

- the rows go to ``data/NAME.parquet`` inside the repository (microsecond UTC timestamps; a
  publish of the same view again appends, and the file is replaced atomically);
- the view's Feast definitions (entities, ``FileSource``, ``FeatureView`` with description,
  tags, owner, TTL, created timestamp and field descriptions) go to ``mlops_features/NAME.py``,
  to be reviewed and committed like any Feast code: ``feast apply`` deletes registry objects
  that no repository file defines, and this file is what keeps the view;
- the objects that file defines are applied with ``FeatureStore.apply``, and the new rows are
  materialized into the online store.

Feast keeps one schema per view, so other columns are refused (there are no versions). Every
check comes before the first write; when Feast fails after it, the files and the registry are
put back as they were.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailableError, UserInputError
from . import frames
from .model import check_name, duration, parse_ttl

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Progress = Callable[[str], None]

#: where, inside the repository, the definitions (one module per view) and the data go
DEFINITIONS = "mlops_features"
DATA = "data"
#: the line of a definitions file that says which view it holds (and that it is ours)
MARK = "# jupyter-mlops feature view: "

#: Arrow type (as the embedded store names it) -> Feast type
_SCALARS = {"int64": "Int64", "double": "Float64", "string": "String", "bool": "Bool",
            "timestamp[us, tz=UTC]": "UnixTimestamp", "binary": "Bytes"}
#: Arrow type of an entity column -> Feast ValueType
_KEY_TYPES = {"int64": "INT64", "string": "STRING", "binary": "BYTES"}
_NO_VERSIONS = "Feast keeps one schema per view, with no versions"


def feast_type(kind: pa.DataType) -> str | None:
    """The Feast type (as code) of a stored Arrow type; None where Feast has none."""
    import pyarrow as pa

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = feast_type(frames.normal_type(kind.value_type))
        return f"Array({inner})" if inner and "Array" not in inner else None
    return _SCALARS.get(str(kind))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class _Key:
    """How the view refers to the entity of one key column."""

    column: str
    entity: str  # the entity's name
    value_type: str  # Feast ValueType member
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    inline: bool = False  # defined by the team's own code: referenced, not redefined
    new: bool = False  # not in the registry yet


@dataclass
class _Plan:
    """Everything one publish writes, decided before anything is written."""

    name: str
    definitions: Path
    data: Path
    table: pa.Table  # the new rows, in the data file's column order
    keys: list[_Key]
    timestamp: str
    created: str | None
    features: list[tuple[str, str, str]]  # (column, Feast type, description), keys first
    description: str
    tags: dict[str, str]
    owner: str
    ttl_seconds: float | None
    before: Any  # the registry's view before this publish (None: a new view)
    before_source: Any

    @property
    def source_name(self) -> str:
        return f"{self.name}_source"

    @property
    def relative_data(self) -> str:
        return f"{DATA}/{self.data.name}"


def module_name(name: str) -> str:
    """The definitions module of a view (``a-b.c`` -> ``a_b_c``)."""
    return re.sub(r"\W", "_", name)


def publish_to_feast(feast: Any, repo: Path, df: pd.DataFrame, name: str, *,
                     entities: str | Sequence[str], timestamp: str,
                     created_timestamp: str | None = None, description: str = "",
                     tags: dict[str, str] | None = None, owner: str | None = None,
                     ttl: Any = None, field_descriptions: dict[str, str] | None = None,
                     progress: Progress | None = None) -> None:
    """Append ``df`` to Feast view ``name`` of the repository at ``repo`` (``feast``: its
    ``FeatureStore``), creating the view, its entities and source on first publish."""
    from .publish_frame import PublishSpec
    from .storage import file_lock

    check_name(name)
    df = frames.require_frame(df, "the data to publish")
    keys = frames.column_list(entities, "entity")
    spec = PublishSpec(df, keys, timestamp, created_timestamp, field_descriptions)
    ttl_seconds = parse_ttl(ttl)
    if (ttl_seconds and ttl_seconds > 86400 and ttl_seconds % 86400
            and getattr(feast.config.offline_store, "type", "") == "duckdb"):
        raise UserInputError(f"a TTL of {duration(ttl_seconds)} mixes days and seconds, which "
                             "Feast's DuckDB offline store cannot query: use whole days or "
                             "under a day")
    if tags is not None and not isinstance(tags, dict):
        raise UserInputError("tags must be a dict of text to text")
    table = spec.table.select([c["name"] for c in spec.columns])
    if progress:
        progress(f"{name}: {table.num_rows:,} rows checked")
    with file_lock(repo / DATA / ".mlops-publish.lock"):
        feast.refresh_registry()
        plan = _plan(feast, repo, name, table, keys, timestamp, created_timestamp,
                     description, tags, owner, ttl_seconds, field_descriptions or {})
        _write_and_apply(feast, plan, progress)


# --------------------------------------------------------------------------- checks


def _plan(feast: Any, repo: Path, name: str, table: pa.Table, keys: list[str],
          timestamp: str, created: str | None, description: str, tags: dict[str, str] | None,
          owner: str | None, ttl_seconds: float | None, descriptions: dict[str, str]) -> _Plan:
    """What to write, after every check against the repository and its registry."""
    definitions = repo / DEFINITIONS / f"{module_name(name)}.py"
    data = repo / DATA / f"{name}.parquet"
    ours = _holds(definitions, name)
    views = {fv.name: fv for fv in feast.list_feature_views()}
    everything = [*views.values(), *feast.list_on_demand_feature_views(),
                  *feast.list_stream_feature_views()]
    others = [fv.name for fv in everything
              if fv.name != name and fv.name.lower() == name.lower()]
    if others:
        raise UserInputError(f"the Feast repository has a view '{others[0]}': Feast names are "
                             f"case-insensitive, so publish '{name}' under another name")
    before = views.get(name)
    if before is not None and not ours:
        raise UserInputError(
            f"feature view '{name}' is defined by the Feast repository's own code, not by "
            "jupyter-mlops: publish under another name, or add the rows to its source and run "
            "'feast materialize'")
    if not ours and data.exists():
        raise UserInputError(f"{data} exists and was not written by jupyter-mlops: move it, "
                             "or publish under another name")
    if before is not None:
        _check_layout(before, name, keys, timestamp, created)
    table = _check_columns(table, data, name) if data.exists() else table
    sources = {s.name: s for s in feast.list_data_sources()}
    before_source = sources.get(f"{name}_source")
    if before_source is not None and not ours:
        raise UserInputError(f"the Feast repository already has a data source "
                             f"'{name}_source': publish under another name")

    types = {f.name: str(f.type) for f in table.schema}
    known = {} if before is None else {f.name: f.description or ""
                                       for f in [*before.entity_columns, *before.features]}
    known.update({str(k): str(v) for k, v in descriptions.items()})
    features = []
    for column in table.column_names:
        if column in (timestamp, created):
            continue
        kind = feast_type(table.schema.field(column).type)
        if kind is None:
            raise UserInputError(f"column '{column}' is {types[column]}: Feast has no type for "
                                 "it (use integers, floats, booleans, text, bytes, timestamps "
                                 "or lists of them)")
        features.append((column, kind, known.get(column, "")))
    features.sort(key=lambda item: item[0] not in keys)  # entity columns first
    return _Plan(
        name=name, definitions=definitions, data=data, table=table,
        keys=[_key(feast, repo, k, types[k]) for k in keys], timestamp=timestamp,
        created=created,
        features=features,
        # what the publisher said replaces what was said before; what they left out stays
        description=description or getattr(before, "description", "") or "",
        tags=({str(k): str(v) for k, v in tags.items()} if tags is not None
              else dict(getattr(before, "tags", None) or {})),
        owner=owner or getattr(before, "owner", "") or "",
        ttl_seconds=ttl_seconds if ttl_seconds is not None else _ttl_of(before),
        before=before, before_source=before_source)


def _ttl_of(view: Any) -> float | None:
    ttl = getattr(view, "ttl", None)
    return (ttl.total_seconds() or None) if ttl else None


def _holds(definitions: Path, name: str) -> bool:
    """Whether ``definitions`` is jupyter-mlops's file of view ``name`` (another view's file
    under the same module name is an error)."""
    if not definitions.is_file():
        return False
    for line in definitions.read_text(encoding="utf-8").splitlines()[:30]:
        if line.startswith(MARK):
            held = json.loads(line[len(MARK):])
            if held != name:
                raise UserInputError(f"{definitions} holds feature view '{held}': publish "
                                     f"'{name}' under another name")
            return True
    raise UserInputError(f"{definitions} was not written by jupyter-mlops: move it, or "
                         "publish under another name")


def _check_layout(before: Any, name: str, keys: list[str], timestamp: str,
                  created: str | None) -> None:
    had_keys = [c.name for c in before.entity_columns]
    if had_keys != keys:
        raise UserInputError(f"feature view '{name}' is keyed by {', '.join(had_keys)}, not "
                             f"{', '.join(keys)}: publish under another name")
    source = before.batch_source
    had_created = source.created_timestamp_column or None
    if source.timestamp_field != timestamp or had_created != created:
        raise UserInputError(f"feature view '{name}' has timestamp '{source.timestamp_field}'"
                             + (f" and created timestamp '{had_created}'" if had_created
                                else "")
                             + ": publish with the same columns, or under another name")


def _check_columns(table: pa.Table, data: Path, name: str) -> pa.Table:
    """The new rows in the data file's column order; other columns or types are errors."""
    import pyarrow.parquet as pq

    had = pq.read_schema(data)
    had_types = {f.name: str(f.type) for f in had}
    for column in table.schema:
        before = had_types.get(column.name)
        if before is not None and before != str(column.type):
            raise UserInputError(f"column '{column.name}' of feature view '{name}' is {before}, "
                                 f"not {column.type}: convert it, or publish under another "
                                 f"name ({_NO_VERSIONS})")
    if set(had_types) != set(table.column_names):
        added = sorted(set(table.column_names) - set(had_types))
        lost = sorted(set(had_types) - set(table.column_names))
        said = "; ".join(part for part in (
            f"new: {', '.join(added)}" if added else "",
            f"missing: {', '.join(lost)}" if lost else "") if part)
        raise UserInputError(f"feature view '{name}' has other columns ({said}): "
                             f"{_NO_VERSIONS}, so publish these under another name")
    return table.select(had.names).cast(had.remove_metadata())


def _key(feast: Any, repo: Path, column: str, kind: str) -> _Key:
    """The entity of key ``column``: the registry's entity joining on it (referenced when the
    team's code defines it, else copied exactly), or a new one named after the column."""
    value_type = _KEY_TYPES.get(kind)
    if value_type is None:
        raise UserInputError(f"the entity column '{column}' is {kind}: Feast keys are "
                             "integers, text or bytes")
    known = [e for e in feast.list_entities() if e.name != "__dummy"]
    joining = sorted((e for e in known if e.join_key == column),
                     key=lambda e: (e.name != column, e.name))
    if not joining:
        if any(e.name == column for e in known):
            raise UserInputError(f"the Feast repository's entity '{column}' joins on another "
                                 f"column: rename the key column '{column}'")
        return _Key(column, column, value_type, new=True)
    entity = joining[0]
    had = entity.value_type.name
    if had not in (value_type, "UNKNOWN"):
        raise UserInputError(f"entity '{entity.name}' of the Feast repository has {had} keys "
                             f"but column '{column}' is {kind}: convert it")
    return _Key(column, entity.name, had if had != "UNKNOWN" else value_type,
                entity.description or "", dict(entity.tags or {}), entity.owner or "",
                inline=entity.name in _entities_in_team_code(repo))


def _entities_in_team_code(repo: Path) -> set[str]:
    """Names of the entities the repository's own Python files define at module level (read,
    not run), outside jupyter-mlops's definitions."""
    from feast.repo_operations import get_repo_files

    names: set[str] = set()
    ours = (repo / DEFINITIONS).resolve()
    for path in get_repo_files(repo.resolve()):
        if path.is_relative_to(ours):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            call = getattr(node, "value", None) if isinstance(node, ast.Assign | ast.AnnAssign) \
                else None
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            called = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if called != "Entity":
                continue
            given = [k.value for k in call.keywords if k.arg == "name"] or call.args[:1]
            if given and isinstance(given[0], ast.Constant) and isinstance(given[0].value, str):
                names.add(given[0].value)
    return names


# --------------------------------------------------------------------------- definitions


def definitions_source(plan: _Plan) -> str:
    """The Python module that defines the view for ``feast apply``."""
    ident = module_name(plan.name)
    types = sorted({t for _c, kind, _d in plan.features
                    for t in re.findall(r"[A-Z]\w+", kind)})
    imports = ["Entity", "FeatureView", "Field", "FileSource", "ValueType"]
    lines = [
        f'"""Feast definitions of feature view {plan.name!r}, written by jupyter-mlops',
        "(features.publish); its rows are in " + plan.relative_data + ".",
        "",
        "Commit this file with the repository: 'feast apply' deletes registry objects that no",
        "file defines. Publishing the view again rewrites it.",
        '"""',
        MARK + json.dumps(plan.name),
        "",
    ]
    if plan.ttl_seconds:
        lines.append("from datetime import timedelta")
    lines += ["from pathlib import Path", "", f"from feast import {', '.join(imports)}",
              f"from feast.types import {', '.join(types)}", "",
              "# absolute when run: Feast's DuckDB store reads relative paths from the working",
              "# folder, not from the repository",
              f"data = Path(__file__).resolve().parent.parent / {DATA!r}", ""]
    refs = []
    for key in plan.keys:
        args = [f"name={key.entity!r}", f"join_keys=[{key.column!r}]",
                f"value_type=ValueType.{key.value_type}"]
        if key.inline:  # the team's code defines it: refer to it by name, define nothing
            refs.append(f"Entity({', '.join(args)})")
            continue
        args += [f"{arg}={value!r}" for arg, value in (
            ("description", key.description), ("tags", key.tags), ("owner", key.owner))
            if value]
        var = f"{module_name(key.entity)}_entity"
        line = f"{var} = Entity({', '.join(args)})"
        if len(line) > 99:  # one argument a line
            line = f"{var} = Entity(\n" + "".join(f"    {a},\n" for a in args) + ")"
        lines += [line, ""]
        refs.append(var)
    lines += [f"{ident}_source = FileSource(", f"    name={plan.source_name!r},",
              f"    path=str(data / {plan.data.name!r}),",
              f"    timestamp_field={plan.timestamp!r},"]
    if plan.created:
        lines.append(f"    created_timestamp_column={plan.created!r},")
    lines += [")", "", f"{ident}_view = FeatureView(", f"    name={plan.name!r},",
              "    entities=[", *(f"        {ref}," for ref in refs), "    ],"]
    if plan.ttl_seconds:
        lines.append(f"    ttl=timedelta({_ttl_args(plan.ttl_seconds)}),")
    lines.append("    schema=[")
    for column, kind, description in plan.features:
        said = f", description={description!r}" if description else ""
        lines.append(f"        Field(name={column!r}, dtype={kind}{said}),")
    lines += ["    ],", f"    source={ident}_source,", "    online=True,"]
    for arg, value in (("description", plan.description), ("tags", plan.tags),
                       ("owner", plan.owner)):
        if value:
            lines.append(f"    {arg}={value!r},")
    lines += [")", ""]
    return "\n".join(lines)


def _objects(source: str, path: Path) -> list[Any]:
    """The Feast objects ``feast apply`` would collect from the module: module-level
    entities, data sources and feature views (the module is run here, as Feast runs it)."""
    from feast import Entity, FeatureView
    from feast.data_source import DataSource

    namespace: dict[str, Any] = {"__name__": f"{DEFINITIONS}.{path.stem}",
                                 "__file__": str(path)}
    exec(compile(source, str(path), "exec"), namespace)  # our own generated code
    return [value for value in namespace.values()
            if isinstance(value, Entity | DataSource | FeatureView)]


# --------------------------------------------------------------------------- writing


def _write_and_apply(feast: Any, plan: _Plan, progress: Progress | None) -> None:
    """Files in place (each replaced atomically), then Feast's apply and materialize; on any
    failure the files, and the registry once apply began, go back to what they were."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = definitions_source(plan)
    objects = _objects(source, plan.definitions)
    rows = plan.table
    if plan.data.exists():
        rows = pa.concat_tables([pq.read_table(plan.data).cast(plan.table.schema), plan.table])
    files = _Replaced()
    applying = False
    try:
        files.put(plan.data, lambda path: pq.write_table(
            rows, path, coerce_timestamps="us", allow_truncated_timestamps=False))
        files.put(plan.definitions, lambda path: path.write_text(source, encoding="utf-8"))
        if progress:
            progress(f"{plan.name}: {rows.num_rows:,} rows in {plan.relative_data}, "
                     f"definitions in {DEFINITIONS}/{plan.definitions.name}")
        applying = True
        with _quiet():
            feast.apply(objects)
        if progress:
            progress(f"{plan.name}: applied to the Feast registry")
        # the new rows' range up to the newest row: each entity of the new rows gets its
        # latest row overall, and the others keep theirs (late rows never overwrite newer)
        start = pc.min(plan.table.column(plan.timestamp)).as_py()
        end = pc.max(rows.column(plan.timestamp)).as_py() + timedelta(seconds=1)
        with _quiet():
            feast.materialize(start, end, feature_views=[plan.name])
    except BaseException as exc:
        files.undo()
        if not applying:
            raise
        undone = _undo_registry(feast, plan, objects)
        if not isinstance(exc, Exception):
            raise
        raise BackendUnavailableError(
            f"Feast could not publish '{plan.name}': {_first_line(exc)}; "
            + ("the repository's files and registry are as they were" if undone is None
               else "its files are as they were, but the registry could not be put back "
                    f"({undone}): run 'feast apply' in the repository")) from None
    finally:
        files.forget()
    if progress:
        progress(f"{plan.name}: materialized into the online store")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Feast's apply and materialize print logs and tqdm bars: kept out of the notebook."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


class _Replaced:
    """Files written beside their targets (under names Feast never parses) and moved over
    them with ``os.replace``; ``undo`` puts the old files back (hard links keep them until
    ``forget``)."""

    def __init__(self) -> None:
        self.done: list[tuple[Path, Path | None]] = []

    def put(self, target: Path, write: Callable[[Path], object]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:12]
        staged = target.with_name(f".{target.name}.{tag}.tmp")
        try:
            write(staged)
            backup = None
            if target.exists():
                backup = target.with_name(f".{target.name}.{tag}.old")
                os.link(target, backup)
            self.done.append((target, backup))
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)

    def undo(self) -> None:
        for target, backup in reversed(self.done):
            if backup is not None:
                os.replace(backup, target)
            else:
                target.unlink(missing_ok=True)
        self.done = []

    def forget(self) -> None:
        for _target, backup in self.done:
            if backup is not None:
                backup.unlink(missing_ok=True)
        self.done = []


def _undo_registry(feast: Any, plan: _Plan, objects: list[Any]) -> str | None:
    """Put the registry back as it was before the publish; None when done, else why not."""
    from feast import Entity, FeatureView
    from feast.data_source import DataSource

    try:
        feast.refresh_registry()
        if plan.before is not None:
            feast.apply([plan.before, *([plan.before_source] if plan.before_source else [])])
            return None
        created = {k.entity for k in plan.keys if k.new}
        views = {fv.name for fv in feast.list_feature_views()}
        sources = {s.name for s in feast.list_data_sources()}
        present = [o for o in objects
                   if (isinstance(o, Entity) and o.name in created)
                   or (isinstance(o, FeatureView) and o.name in views)
                   or (isinstance(o, DataSource) and o.name in sources)]
        if present:
            feast.apply([], objects_to_delete=present, partial=False)
        return None
    except Exception as exc:
        return _first_line(exc)


def _ttl_args(seconds: float) -> str:
    """``timedelta``'s arguments as a person writes them: ``days=30``, ``hours=6``."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{unit}={int(seconds // size)}"
    return f"seconds={int(seconds)}" if float(seconds).is_integer() else f"seconds={seconds!r}"
