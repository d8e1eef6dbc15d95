"""Inputs for a model: seeded random feeds from TensorSpecs, or a user's .npz file.

Parity and benchmark feed both runners the very same numpy arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.limits import check_feed_fits, check_fits
from heimdall_studio.core.specs import TensorSpec

# Random integer inputs are drawn from LOW..HIGH inclusive: small non-negative ints are
# valid as indices into most embeddings and gathers. --int-range changes it.
INT_RANGE = (0, 9)


def numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        raise BadInputError(
            "numpy has no bfloat16, so Heimdall Studio cannot feed a bfloat16 input.",
            "Give the input as float32 (cast inside the model) or float16.",
        )
    return np.dtype(name)


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def random_feed(
    specs: list[TensorSpec], batch_size: int, rng: np.random.Generator, int_range: tuple[int, int] = INT_RANGE
) -> dict[str, np.ndarray]:
    """One batch: floats standard normal, ints in ``int_range`` (inclusive), bools fair coins.

    BadInputError when the batch cannot fit in memory or ``int_range`` does not fit an input's dtype.
    """
    check_feed_fits(specs, [batch_size], "one batch")
    low, high = int_range
    feed = {}
    for spec in specs:
        shape = spec.concrete_shape(batch_size)
        dtype = numpy_dtype(spec.dtype)
        if dtype.kind == "f":
            feed[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feed[spec.name] = rng.random(shape) < 0.5
        else:
            info = np.iinfo(dtype)
            if low < info.min or high > info.max:
                raise BadInputError(
                    f"--int-range {low},{high} does not fit input {spec.name!r} ({dtype}: {info.min}..{info.max}).",
                    "Give a range inside the input's dtype.",
                )
            feed[spec.name] = rng.integers(low, high, size=shape, endpoint=True).astype(dtype)
    return feed


def load_npz_feed(path: Path, specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    """The arrays of an .npz, one per input name, checked against the specs."""
    path = Path(path)
    _check_npz_size(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise BadInputError(
            f"Cannot read inputs from {path}: {exc}",
            "Give an .npz written by numpy.savez with one array per input name.",
        ) from exc
    wanted = [spec.name for spec in specs]
    missing = [name for name in wanted if name not in arrays]
    extra = [name for name in arrays if name not in wanted]
    if missing or extra:
        raise BadInputError(
            f"{path.name} does not match the model's inputs: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}.",
            f"Save exactly one array per input: {', '.join(wanted)}.",
        )
    feed = {}
    for spec in specs:
        array = arrays[spec.name]
        fixed_ok = len(array.shape) == len(spec.shape) and all(
            isinstance(d, str) or d == n for d, n in zip(spec.shape, array.shape, strict=True)
        )
        if not fixed_ok:
            raise BadInputError(
                f"Input {spec.name!r} in {path.name} has shape {tuple(array.shape)}, the model wants {spec.shape}.",
                "Fixed dims must match; named dims (batch) may be any size.",
            )
        dtype = numpy_dtype(spec.dtype)
        if array.dtype.kind.replace("u", "i") != dtype.kind.replace("u", "i"):
            raise BadInputError(
                f"Input {spec.name!r} in {path.name} is {array.dtype}, the model wants {dtype}.", f"Save it as {dtype}."
            )
        feed[spec.name] = array.astype(dtype, copy=False)
    return feed


def _check_npz_size(path: Path) -> None:
    """An .npz is a zip (compressed by savez_compressed): refuse one whose arrays cannot fit in memory."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except Exception:  # not a zip, or a damaged one: np.load reports it
        return
    check_fits(declared, f"The arrays in {path.name}", "Give fewer or smaller arrays in the .npz.")
