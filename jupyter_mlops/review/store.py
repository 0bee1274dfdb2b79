"""Review events on disk: one JSON file per comment, reply, resolution or verdict, under
``<review.path>/<notebook key>/``. A file is written to a temporary name and renamed into
place, and every name is new (time + random id), so two people (or processes) writing at once
never touch the same file and a reader never sees half of one. Committed, they travel with
the repository; git merges them without conflicts because no file is ever edited.

The files come from whoever committed them, so each is checked on read against its kind's
schema (``EVENT_FIELDS``): a file that is not a regular file, is over ``MAX_EVENT_BYTES``, is
not JSON or has a field of the wrong type is skipped and named (``EventFiles.unreadable``),
never passed on to the code that builds threads."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeGuard, get_args

from ..errors import UserInputError
from ..paths import STATE_GITIGNORE, atomic_write, make_folder

FORMAT_VERSION = 1
#: what a review event records
EventKind = Literal["comment", "reply", "resolve", "reopen", "apply", "approve",
                    "request_changes"]
KINDS: frozenset[str] = frozenset(get_args(EventKind))
#: an event file larger than this is not read (the biggest real one holds two cell sources)
MAX_EVENT_BYTES = 4 << 20


def notebook_key(relpath: str) -> str:
    """The folder name of one notebook's review: readable, and unique per path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", relpath.removesuffix(".ipynb")).strip("._")[:80]
    return f"{stem or 'notebook'}-{hashlib.sha1(relpath.encode()).hexdigest()[:8]}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex[:16]


# --------------------------------------------------------------------------- the schema

Check = Callable[[Any], bool]
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _a_name(value: Any) -> bool:
    """A path, a revision or a folder name: handed to git and to the file system, so no NUL
    and no longer than a path can be."""
    return isinstance(value, str) and "\x00" not in value and len(value) <= 4096


def _an_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _counting_from(low: int) -> Check:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _list_of(check: Check) -> Check:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _one_of(*allowed: str) -> Check:
    return lambda value: isinstance(value, str) and value in allowed


@dataclass(frozen=True)
class Field:
    """What one field of an event may hold; ``required``: it must be there."""

    check: Check
    required: bool = False


def _matches(data: Any, fields: Mapping[str, Field]) -> bool:
    """``data`` is an object whose fields pass their checks (other keys are let through: a
    later version 1 may add some)."""
    return isinstance(data, dict) and all(
        (name in data or not spec.required) and (name not in data or spec.check(data[name]))
        for name, spec in fields.items())


#: where a comment is anchored (``anchors.make_anchor``)
ANCHOR_FIELDS: dict[str, Field] = {
    "cell_id": Field(_string, required=True), "cell_index": Field(_counting_from(0)),
    "cell_type": Field(_optional(_string)), "source_hash": Field(_string),
    "source": Field(_string), "line": Field(_optional(_counting_from(1))),
    "end_line": Field(_optional(_counting_from(1))),
    "output": Field(_optional(_counting_from(0))), "side": Field(_one_of("head", "base")),
}


def _anchor(value: Any) -> bool:
    if not _matches(value, ANCHOR_FIELDS):
        return False
    line, end = value.get("line"), value.get("end_line")
    return end is None or (line is not None and end >= line)


#: the fields every event may have
COMMON_FIELDS: dict[str, Field] = {
    "version": Field(lambda v: _counting_from(1)(v) and v <= FORMAT_VERSION),
    "kind": Field(_one_of(*KINDS), required=True), "id": Field(_an_id, required=True),
    "at": Field(_string, required=True), "author": Field(_string),
    "notebook": Field(_a_name), "base": Field(_a_name), "head": Field(_a_name),
    "head_commit": Field(_optional(_a_name)), "follows": Field(_list_of(_a_name)),
}
_THREAD = {"thread": Field(_an_id, required=True)}
#: each kind's own fields
EVENT_FIELDS: dict[EventKind, dict[str, Field]] = {
    "comment": {"anchor": Field(_anchor, required=True), "text": Field(_string),
                "suggestion": Field(_optional(_string))},
    "reply": {**_THREAD, "text": Field(_string)},
    "resolve": _THREAD,
    "reopen": _THREAD,
    "apply": {**_THREAD, "comment": Field(_an_id, required=True)},
    "approve": {"text": Field(_optional(_string))},
    "request_changes": {"text": Field(_string)},
}


