"""What the package ships matches its sources in resources/ and packaging/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_icons_and_desktop_files_match_their_sources():
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "sync_resources.py"), "--check"],
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_qrc_lists_every_icon_and_each_exists():
    import re

    listed = re.findall(r"<file>(.+?)</file>", (ROOT / "resources" / "heimdall-studio.qrc").read_text())
    assert "icons/heimdall-studio.svg" in listed
    for name in ("open", "run", "cancel", "push", "promote"):
        assert f"icons/actions/{name}.svg" in listed
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert f"icons/hicolor/{size}x{size}/apps/heimdall-studio.png" in listed
    for path in listed:
        assert (ROOT / "resources" / path).is_file() and (ROOT / "heimdall_studio" / "resources" / path).is_file()
