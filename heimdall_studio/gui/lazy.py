"""Modules the window needs only once data arrives, imported on first attribute access.

numpy costs a tenth of a second to import; the first paint should not wait for it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


np = LazyModule("numpy")
