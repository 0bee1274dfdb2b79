"""The inference log under an S3 artifact root (``tracking.artifact_root = "s3://…"``).

The serving process always writes the log locally first (a Parquet file twice a second, so
a SIGKILL loses at most a second); its writer then ships the finished files every
``SHIP_EVERY_S`` to ``<artifact root>/monitoring/<deployment>/`` with the same relative
names (``date=…/hour=…/part-….parquet``) and deletes each local copy once it is uploaded.
A file that could not be shipped stays local and is shipped on the next try (or by the
next serving process of the deployment). Readers (``log_store``) see the union of both
places by file name, so a file is never counted twice, and one shipped while it was being
read is read from S3 instead.

Only the standard library at import; boto3 loads on first use.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import BackendUnavailableError, UserInputError
from ..paths import make_folder

SHIP_EVERY_S = 10.0


def remote_url(artifact_root: str, deployment: str) -> str | None:
    """Where ``deployment``'s log is shipped, when the artifact root is on S3."""
    root = str(artifact_root or "")
    if not root.startswith("s3://"):
        return None
    return f"{root.rstrip('/')}/monitoring/{deployment}"


class RemoteLog:
    """One deployment's log folder on S3: list, upload and download parts by their
    relative names."""

    def __init__(self, url: str, endpoint_url: str = "", region: str = "") -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise UserInputError(f"{url!r} is not an s3://bucket/prefix location")
        self.url = url.rstrip("/")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise BackendUnavailableError(
                    "an inference log on S3 needs boto3: pip install 'jupyter-mlops[aws]'"
                ) from None
            kwargs: dict[str, Any] = {}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            if self.region:
                kwargs["region_name"] = self.region
            self._client = boto3.client("s3", **kwargs)
        return self._client

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _failed(self, what: str, exc: BaseException) -> BackendUnavailableError:
        text = str(exc).strip().splitlines()
        return BackendUnavailableError(
            f"S3 {what} {self.url} failed: {text[0] if text else type(exc).__name__}")

    def listing(self) -> dict[str, int]:
        """Every part under the folder: relative name -> size in bytes."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: dict[str, int] = {}
        start = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    relative = str(item["Key"])[len(start):]
                    if relative.endswith(".parquet"):
                        found[relative] = int(item.get("Size", 0))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("listing of", exc) from None
        return found

    def upload(self, local: Path, relative: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(local), self.bucket, self.key(relative))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("upload to", exc) from None

    def fetch(self, relative: str, cache: Path) -> Path:
        """The part as a local file under ``cache`` (downloaded once: parts never change)."""
        from botocore.exceptions import BotoCoreError, ClientError

        target = cache / relative
        if target.is_file():
            return target
        make_folder(target.parent)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        try:
            self.client.download_file(self.bucket, self.key(relative), str(tmp))
            os.replace(tmp, target)
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("download from", exc) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return target


def local_parts(folder: Path) -> dict[str, Path]:
    """The finished parts of a local log folder: relative name -> path."""
    return {f"{p.parent.parent.name}/{p.parent.name}/{p.name}": p
            for p in folder.glob("date=*/hour=*/*.parquet")
            if not p.name.startswith((".", "_")) and p.is_file()}


class Shipper:
    """Uploads a local log folder's finished parts to S3 and deletes each local copy once it
    is there; at most every ``every`` seconds (``ship(force=True)``: now)."""

    def __init__(self, folder: Path, remote: RemoteLog, *, every: float = SHIP_EVERY_S,
                 log: Callable[[str], None] = lambda _message: None) -> None:
        self.folder = folder
        self.remote = remote
        self.every = every
        self.log = log
        self.shipped = 0
        self.error: str | None = None
        self._last = 0.0
        self._logged: set[str] = set()

    def ship(self, *, force: bool = False) -> int:
        """Upload what is there; the parts shipped. A failure keeps the local files for the
        next try, sets ``error`` and is logged once."""
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return 0
        self._last = now
        shipped = 0
        for relative, path in sorted(local_parts(self.folder).items()):
            try:
                self.remote.upload(path, relative)
            except BackendUnavailableError as exc:
                self.error = f"cannot ship the inference log to {self.remote.url}: {exc}"
                if self.error not in self._logged:
                    self._logged.add(self.error)
                    self.log(f"inference log: {self.error} (kept locally; retried)")
                return shipped
            with contextlib.suppress(OSError):
                path.unlink()
            shipped += 1
        self.shipped += shipped
        self.error = None
        return shipped
