"""Inputs for a model: seeded random feeds from TensorSpecs, or a user's .npz file.

Parity and benchmark feed both runners the very same numpy arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import TensorSpec

INT_RANGE = (0, 10)  # small non-negative ints: valid as indices into most embeddings


def numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        raise BadInputError("numpy has no bfloat16, so Heimdall Studio cannot feed a bfloat16 input.",
                            "Give the input as float32 (cast inside the model) or float16.")
    return np.dtype(name)


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def random_feed(specs: list[TensorSpec], batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One batch: floats standard normal, ints in INT_RANGE, bools fair coins."""
    feed = {}
    for spec in specs:
        shape = spec.concrete_shape(batch_size)
        dtype = numpy_dtype(spec.dtype)
        if dtype.kind == "f":
            feed[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[spec.name] = rng.random(shape) < 0.5
        else:
            feed[spec.name] = rng.integers(*INT_RANGE, size=shape).astype(dtype)
    return feed


def load_npz_feed(path: Path, specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    """The arrays of an .npz, one per input name, checked against the specs."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise BadInputError(f"Cannot read inputs from {path}: {exc}",
                            "Give an .npz written by numpy.savez with one array per input name.") from exc
    wanted = [spec.name for spec in specs]
    missing = [name for name in wanted if name not in arrays]
    extra = [name for name in arrays if name not in wanted]
    if missing or extra:
        raise BadInputError(
            f"{path.name} does not match the model's inputs: missing {missing or 'none'}, unexpected {extra or 'none'}.",
            f"Save exactly one array per input: {', '.join(wanted)}.")
    feed = {}
    for spec in specs:
        array = arrays[spec.name]
        fixed_ok = len(array.shape) == len(spec.shape) and all(
            isinstance(d, str) or d == n for d, n in zip(spec.shape, array.shape))
        if not fixed_ok:
            raise BadInputError(f"Input {spec.name!r} in {path.name} has shape {tuple(array.shape)}, "
                                f"the model wants {spec.shape}.",
                                "Fixed dims must match; named dims (batch) may be any size.")
        dtype = numpy_dtype(spec.dtype)
        if array.dtype.kind.replace("u", "i") != dtype.kind.replace("u", "i"):
            raise BadInputError(f"Input {spec.name!r} in {path.name} is {array.dtype}, the model wants {dtype}.",
                                f"Save it as {dtype}.")
        feed[spec.name] = array.astype(dtype, copy=False)
    return feed
