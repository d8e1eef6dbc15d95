"""The launcher entry, AppStream metainfo and file types: validated by the desktop's own tools,
and `install-desktop` run as a user would, into a temporary XDG home."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120)


def test_the_packaged_launcher_entry_validates():
    done = _tool("desktop-file-validate", str(PACKAGING / "heimdall-studio.desktop"))
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_appstream_metainfo_validates():
    metainfo = PACKAGING / "io.github.heimdall_studio.HeimdallStudio.metainfo.xml"
    done = _tool("appstreamcli", "validate", "--no-net", str(metainfo))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation was successful" in done.stdout


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture
def xdg(tmp_path):
    data, config = tmp_path / "data", tmp_path / "config"
    config.mkdir()
    (config / "mimeapps.list").write_text(
        "[Default Applications]\ntext/plain=gedit.desktop;\napplication/x-onnx=netron.desktop;\n"
    )
    env = dict(os.environ, XDG_DATA_HOME=str(data), XDG_CONFIG_HOME=str(config))

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "heimdall_studio", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return data, config, run


def test_install_desktop_into_an_xdg_home_then_uninstall(xdg):
    data, config, run = xdg
    done = run("install-desktop")
    assert done.returncode == 0, done.stderr
    entry = data / "applications" / "heimdall-studio.desktop"
    validated = _tool("desktop-file-validate", str(entry))
    assert validated.returncode == 0 and not validated.stdout.strip(), validated.stdout

    # Exec is this installation's own launcher, and it runs.
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    launcher = fields["Exec"].split(" gui ")[0]
    assert fields["Exec"].endswith(" gui %f") and Path(fields["TryExec"]).is_file()
    assert os.access(fields["TryExec"], os.X_OK)
    version = subprocess.run([*launcher.split(), "--version"], capture_output=True, text=True, timeout=120)
    assert version.stdout.startswith("heimdall-studio "), version.stderr
    assert fields["Icon"] == "heimdall-studio"

    for size in SIZES:
        png = data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "heimdall-studio.png"
        assert _png_size(png) == (size, size)
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "heimdall-studio.svg").is_file()

    # The MIME database (rebuilt by update-mime-database) knows the types, the desktop database the app.
    globs = (data / "mime" / "globs2").read_text()
    for line in (
        "application/x-onnx:*.onnx",
        "application/x-pytorch-program:*.pt2",
        "application/x-pytorch-checkpoint:*.pt",
        "application/x-pytorch-checkpoint:*.pth",
    ):
        assert line in globs
    cache = (data / "applications" / "mimeinfo.cache").read_text()
    assert "application/x-onnx=heimdall-studio.desktop;" in cache
    mimeapps = (config / "mimeapps.list").read_text()
    assert "application/x-onnx=heimdall-studio.desktop;netron.desktop;" in mimeapps
    assert "application/x-pytorch-program=heimdall-studio.desktop;" in mimeapps
    assert "text/plain=gedit.desktop;" in mimeapps
    default = mimeapps.split("[Added Associations]")[0]
    assert "x-pytorch-checkpoint" not in default  # .pt/.pth: Open with only, never the default
    assert "application/x-pytorch-checkpoint=heimdall-studio.desktop;" in mimeapps

    assert run("install-desktop").returncode == 0  # again: nothing doubled
    assert (config / "mimeapps.list").read_text() == mimeapps

    removed = run("install-desktop", "--uninstall")
    assert removed.returncode == 0 and "Removed 11 file(s)" in removed.stdout, removed.stdout + removed.stderr
    assert not entry.exists() and not list((data / "icons").rglob("heimdall-studio.*"))
    assert "*.onnx" not in (data / "mime" / "globs2").read_text()
    assert (config / "mimeapps.list").read_text() == (
        "[Default Applications]\ntext/plain=gedit.desktop;\napplication/x-onnx=netron.desktop;\n"
    )
