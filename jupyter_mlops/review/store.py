"""Review events on disk: one JSON file per comment, reply, resolution or verdict, under
``<review.path>/<notebook key>/``. A file is written to a temporary name and renamed into
place, and every name is new (time + random id), so two people (or processes) writing at once
never touch the same file and a reader never sees half of one. Committed, they travel with
the repository; git merges them without conflicts because no file is ever edited."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import UserInputError

FORMAT_VERSION = 1
#: what a review event records
EventKind = Literal["comment", "reply", "resolve", "reopen", "apply", "approve",
                    "request_changes"]
KINDS: frozenset[str] = frozenset(get_args(EventKind))


def notebook_key(relpath: str) -> str:
    """The folder name of one notebook's review: readable, and unique per path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", relpath.removesuffix(".ipynb")).strip("._")[:80]
    return f"{stem or 'notebook'}-{hashlib.sha1(relpath.encode()).hexdigest()[:8]}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return uuid.uuid4().hex[:16]


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
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"cannot create the review folder {self.folder} ({exc}): "
                                 "set review.path in mlops.toml to a writable folder") from None
        stamp = event["at"].replace("-", "").replace(":", "").replace(".", "")
        name = f"{stamp}-{event['id']}.json"
        data = json.dumps(event, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return event

    def read(self) -> list[dict[str, Any]]:
        """Every well-formed event, oldest first; unreadable files are skipped (a newer
        format, a half-resolved git conflict) so one bad file does not hide the review."""
        if not self.folder.is_dir():
            return []
        events = []
        for file in self.folder.glob("*.json"):
            if file.name.startswith("."):
                continue
            try:
                event = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(event, dict) and event.get("kind") in KINDS and "id" in event \
                    and isinstance(event.get("at"), str):
                events.append(event)
        events.sort(key=lambda e: (e["at"], e["id"]))
        return events


#: ``<state dir>/.gitignore`` written with the first review event when there is none: the
#: databases, artifacts and caches under ``.mlops/`` stay out of git, the reviews go in.
STATE_GITIGNORE = ("# jupyter-mlops: local state stays out of git; reviews are meant to be "
                   "committed\n*\n!.gitignore\n!reviews/\n!reviews/**\n")


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
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
