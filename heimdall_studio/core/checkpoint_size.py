"""How big a PyTorch file says its contents are, read before torch loads a byte of them.

A zip archive (torch.save, TorchScript, .pt2) lists each entry's uncompressed size;
torch itself stores entries uncompressed, so a file whose entries inflate to far
more than the file is a zip bomb (a 2.9 MB file that grows to 3.2 GB) or damage.
A legacy (pre-zip) torch.save file declares each storage's element count in its
pickle and torch allocates that much before reading the bytes, so a declared size
larger than the file means damage or an attempt to exhaust memory.

Pickles are read here with an unpickler that imports nothing and calls nothing:
every global becomes an inert stand-in.
"""

from __future__ import annotations

import mmap
import pickle
import zipfile
from pathlib import Path
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.limits import check_fits, human_bytes
from heimdall_studio.core.sources_files import TORCH_PICKLE, is_zip

# Entries may inflate to this many times the file's size (plus SLACK) before the file is refused.
EXPANSION_LIMIT = 20
SLACK = 64 * 2**20
_STORAGE_ITEM_SIZES = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "UntypedStorage": 1,
    "QInt8Storage": 1,
    "QUInt8Storage": 1,
    "QInt32Storage": 4,
}
_DAMAGED_HINT = "Copy or save the file again from its source; do not open files of unknown origin."


def check_declared_size(path: Path, file_format: str) -> None:
    """BadInputError when ``path`` declares more data than its size allows or memory can hold."""
    size = path.stat().st_size
    if is_zip(path):
        declared = _zip_declared_bytes(path)
        if declared > size * EXPANSION_LIMIT + SLACK:
            raise BadInputError(
                f"{path} is a {human_bytes(size)} archive whose entries inflate to {human_bytes(declared)}: "
                f"PyTorch stores tensors uncompressed, so this is a zip bomb or a damaged file; it was not opened.",
                _DAMAGED_HINT,
            )
    elif file_format == TORCH_PICKLE:
        declared = _legacy_storage_bytes(path)
        if declared > size:
            raise BadInputError(
                f"{path} declares {human_bytes(declared)} of tensor data, but the whole file is "
                f"{human_bytes(size)}: it is damaged or made to exhaust memory; it was not opened.",
                _DAMAGED_HINT,
            )
    else:
        return
    check_fits(
        declared,
        f"The tensors declared in {path.name} ({human_bytes(declared)})",
        "Open it on a machine with more free memory, or close other programs.",
    )


def _zip_declared_bytes(path: Path) -> int:
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except Exception:  # BadZipFile, undecodable names, …
        return 0  # the loader reports the damage in its own words


class _Stub:
    """Whatever a pickle builds: accepts any construction and state, does nothing."""

    qualified = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


class _InertUnpickler(pickle.Unpickler):
    """Reads a pickle's structure without importing or calling anything, noting storage records."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.storages: dict[str, int] = {}  # storage key → declared bytes

    def find_class(self, module: str, name: str) -> type:
        return type(name, (_Stub,), {"qualified": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:
        # Legacy torch.save: ('storage', StorageType, key, location, numel, view_metadata)
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            storage_type, key, numel = pid[1], str(pid[2]), pid[4]
            item = _STORAGE_ITEM_SIZES.get(getattr(storage_type, "__name__", ""), 1)
            if isinstance(numel, int) and numel > 0:
                self.storages[key] = max(self.storages.get(key, 0), numel * item)
        return _Stub()


def _legacy_storage_bytes(path: Path) -> int:
    """Bytes of storage a legacy torch.save file declares (magic, protocol, sys info, then the object)."""
    total: dict[str, int] = {}
    # A memory map, not the file object: a pickle that declares a 1 TB bytes object makes a
    # file's read(n) allocate n bytes, while a map's read(n) returns only what is there.
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        for _ in range(4):
            unpickler = _InertUnpickler(mapped)
            try:
                unpickler.load()
            except Exception:
                break  # damage or the end of the pickles: torch.load reports it
            total.update(unpickler.storages)
    return sum(total.values())
