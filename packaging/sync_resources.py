"""Render the app icon's PNGs and copy what the package ships from resources/ and packaging/.

    python packaging/sync_resources.py           # after editing an SVG or a packaging file
    python packaging/sync_resources.py --check   # exit 1, listing what is stale (run by the tests)

Sources: ``resources/icons/*.svg`` and ``packaging/`` (launcher entry, MIME types, AppStream
metainfo). Rendered: ``resources/icons/hicolor/NxN/apps/heimdall-studio.png`` for each size.
Shipped: ``heimdall_studio/resources/`` holds copies of both, and ``resources/heimdall-studio.qrc``
lists every icon (for ``pyside6-rcc`` users). Needs PySide6 (QtSvg); runs with
QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "resources"
SHIPPED = ROOT / "heimdall_studio" / "resources"
APP_ICON = "heimdall-studio"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DESKTOP_FILES = (
    "heimdall-studio.desktop",
    "heimdall-studio-mime.xml",
    "io.github.heimdall_studio.HeimdallStudio.metainfo.xml",
)


def png_path(size: int) -> Path:
    return SOURCES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ICON}.png"


def render(svg: Path, size: int):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG for Qt's renderer.")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def qrc_text() -> str:
    icons = sorted(p.relative_to(SOURCES).as_posix() for p in (SOURCES / "icons").rglob("*") if p.is_file())
    lines = ["<!DOCTYPE RCC>", '<RCC version="1.0">', '  <qresource prefix="/">']
    lines += [f"    <file>{path}</file>" for path in icons]
    lines += ["  </qresource>", "</RCC>", ""]
    return "\n".join(lines)


def shipped_copies() -> dict[Path, Path]:
    """shipped file → its source, for every file the package carries."""
    copies = {SHIPPED / p.relative_to(SOURCES): p for p in (SOURCES / "icons").rglob("*") if p.is_file()}
    copies.update({SHIPPED / "desktop" / name: ROOT / "packaging" / name for name in DESKTOP_FILES})
    return copies


def stale(check_only: bool) -> list[str]:
    from PySide6.QtGui import QGuiApplication, QImage

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841  (QSvgRenderer wants one)
    problems = []
    for size in SIZES:
        image, path = render(SOURCES / "icons" / f"{APP_ICON}.svg", size), png_path(size)
        current = QImage(str(path)) if path.exists() else QImage()
        if current.convertToFormat(image.format()) != image:
            problems.append(f"{path.relative_to(ROOT)} does not match the SVG at {size} px")
            if not check_only:
                path.parent.mkdir(parents=True, exist_ok=True)
                image.save(str(path), "PNG")
    qrc = SOURCES / "heimdall-studio.qrc"
    if not qrc.exists() or qrc.read_text() != qrc_text():
        problems.append(f"{qrc.relative_to(ROOT)} does not list exactly the icons in resources/icons")
        if not check_only:
            qrc.write_text(qrc_text())
    copies = shipped_copies()
    for target, source in copies.items():
        if not target.exists() or target.read_bytes() != source.read_bytes():
            problems.append(f"{target.relative_to(ROOT)} differs from {source.relative_to(ROOT)}")
            if not check_only:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
    for extra in sorted(p for p in SHIPPED.rglob("*") if p.is_file() and p not in copies):
        problems.append(f"{extra.relative_to(ROOT)} has no source in resources/ or packaging/")
        if not check_only:
            extra.unlink()
    return problems


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    problems = stale(check_only)
    if check_only and problems:
        print("Stale resources (run `python packaging/sync_resources.py`):", *problems, sep="\n  ")
        return 1
    for line in problems:
        print(f"updated: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
