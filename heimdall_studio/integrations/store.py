"""Object stores: where a pushed model's files go before MLflow registers them.

MLflow treats a model version's source as a folder, so one push is one *prefix*
(``models/localization/v20261129_170000/``) holding the ``.onnx`` file, its external
data files and ``heimdall-report.json``. The seed's key template
``models/{model_type}/v{YYYYMMDD_HHMMSS}.onnx`` maps to that prefix with the
``.onnx`` suffix dropped.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, ServiceError
from heimdall_studio.core.metadata import sha256_file

ProgressCallback = Callable[[int], None]  # bytes transferred since the last call
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """One uploaded file, checked against what was sent."""

    key: str
    uri: str
    size: int
    sha256: str
    verified: bool
    checksum: str = ""  # the store's own checksum (S3 ChecksumSHA256), when it gave one
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    """What a push needs from a store. Implementations: :class:`LocalStore`, ``S3Store``."""

    location: str  # for messages: "s3://bucket at http://host:9000" or a folder

    def ensure_bucket(self, create: bool) -> None: ...

    def uri(self, key: str) -> str: ...

    def upload(
        self, path: Path, key: str, metadata: dict[str, str], progress: ProgressCallback, cancel: CancelToken
    ) -> StoredObject: ...

    def verify(self, key: str, size: int, sha256: str) -> StoredObject: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def delete_prefix(self, prefix: str) -> list[str]: ...


def render_prefix(template: str, model_type: str, when: _dt.datetime | None = None) -> str:
    """The folder a push goes to: the key template with its ``.onnx`` suffix dropped.

    ``models/{model_type}/v{YYYYMMDD_HHMMSS}.onnx`` → ``models/localization/v20261129_170000/``.
    """
    when = when or _dt.datetime.now(_dt.timezone.utc)
    try:
        key = template.format(
            model_type=model_type,
            YYYYMMDD_HHMMSS=when.strftime("%Y%m%d_%H%M%S"),
            date=when.strftime("%Y%m%d"),
            time=when.strftime("%H%M%S"),
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise BadInputError(
            f"Key template {template!r} cannot be filled in: {exc}.",
            "Use {model_type} and {YYYYMMDD_HHMMSS}, e.g. models/{model_type}/v{YYYYMMDD_HHMMSS}/.",
        ) from exc
    key = key.strip("/")
    if key.endswith(".onnx"):
        key = key[: -len(".onnx")]
    return key + "/"


class LocalStore:
    """A folder as the object store (the embedded profile's default)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.location = f"local folder {self.root}"

    def ensure_bucket(self, create: bool) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(
                f"Cannot create the model folder {self.root}: {exc.strerror}.",
                "Pick another data dir with HEIMDALL_DATA_DIR.",
            ) from exc

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise BadInputError(f"Object key {key!r} leaves the model folder {self.root}.")
        return path

    def uri(self, key: str) -> str:
        uri = self._path(key).as_uri()
        return uri + "/" if key.endswith("/") and not uri.endswith("/") else uri

    def upload(
        self, path: Path, key: str, metadata: dict[str, str], progress: ProgressCallback, cancel: CancelToken
    ) -> StoredObject:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        try:
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                for block in iter(lambda: src.read(CHUNK), b""):
                    cancel.raise_if_cancelled()
                    dst.write(block)
                    progress(len(block))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.verify(key, path.stat().st_size, metadata.get("sha256", ""))

    def verify(self, key: str, size: int, sha256: str) -> StoredObject:
        target = self._path(key)
        actual_size = target.stat().st_size if target.exists() else -1
        actual_sha = sha256_file(target) if actual_size == size else ""
        ok = actual_size == size and (not sha256 or actual_sha == sha256)
        if not ok:
            raise ServiceError(
                f"The copy of {key} in {self.location} does not match the file sent (size {actual_size} vs {size}).",
                "Check the disk and push again.",
            )
        return StoredObject(key=key, uri=self.uri(key), size=size, sha256=actual_sha, verified=True)

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.exists():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def delete_prefix(self, prefix: str) -> list[str]:
        keys = self.list_keys(prefix)
        shutil.rmtree(self._path(prefix), ignore_errors=True)
        return keys
