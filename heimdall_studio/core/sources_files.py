"""What kind of model file a path holds, told from its content; reading .onnx headers.

No torch import here: detection reads zip directories and the first bytes, and
pickles are only scanned (``pickletools``), never executed.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.onnx_files import external_data_paths
from heimdall_studio.core.specs import TensorSpec

# File formats :func:`detect_format` tells apart.
TORCH_ZIP = "torch_zip"  # torch.save (zip with data.pkl)
TORCH_PICKLE = "torch_pickle"  # torch.save's legacy format or a plain pickle
TORCHSCRIPT_ZIP = "torchscript"  # torch.jit.save
PT2_ZIP = "exported_program"  # torch.export.save
ONNX_FILE = "onnx"

_SUPPORTED = "a PyTorch checkpoint (.pt/.pth/.ckpt), TorchScript, a torch.export .pt2 or an .onnx file"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, short enough for an error message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_path(path: Path) -> None:
    """Raise BadInputError unless ``path`` is an existing, non-empty file."""
    if not path.exists():
        raise BadInputError(f"{path} does not exist.", "Check the path; relative paths start from the current folder.")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not a model file.", f"Pick the model file inside it: {_SUPPORTED}.")
    if not path.is_file():
        raise BadInputError(f"{path} is not a regular file.", f"Pick {_SUPPORTED}.")
    if path.stat().st_size == 0:
        raise BadInputError(
            f"{path} is empty (0 bytes).", "The file was not written completely; save, export or copy it again."
        )


def detect_format(path: Path) -> str:
    """One of the format constants above, from the file's content (the extension only
    decides between ONNX and "unknown" for files that are neither zip nor pickle).

    Raises BadInputError for a missing, empty, truncated or unrecognised file.
    """
    check_path(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if is_zip(path):
        return _zip_format(path)
    if head.startswith(b"PK\x03\x04"):
        raise BadInputError(
            f"{path} starts like a PyTorch archive (zip) but is cut short or damaged: its zip directory is missing.",
            "The file was probably not copied or downloaded completely; copy it again from its source.",
        )
    if head[:1] == b"\x80":
        return TORCH_PICKLE
    if path.suffix.lower() == ".onnx" or _parses_as_onnx(path):
        return ONNX_FILE
    raise BadInputError(
        f"{path} is not a model file Heimdall Studio can read (unknown content).", f"Pick {_SUPPORTED}."
    )


def is_zip(path: Path) -> bool:
    """``zipfile.is_zipfile`` that says False, instead of raising, for a damaged directory."""
    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception as exc:  # BadZipFile, and names that are not valid UTF-8, bad sizes, …
        raise BadInputError(
            f"{path} is a damaged zip archive ({one_line(exc)}).", "Copy the file again from its source."
        ) from None
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return TORCHSCRIPT_ZIP
    if any(
        n.endswith("/archive_format")
        or n.endswith("serialized_exported_program.json")
        or ("/models/" in n and n.endswith(".json"))
        for n in names
    ):
        return PT2_ZIP
    if any(n.endswith("data.pkl") for n in names):
        return TORCH_ZIP
    raise BadInputError(
        f"{path} is a zip archive, but not one PyTorch wrote (no data.pkl, code/ or model.json).", f"Pick {_SUPPORTED}."
    )


def _parses_as_onnx(path: Path) -> bool:
    try:
        model = _read_onnx(path)
    except Exception:
        return False
    return len(model.graph.node) > 0 and len(model.graph.output) > 0


def _read_onnx(path: Path) -> Any:
    import onnx

    return onnx.load(str(path), load_external_data=False)


def pickle_globals(path: Path, file_format: str) -> list[str]:
    """The classes and functions a pickle would import, read without running it.

    Raises ValueError (or another exception) when the pickle is damaged.
    """
    if file_format == TORCH_ZIP:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    else:
        data = path.read_bytes()
    stream = io.BytesIO(data)
    found: list[str] = []
    memo: dict[Any, Any] = {}
    recent: list[Any] = []
    # The legacy torch format is several pickles back to back; storage bytes follow
    # the last one, so stop at the first pickle that fails after one has parsed.
    parsed_one = False
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            for op, arg, _pos in pickletools.genops(stream):
                if op.name == "GLOBAL":
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(recent) >= 2:
                    found.append(f"{recent[-2]}.{recent[-1]}")
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING"):
                    recent.append(arg)
                elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                    recent.append(memo.get(arg))
                elif op.name == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else None
                elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[arg] = recent[-1] if recent else None
                elif op.name not in ("PROTO", "FRAME"):
                    recent.append(None)
        except Exception:
            if parsed_one and stream.tell() > start:
                break
            raise
        parsed_one = True
        if file_format == TORCH_ZIP:
            break
    # Protocol 2 pickles name the builtins module "__builtin__".
    return list(dict.fromkeys(name.replace("__builtin__.", "builtins.", 1) for name in found))


def _onnx_dtype(elem_type: int) -> str:
    import onnx

    try:
        import numpy as np

        name: str = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except Exception:
        try:
            name = onnx.TensorProto.DataType.Name(elem_type).lower()
        except ValueError:  # a damaged file's made-up type number
            name = f"unknown({elem_type})"
    return {"bool_": "bool"}.get(name, name)


def read_onnx_header(path: Path) -> dict[str, Any]:
    """Inputs, outputs and facts of an .onnx file, without loading external weights.

    Returns ``{"inputs": [TensorSpec], "outputs": [str], "parameters": int,
    "metadata": {...}}``. Unknown dims become names (``batch`` on axis 0, else
    ``<input>_dim<i>``). Raises BadInputError for a damaged or truncated file, and for external
    data outside the file's folder.
    """
    try:
        model = _read_onnx(path)
    except Exception as exc:
        raise BadInputError(
            f"{path} is not a readable ONNX model: it is cut short or damaged ({one_line(exc)}).",
            "Export or copy the .onnx file again.",
        ) from None
    external_data_paths(path, model)  # refuse external data outside the model's folder before anything reads it
    graph = model.graph
    if not graph.output or not graph.node:
        raise BadInputError(
            f"{path} is not a complete ONNX model: its graph has "
            f"{len(graph.node)} nodes and {len(graph.output)} outputs.",
            "The file is probably truncated; export or copy it again.",
        )
    initializers = {init.name for init in graph.initializer}
    inputs = []
    for value in graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        shape: list[int | str] = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.dim_param:
                shape.append(dim.dim_param)
            else:
                shape.append("batch" if axis == 0 else f"{value.name}_dim{axis}")
        inputs.append(TensorSpec(value.name, tuple(shape), _onnx_dtype(tensor_type.elem_type)))
    parameters = 0
    for init in graph.initializer:
        count = 1
        for d in init.dims:
            count *= int(d)
        parameters += count
    opsets = {entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import}
    return {
        "inputs": inputs,
        "outputs": [value.name for value in graph.output],
        "parameters": parameters,
        "metadata": {
            "ir_version": int(model.ir_version),
            "opset": opsets.get("ai.onnx"),
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "metadata_props": {p.key: p.value for p in model.metadata_props},
        },
    }
