"""How much memory a request needs, estimated before anything is allocated.

An input spec, a batch size, a parity or benchmark feed and a checkpoint's
declared storage each have a size that is known before the bytes exist. A size
that cannot fit in the memory available now is refused with a BadInputError
that names it, instead of ending in an allocator's failure (or the OOM killer)
halfway through a run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import TensorSpec

# Share of the memory available now that one request may plan to use: the model,
# its activations and the runtimes need the rest.
MEMORY_SHARE = 0.8

_ITEM_SIZES = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "uint16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "uint32": 4,
    "uint64": 8,
    "complex64": 8,
    "complex128": 16,
}


def available_memory() -> int:
    """Bytes of memory the system can give this process now (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def memory_budget() -> int:
    return int(available_memory() * MEMORY_SHARE)


def human_bytes(count: float) -> str:
    """``3.2 GB``, ``4.0 PB``: decimal units, as disks and most tools print them."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} EB"  # pragma: no cover  (the loop returns at PB)


def item_size(dtype: str) -> int:
    return _ITEM_SIZES.get(dtype, 8)  # unknown dtypes (from foreign .onnx files): assume the widest common


def tensor_bytes(spec: TensorSpec, batch_size: int) -> int:
    """Bytes of one tensor of ``spec`` at ``batch_size`` (other symbolic dims count as 1, as feeds use)."""
    return math.prod(spec.concrete_shape(batch_size)) * item_size(spec.dtype)


def feed_bytes(specs: Sequence[TensorSpec], batch_sizes: Iterable[int]) -> int:
    """Bytes of one feed per batch size, all held at once (as the benchmark holds them)."""
    return sum(tensor_bytes(spec, size) for size in batch_sizes for spec in specs)


def check_fits(needed: int, what: str, hint: str) -> None:
    """BadInputError when ``needed`` bytes exceed the share of available memory one request may use."""
    budget = memory_budget()
    if needed > budget:
        raise BadInputError(
            f"{what} need {human_bytes(needed)} of memory; only {human_bytes(available_memory())} is available "
            f"here (Heimdall Studio plans with at most {MEMORY_SHARE:.0%} of it).",
            hint,
        )


def check_feed_fits(specs: Sequence[TensorSpec], batch_sizes: Sequence[int], purpose: str) -> None:
    """Refuse feeds for ``specs`` at ``batch_sizes`` (all held at once) that cannot fit in memory.

    The message names the largest input and its shape, e.g. ``x (100000, 100000, 100000) float32``.
    """
    if not specs or not batch_sizes:
        return
    for spec in specs:
        if any(d < 0 for d in spec.concrete_shape(1)):
            raise BadInputError(
                f"Input {spec.name!r} has an impossible shape {spec.shape} (a negative size).",
                "Give the input's real shape with --input NAME:DIMS:DTYPE.",
            )
    needed = feed_bytes(specs, batch_sizes)
    largest_batch = max(batch_sizes)
    biggest = max(specs, key=lambda spec: tensor_bytes(spec, largest_batch))
    shape = biggest.concrete_shape(largest_batch)
    sizes = ",".join(str(size) for size in batch_sizes)
    check_fits(
        needed,
        f"The inputs for {purpose} (batch size {sizes}; largest: {biggest.name} {shape} {biggest.dtype})",
        "Use smaller input dims (--input NAME:DIMS:DTYPE) or smaller batch sizes (--batch-size, --bench-batch-sizes).",
    )


def release_memory(*, collect: bool = False) -> None:
    """Give freed heap pages back to the system (glibc keeps them in its arenas otherwise, so RSS
    never shrinks after a step freed a copy of the weights); microseconds. ``collect`` first runs the
    garbage collector (0.1–0.5 s with torch loaded), for what is held in reference cycles: the
    programs and graphs torch.export builds hold the model's weights in cycles."""
    import ctypes
    import gc
    import sys

    if collect:
        gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass
