"""The app's own icons, shipped as package data in ``heimdall_studio/resources/icons``.

Sources are in the repository's ``resources/``; ``packaging/sync_resources.py`` renders and copies
them here (a test keeps the two in sync). Drawn for Heimdall Studio, Apache-2.0 like the code.
"""

from __future__ import annotations

from pathlib import Path

import PySide6.QtSvg  # noqa: F401  # the SVG icon engine needs QtSvg (and a bundle must ship it)
from PySide6.QtGui import QIcon

ICONS_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"
APP_ICON_NAME = "heimdall-studio"
APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ACTIONS = ("open", "run", "cancel", "push", "promote")


def app_icon_png(size: int) -> Path:
    return ICONS_DIR / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ICON_NAME}.png"


def app_icon() -> QIcon:
    """Heimdall Studio's icon, with a pixmap drawn for each size from 16 to 512 px."""
    icon = QIcon()
    for size in APP_ICON_SIZES:
        icon.addFile(str(app_icon_png(size)))
    return icon


def action_icon(name: str) -> QIcon:
    """The icon of one of the app's actions: ``open``, ``run``, ``cancel``, ``push`` or ``promote``."""
    if name not in ACTIONS:
        raise ValueError(f"There is no action icon {name!r}; the app's action icons are {', '.join(ACTIONS)}.")
    return QIcon(str(ICONS_DIR / "actions" / f"{name}.svg"))
