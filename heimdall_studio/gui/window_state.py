"""Where the GUI keeps its own state: QSettings (geometry, docks, recent files) and run folders."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 10


def gui_settings() -> QSettings:
    """An INI file next to the app's settings (``HEIMDALL_CONFIG_DIR`` when set, so tests are isolated)."""
    from heimdall_studio.integrations.settings import config_dir

    path = config_dir() / "gui.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


def default_out_dir(source: str) -> Path:
    """A folder per model under the data dir, so runs never write into the current directory."""
    from heimdall_studio.integrations.settings import data_dir

    stem = Path(source.rstrip("/")).stem or "model"
    return data_dir() / "runs" / (re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "model")
