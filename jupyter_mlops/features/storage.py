"""Where the embedded store keeps its files: a local folder or an S3 prefix (through boto3),
and the registry (one JSON document) updated under a lock with an atomic replace, so
concurrent publishes never corrupt it.

Parquet parts are written once under unique names and never changed, so a local cache of the
parts read from S3 never goes stale.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import BackendUnavailableError, UserInputError
from ..paths import atomic_write, make_folder
from ..paths import file_lock as paths_file_lock

REGISTRY = "registry.json"
FORMAT = 1


class RegistryConflict(BackendUnavailableError):
    """The S3 registry changed between reading and writing it (another machine published)."""


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = 60.0) -> Iterator[None]:
    """The feature registry's lock between processes of this machine."""
    with paths_file_lock(path, timeout=timeout,
                         busy=f"the feature registry is locked by another process ({path}); "
                              "try again when its publish is done"):
        yield


class LocalStorage:
    """Files under a local folder."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def where(self) -> str:
        return str(self.root)

    def lock_path(self) -> Path:
        return self.root / "registry.lock"

    def read(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            return (self.root / key).read_bytes(), None
        except FileNotFoundError:
            return None, None

    def version(self, key: str) -> tuple[int, int, int] | None:
        """What changes whenever the file is replaced (for caching what was read)."""
        try:
            found = os.stat(self.root / key)
        except FileNotFoundError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_size

    def write(self, key: str, data: bytes, *, if_match: str | None = None) -> None:
        atomic_write(self.root / key, data)

    def put_file(self, local: Path, key: str) -> None:
        target = self.root / key
        make_folder(target.parent)
        os.replace(local, target)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / key).unlink()

    def local_paths(self, keys: list[str]) -> list[str]:
        return [str(self.root / key) for key in keys]

    def staging(self) -> Path:
        folder = make_folder(self.root / ".staging")
        return folder


class S3Storage:
    """Objects under ``s3://bucket/prefix``; parts read are cached under ``cache``."""

    kind = "s3"

    def __init__(self, url: str, cache: Path, endpoint_url: str = "", region: str = "") -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise UserInputError(f"features.path {url!r} is not a folder or s3://bucket/prefix")
        self.url = url.rstrip("/")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.cache = cache
        try:
            import boto3
        except ImportError:
            raise BackendUnavailableError("an s3:// feature store needs boto3: pip install "
                                          "'jupyter-mlops[aws]'") from None
        kwargs: dict[str, Any] = {}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        if region:
            kwargs["region_name"] = region
        self.client = boto3.client("s3", **kwargs)

    @property
    def where(self) -> str:
        return self.url

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def lock_path(self) -> Path:
        return self.cache / f"{self.bucket}-{self.prefix.replace('/', '_')}.lock"

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(kwargs.get("Key")) from None
            if code == "PreconditionFailed":
                raise
            raise BackendUnavailableError(f"S3 {what} {self.url} failed: {code or exc}") from None
        except BotoCoreError as exc:
            raise BackendUnavailableError(f"S3 {what} {self.url} failed: {exc}") from None

    def read(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            got = self._call("read of", self.client.get_object, Bucket=self.bucket,
                             Key=self._key(key))
        except FileNotFoundError:
            return None, None
        return got["Body"].read(), got.get("ETag")

    def write(self, key: str, data: bytes, *, if_match: str | None = None) -> None:
        """With ``if_match`` (an ETag) or, for the first write, none: S3's conditional write,
        so two machines cannot both replace the same registry."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        if if_match:
            kwargs["IfMatch"] = if_match
        else:
            kwargs["IfNoneMatch"] = "*"
        try:
            self._call("write to", self.client.put_object, **kwargs)
        except ClientError:  # PreconditionFailed: someone else wrote it first
            raise RegistryConflict(f"the registry {self.url}/{key} changed meanwhile") from None

    def put_file(self, local: Path, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(local), self.bucket, self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise BackendUnavailableError(f"S3 upload to {self.url} failed: {exc}") from None
        cached = self.cache / self.bucket / self._key(key)
        make_folder(cached.parent)
        os.replace(local, cached)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call("delete in", self.client.delete_object, Bucket=self.bucket,
                       Key=self._key(key))

    def local_paths(self, keys: list[str]) -> list[str]:
        """Each part as a local file: downloaded once (parts never change)."""
        from botocore.exceptions import BotoCoreError, ClientError

        paths = []
        for key in keys:
            cached = self.cache / self.bucket / self._key(key)
            if not cached.is_file():
                make_folder(cached.parent)
                tmp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex}")
                try:
                    self.client.download_file(self.bucket, self._key(key), str(tmp))
                except (BotoCoreError, ClientError) as exc:
                    raise BackendUnavailableError(
                        f"S3 download from {self.url} failed: {exc}") from None
                os.replace(tmp, cached)
            paths.append(str(cached))
        return paths

    def staging(self) -> Path:
        folder = make_folder(self.cache / ".staging")
        return folder


Storage = LocalStorage | S3Storage
_parsed: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}


class Registry:
    """The views of one store as one JSON document: ``{"format", "seq", "views": {...}}``."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def load(self) -> dict[str, Any]:
        """The registry as it is now; a local one is parsed again only when it changed (an
        online lookup reads it every time)."""
        if isinstance(self.storage, LocalStorage):
            stamp = self.storage.version(REGISTRY)
            key = str(self.storage.root)
            cached = _parsed.get(key)
            if stamp is not None and cached is not None and cached[0] == stamp:
                return cached[1]
            data, _etag = self._read()
            if stamp is not None:
                _parsed[key] = (stamp, data)
            return data
        data, _etag = self._read()
        return data

    def _read(self) -> tuple[dict[str, Any], str | None]:
        raw, etag = self.storage.read(REGISTRY)
        if raw is None:
            return {"format": FORMAT, "seq": 0, "views": {}}, None
        try:
            data: dict[str, Any] = json.loads(raw)
        except ValueError:
            raise BackendUnavailableError(
                f"the feature registry {self.storage.where}/{REGISTRY} is not valid JSON: "
                "restore it from a backup (or git)") from None
        return data, etag

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Lock, read the registry as it is now, let the caller change it, write it back in
        one atomic replace. An exception in the block leaves the registry as it was."""
        with file_lock(self.storage.lock_path()):
            data, etag = self._read()
            yield data
            data["seq"] = int(data.get("seq", 0))
            self.storage.write(REGISTRY, json.dumps(data, indent=1, sort_keys=True).encode(),
                               if_match=etag)
