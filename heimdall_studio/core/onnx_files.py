"""Reading an .onnx file's structure without loading its weights.

Shared by export, validate and metadata (which re-export :func:`read_onnx_io`
and :func:`onnx_file_parts`). Every reader here opens the file with
``load_external_data=False``, so a model with gigabytes of external data is
described in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import TensorSpec


def load_structure(path: Path) -> Any:
    """The ModelProto without external data; BadInputError when the file is missing or unreadable."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path} does not exist or is not a file.", "Check the path to the .onnx file.")
    try:
        return onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise BadInputError(
            f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc}).",
            "The file may be truncated or not an ONNX file; export it again.",
        ) from exc


def _dtype_name(elem_type: int) -> str:
    import onnx

    if elem_type == onnx.TensorProto.UNDEFINED:
        return "undefined"
    if elem_type == onnx.TensorProto.STRING:
        return "string"
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type).name)
    except (KeyError, ValueError, TypeError):  # a damaged file's made-up type number
        return f"unknown({elem_type})"


def value_info_spec(value_info: Any) -> TensorSpec:
    """A graph input/output as a TensorSpec: symbolic dims as names ("?" when unnamed)."""
    tensor_type = value_info.type.tensor_type
    dims: list[int | str] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return TensorSpec(value_info.name, tuple(dims), _dtype_name(tensor_type.elem_type))


def io_specs(model: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value_info_spec(v) for v in model.graph.input if v.name not in initializers]
    return inputs, [value_info_spec(v) for v in model.graph.output]


def read_onnx_io(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of an .onnx file; initializers listed as inputs are left out."""
    return io_specs(load_structure(path))


def all_tensors(model: Any) -> Iterator[Any]:
    """Initializers and tensor attributes (Constant values) of the graph and its subgraphs."""
    import onnx

    def walk(graph: Any) -> Iterator[Any]:
        yield from graph.initializer
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == onnx.AttributeProto.TENSORS:
                    yield from attr.tensors
                elif attr.type == onnx.AttributeProto.GRAPH:
                    yield from walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        yield from walk(sub)

    yield from walk(model.graph)


def external_locations(model: Any) -> list[str]:
    """Relative paths of the external data files the model refers to, in first-use order."""
    import onnx

    seen: dict[str, None] = {}
    for tensor in all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location":
                    seen.setdefault(entry.value, None)
    return list(seen)


def onnx_file_parts(path: Path, model: Any = None) -> list[Path]:
    """The .onnx file followed by its external data files (which may not exist), each checked to lie
    inside the model's folder (see :func:`external_data_paths`)."""
    path = Path(path)
    return [path] + external_data_paths(path, model)


def external_data_paths(path: Path, model: Any = None) -> list[Path]:
    """Where the external data files of the model at ``path`` are: ``path``'s folder joined with
    each ``location`` (``model`` is its structure, read here when not given).

    A location must name a file inside the model's own folder: BadInputError (before anything
    opens it) for an absolute path, a ``..`` part, or a path that a symlink leads out of the
    folder. A file that does not exist is returned as is; callers say it is missing.
    """
    path = Path(path)
    folder = path.parent
    base = folder.resolve()
    parts = []
    for location in external_locations(model if model is not None else load_structure(path)):
        # Read both ways: a Windows-made file may use backslashes or a drive letter.
        pieces = set(PurePosixPath(location).parts) | set(PureWindowsPath(location).parts)
        absolute = location.startswith(("/", "\\")) or bool(PureWindowsPath(location).drive)
        if not location or absolute or ".." in pieces:
            why = "an empty path" if not location else "an absolute path" if absolute else "a path with '..'"
            raise BadInputError(
                f"{path.name} keeps weights in external data at {location!r}, {why}: external data must be a "
                f"file inside the model's own folder ({folder}). It was not opened.",
                "Save the model again with its .data file next to it (onnx.save(..., location='NAME.onnx.data')).",
            )
        target = folder / location
        if not target.resolve().is_relative_to(base):
            raise BadInputError(
                f"{path.name} keeps weights in external data at {location!r}, which leads out of the model's "
                f"folder ({folder}) through a symbolic link. It was not opened.",
                f"Put the real .data file in {folder} instead of a link to it.",
            )
        parts.append(target)
    return parts


def initializer_stats(model: Any) -> tuple[int, int]:
    """(element count, bytes) of the graph's initializers, external ones included."""
    import onnx

    elements = total_bytes = 0
    for init in model.graph.initializer:
        count = math.prod(init.dims)
        elements += count
        if init.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
            continue
        try:
            total_bytes += count * onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        except (KeyError, ValueError, TypeError):  # a type number ONNX does not define: the checker says so
            continue
    return elements, total_bytes
