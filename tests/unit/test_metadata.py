"""Metadata step: hashes, sizes, parameter counts, IO spec and versions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.export import export_step
from heimdall_studio.core.metadata import metadata_step, onnx_file_parts, sha256_file
from heimdall_studio.core.model import ONNX, LoadedModel
from heimdall_studio.core.specs import ExportOptions
from tests.unit.conftest import run_step


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_sha256_file_matches_hashlib_with_any_chunk(tiny_export):
    path = tiny_export[1].onnx_path
    assert sha256_file(path) == sha256_file(path, chunk=7) == _sha256(path)


def test_metadata_of_an_export(tiny_export):
    model, export = tiny_export
    _, result = run_step(metadata_step(Path(export.onnx_path), model, export, CancelToken()))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["sha256"] == _sha256(export.onnx_path) and data["size_bytes"] == Path(export.onnx_path).stat().st_size
    assert data["total_size_bytes"] == data["size_bytes"] and len(data["files"]) == 1
    assert data["parameters"] == sum(p.numel() for p in model.module.parameters()) == data["trainable_parameters"]
    assert data["parameters_from"] == "module"
    assert data["inputs"] == [{"name": "x", "shape": ["batch", 3, 16, 8], "dtype": "float32"}]
    assert [o["name"] for o in data["outputs"]] == ["positions", "uncertainties"]
    assert data["export"]["exporter"] == "torchscript" and data["opsets"] == {"": 14}
    assert set(data["versions"]) >= {"python", "torch", "onnx", "onnxruntime", "numpy", "heimdall_studio"}
    assert data["created_at"].endswith("+00:00") and data["files"][0]["modified_at"].endswith("+00:00")


def test_external_data_parts_are_hashed_too(tmp_path, tiny_model):
    _, export = run_step(
        export_step(
            tiny_model, tmp_path, ExportOptions(exporter="torchscript"), CancelToken(), external_data_threshold=0
        )
    )
    onnx_path, data_path = Path(export.onnx_path), Path(export.data_path)
    assert onnx_file_parts(onnx_path) == [onnx_path, data_path]
    onnx_only = LoadedModel(kind=ONNX, source=str(onnx_path), inputs=tiny_model.inputs, onnx_path=onnx_path)
    events, result = run_step(metadata_step(onnx_path, onnx_only, None, CancelToken()))
    assert [(f["name"], f["sha256"]) for f in result.files] == [
        ("tiny.onnx", _sha256(onnx_path)),
        ("tiny.onnx.data", _sha256(data_path)),
    ]
    assert result.total_size_bytes == onnx_path.stat().st_size + data_path.stat().st_size
    assert result.parameters == sum(p.numel() for p in tiny_model.module.parameters())
    assert result.parameters_from == "onnx_initializers" and result.export is None
    assert events[-1].done == events[-1].total == result.total_size_bytes

    data_path.unlink()
    with pytest.raises(BadInputError, match="tiny.onnx.data, which is missing"):
        run_step(metadata_step(onnx_path, onnx_only, None, CancelToken()))


def test_known_sha256_reuses_the_metadata_hash_only_while_the_file_is_unchanged(tmp_path):
    from heimdall_studio.core.metadata import known_sha256

    path = tmp_path / "m.onnx"
    path.write_bytes(b"first")
    stat = path.stat()
    recorded = {
        "files": [{"path": str(path), "size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": "f" * 64}]
    }
    # Unchanged since the metadata step: its hash is taken as is (the file is not read again).
    assert known_sha256(path, recorded) == "f" * 64
    path.write_bytes(b"other")  # same size, new content...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # ...written a moment later
    assert known_sha256(path, recorded) == hashlib.sha256(b"other").hexdigest()
    assert known_sha256(path, None) == hashlib.sha256(b"other").hexdigest()
