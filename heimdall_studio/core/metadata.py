"""Metadata step: what a registry and a serving system need to know about the file.

sha256 and size of the .onnx and each external data file, parameter counts, the
IO spec, the exporter, library versions and UTC timestamps.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import platform
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.events import METADATA, Event, Progress, json_safe
from heimdall_studio.core.limits import release_memory
from heimdall_studio.core.model import LoadedModel
from heimdall_studio.core.onnx_files import initializer_stats, io_specs, load_structure, onnx_file_parts

__all__ = ["MetadataResult", "metadata_step", "onnx_file_parts", "sha256_file"]

CHUNK = 1 << 20
PROGRESS_EVERY_S = 0.1
DISTRIBUTIONS = {
    "torch": ("torch",),
    "onnx": ("onnx",),
    "onnxscript": ("onnxscript",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "numpy": ("numpy",),
}


@dataclass
class MetadataResult:
    onnx_path: str
    sha256: str  # of the .onnx file itself
    size_bytes: int  # of the .onnx file itself
    total_size_bytes: int  # the .onnx and its external data
    files: list[dict[str, Any]] = field(default_factory=list)  # name, path, size_bytes, sha256, modified_at, mtime_ns
    parameters: int | None = None
    trainable_parameters: int | None = None
    parameters_from: str = ""  # "module" | "onnx_initializers"
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)  # LoadedModel.describe()
    export: dict[str, Any] | None = None  # ExportResult.to_dict(), when this run exported
    opsets: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(self)
        return data


def sha256_file(path: Path, chunk: int = CHUNK, cancel: CancelToken | None = None) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces; checks ``cancel`` between pieces."""
    digest = hashlib.sha256()
    for _ in _hash_chunks(digest, Path(path), chunk):
        if cancel is not None:
            cancel.raise_if_cancelled()
    return digest.hexdigest()


def _hash_chunks(digest: Any, path: Path, chunk: int) -> Iterator[int]:
    """Feed ``path`` into ``digest``; yield the byte count of each piece."""
    with open(path, "rb") as f:
        while piece := f.read(chunk):
            digest.update(piece)
            yield len(piece)


def metadata_step(
    onnx_path: Path, model: LoadedModel, export: Any | None, cancel: CancelToken
) -> Generator[Event, None, MetadataResult]:
    """Describe ``onnx_path`` (``export`` is this run's ExportResult, if any).
    BadInputError when the file or one of its external data files is missing, or when external
    data lies outside the model's folder (nothing is hashed then)."""
    onnx_path = Path(onnx_path)
    structure = load_structure(onnx_path)
    parts = onnx_file_parts(onnx_path, structure)  # BadInputError for data outside the model's folder
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise BadInputError(
            f"{onnx_path.name} refers to {', '.join(missing)}, which is missing.",
            "Keep the .onnx and its .data file(s) together in one folder.",
        )
    total = sum(p.stat().st_size for p in parts)
    # What the proto says, then the proto goes: with weights inside the .onnx it is a full copy of
    # them, and hashing needs none of it.
    inputs, outputs = io_specs(structure)
    parameters, trainable, source = _parameter_counts(model, structure)
    opsets = {imp.domain: imp.version for imp in structure.opset_import}
    del structure
    release_memory()
    files: list[dict[str, Any]] = []
    hashed, last = 0, time.perf_counter()
    yield Progress(METADATA, 0, total, f"Hashing {onnx_path.name}")
    for part in parts:
        digest = hashlib.sha256()
        for count in _hash_chunks(digest, part, CHUNK):
            hashed += count
            if time.perf_counter() - last >= PROGRESS_EVERY_S:
                cancel.raise_if_cancelled()
                yield Progress(METADATA, hashed, total, f"Hashing {part.name}")
                last = time.perf_counter()
        stat = part.stat()
        files.append(
            {
                "name": part.name,
                "path": str(part),
                "size_bytes": stat.st_size,
                "sha256": digest.hexdigest(),
                "modified_at": _utc(stat.st_mtime),
                "mtime_ns": stat.st_mtime_ns,
            }
        )
    yield Progress(METADATA, total, total, "Hashed")

    return MetadataResult(
        onnx_path=str(onnx_path),
        sha256=files[0]["sha256"],
        size_bytes=files[0]["size_bytes"],
        total_size_bytes=total,
        files=files,
        parameters=parameters,
        trainable_parameters=trainable,
        parameters_from=source,
        inputs=[s.to_dict() for s in inputs],
        outputs=[s.to_dict() for s in outputs],
        source=model.describe(),
        export=export.to_dict() if export is not None else None,
        opsets=opsets,
        versions=library_versions(),
        created_at=_utc(time.time()),
    )


def _parameter_counts(model: LoadedModel, structure: Any) -> tuple[int, int | None, str]:
    module = model.module
    if module is not None:
        from heimdall_studio.core.runners import torch_module

        params = list(torch_module(module).parameters())
        return (sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad), "module")
    return initializer_stats(structure)[0], None, "onnx_initializers"


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a result depends on (absent ones omitted)."""
    import heimdall_studio

    versions = {"python": platform.python_version(), "heimdall_studio": heimdall_studio.__version__}
    for key, names in DISTRIBUTIONS.items():
        for name in names:
            try:
                versions[key] = importlib.metadata.version(name)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def known_sha256(path: Path, metadata: dict[str, Any] | None, cancel: CancelToken | None = None) -> str:
    """The sha256 of ``path``: taken from a metadata result's ``files`` when the file is unchanged
    since (same path, size and nanosecond mtime), otherwise computed. A large model is then read
    once per run, not once per step."""
    stat = Path(path).stat()
    for entry in (metadata or {}).get("files", []):
        if (
            entry.get("sha256")
            and Path(entry.get("path", "")).resolve() == Path(path).resolve()
            and entry.get("size_bytes") == stat.st_size
            and entry.get("mtime_ns") == stat.st_mtime_ns
        ):
            return str(entry["sha256"])
    return sha256_file(path, cancel=cancel)


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")