def valid_event(data: Any) -> TypeGuard[dict[str, Any]]:
    """``data`` is an event of a known kind whose every field has the right type."""
    return _matches(data, COMMON_FIELDS) and _matches(data, EVENT_FIELDS[data["kind"]])


def _read_small(file: Path) -> bytes | None:
    """The bytes of ``file`` when it is a regular file (not a link, a FIFO or a device) of
    at most ``MAX_EVENT_BYTES``; None otherwise."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_EVENT_BYTES:
            return None
        data = handle.read(MAX_EVENT_BYTES + 1)
    return data if len(data) <= MAX_EVENT_BYTES else None


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested beyond reason
        return None


# --------------------------------------------------------------------------- files


@dataclass
class EventFiles:
    """What a review folder holds: its events (oldest first) and the files that are not
    events (unreadable, or failing their kind's schema)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)


class EventStore:
    """The events of one notebook's review."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, event: dict[str, Any]) -> dict[str, Any]:
        """Store one event atomically (temporary file, then rename); returns it."""
        if event.get("kind") not in KINDS:
            raise ValueError(f"unknown review event kind {event.get('kind')!r}")
        event = {"version": FORMAT_VERSION, "id": event.get("id") or new_id(),
                 "at": event.get("at") or now_iso(), **event}
        if not valid_event(event):  # never write what a reader would skip
            raise ValueError(f"not a valid review event: {event!r}"[:500])
        if self.folder.is_symlink():
            raise UserInputError(f"the review folder {self.folder} is a symbolic link: "
                                 "reviews are written only into a folder of their own")
        try:
            make_folder(self.folder)
        except OSError as exc:
            raise UserInputError(f"cannot create the review folder {self.folder} ({exc}): "
                                 "set review.path in mlops.toml to a writable folder") from None
        stamp = event["at"].replace("-", "").replace(":", "").replace(".", "")
        name = f"{stamp}-{event['id']}.json"
        data = json.dumps(event, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write(self.folder / name, data.encode("utf-8"))
        return event

    def read(self) -> list[dict[str, Any]]:
        """Every well-formed event, oldest first (``load`` also names the files skipped)."""
        return self.load().events

    def load(self) -> EventFiles:
        """The events and the files that are not events: a bad file (a newer format, a
        half-resolved git conflict, a hostile edit) is skipped so it does not hide the
        review, and named so that someone can fix it."""
        found = EventFiles()
        if self.folder.is_symlink() or not self.folder.is_dir():
            return found
        for file in sorted(self.folder.glob("*.json")):
            if file.name.startswith("."):
                continue
            data = _read_small(file)
            event = None if data is None else _parse(data)
            if valid_event(event):
                found.events.append(event)
            else:
                found.unreadable.append(file)
        found.events.sort(key=lambda e: (e["at"], e["id"]))
        return found


def ensure_state_gitignore(state_dir: Path, review_root: Path) -> None:
    """Keep ``.mlops/`` out of git except the reviews (only for the default layout, and
    never over a .gitignore someone wrote)."""
    if review_root.resolve() != (state_dir / "reviews").resolve():
        return
    target = state_dir / ".gitignore"
    if target.exists():
        return
    with contextlib.suppress(OSError):
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(target, "x", encoding="utf-8") as file:
            file.write(STATE_GITIGNORE)


def review_folders(root: Path) -> list[Path]:
    """Every notebook's review folder under the review store ``root``."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
