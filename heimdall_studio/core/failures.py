"""Library failures that are the input's fault, told apart from bugs.

torch, numpy and ONNX Runtime raise their own exception types with their own
wording. An allocation that cannot succeed, a full disk and every failure of
ONNX Runtime on a file or feed it was given are a property of the input (exit 2),
not "failed unexpectedly… looks like a bug". :func:`user_error` maps them to a
:class:`BadInputError` that says what happened and what to do, or returns None
for anything else (which stays an internal error).
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heimdall_studio.core.errors import BadInputError, HeimdallError
from heimdall_studio.core.limits import available_memory, human_bytes

_ALLOCATION = re.compile(
    r"can't allocate memory|Failed to allocate memory|bad_alloc|Unable to allocate|out of memory|"
    r"Cannot allocate memory|OutOfMemoryError|MemoryError",
    re.IGNORECASE,
)
_REQUESTED = re.compile(
    r"(?:allocate|buffer of size)\D{0,12}(\d{4,})\s*bytes|buffer of size (\d{4,})|"
    r"allocate ([\d.]+ [KMGTPE]i?B)"
)
_ORT_STATUS = re.compile(r"\[ONNXRuntimeError\] : \d+ : (\w+) : ")
_NO_KERNEL = re.compile(r"Could not find an implementation for (\w+)\((\d+)\)")
_NO_SPACE = "No space left on device"
DISK_FULL_HINT = "Free some space on that disk, or choose an output folder on another disk (--out)."


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in seen:
        seen.append(link)
        link = link.__cause__ or link.__context__
    return seen


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


def is_disk_full(exc: BaseException) -> bool:
    return any((isinstance(e, OSError) and e.errno == errno.ENOSPC) or _NO_SPACE in str(e) for e in _chain(exc))


def disk_full_error(doing: str) -> BadInputError:
    return BadInputError(f"The disk is full (no space left on device) while {doing}.", DISK_FULL_HINT)


def describe_os_error(exc: OSError) -> str:
    """``the disk is full (no space left on device)``, ``Permission denied``, … for a message."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    return exc.strerror or str(exc) or type(exc).__name__


def is_allocation_failure(exc: BaseException) -> bool:
    return any(isinstance(e, MemoryError) or _ALLOCATION.search(str(e)) for e in _chain(exc))


def allocation_error(exc: BaseException, doing: str) -> BadInputError:
    text = " ".join(str(e) for e in _chain(exc))
    match = _REQUESTED.search(text)
    asked = ""
    if match:
        amount = match.group(1) or match.group(2)
        asked = f" (it asked for {human_bytes(int(amount))})" if amount else f" (it asked for {match.group(3)})"
    return BadInputError(
        f"Out of memory while {doing}{asked}; {human_bytes(available_memory())} is available here.",
        "The model's tensors at these input sizes do not fit: use smaller input dims or batch sizes "
        "(--input, --batch-size, --bench-batch-sizes), or a machine with more memory.",
    )


def is_ort_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("onnxruntime") or bool(_ORT_STATUS.search(str(exc)))


def _file_opset(onnx_path: Path) -> int | None:
    try:
        from heimdall_studio.core.onnx_files import load_structure

        model = load_structure(onnx_path)
        return next((int(i.version) for i in model.opset_import if i.domain in ("", "ai.onnx")), None)
    except Exception:  # a file ORT cannot read may be unreadable for onnx too
        return None


def ort_load_error(exc: BaseException, onnx_path: Path) -> HeimdallError:
    """ONNX Runtime refused to create a session for ``onnx_path``."""
    import onnxruntime as ort

    name = Path(onnx_path).name
    if is_allocation_failure(exc):
        return allocation_error(exc, f"ONNX Runtime loaded {name}")
    text = _ORT_STATUS.sub("", first_line(exc))
    kernel = _NO_KERNEL.search(str(exc))
    if kernel:
        op, since = kernel.groups()
        opset = _file_opset(Path(onnx_path))
        at = f"opset {opset}" if opset is not None else "the file's opset"
        return BadInputError(
            f"ONNX Runtime {ort.__version__} has no kernel for the operator {op} at {at} (the {op}-{since} "
            f"definition) used in {name}, so it cannot run the model.",
            "Re-export the model at a newer opset (--opset 17 or higher for a PyTorch source), or convert the "
            "file: onnx.version_converter.convert_version(model, 17).",
        )
    return BadInputError(
        f"ONNX Runtime {ort.__version__} cannot load {name}: {text}",
        "The file is damaged or uses something this ONNX Runtime does not support; "
        "`heimdall-studio inspect` shows what onnx.checker thinks of it. Export it again.",
    )


def ort_run_error(exc: BaseException, onnx_path: Path, feed: Mapping[str, Any]) -> HeimdallError:
    """ONNX Runtime failed while running ``onnx_path`` on ``feed``."""
    name = Path(onnx_path).name
    if is_allocation_failure(exc):
        return allocation_error(exc, f"ONNX Runtime ran {name}")
    text = _ORT_STATUS.sub("", first_line(exc))
    named = [key for key in feed if re.search(rf"\b{re.escape(key)}\b", text)]
    integers = [key for key, value in feed.items() if getattr(getattr(value, "dtype", None), "kind", "") in "iu"]
    suspects = named or integers or list(feed)
    listing = ", ".join(f"{key!r} {_describe(feed[key])}" for key in suspects)
    hint = (
        f"Give real inputs with --inputs-npz FILE.npz (one array per input: {', '.join(feed)})"
        + (", or set the range of random integers with --int-range LOW,HIGH" if integers else "")
        + "; check the input dims (--input NAME:DIMS:DTYPE)."
    )
    return BadInputError(f"{name} rejected the input {listing}: {text}", hint)


def _describe(value: Any) -> str:
    shape = tuple(getattr(value, "shape", ()))
    dtype = getattr(value, "dtype", "")
    size = getattr(value, "size", 0)
    if getattr(dtype, "kind", "") in "iu" and size:
        return f"({dtype} {shape}, random values {int(value.min())}..{int(value.max())})"
    return f"({dtype} {shape})"


def user_error(exc: BaseException, doing: str) -> HeimdallError | None:
    """The BadInputError an unexpected library exception stands for, or None when it is a bug."""
    if isinstance(exc, HeimdallError):
        return exc
    if is_disk_full(exc):
        return disk_full_error(doing)
    if is_allocation_failure(exc):
        return allocation_error(exc, doing)
    if is_ort_error(exc):
        text = _ORT_STATUS.sub("", first_line(exc))
        return BadInputError(
            f"ONNX Runtime failed while {doing}: {text}",
            "The ONNX file or its inputs are not ones ONNX Runtime can run; check them with "
            "`heimdall-studio inspect`, or give real inputs with --inputs-npz.",
        )
    return None
