"""`heimdall-studio install-desktop [--uninstall]`: the launcher entry, icons and file types, per user.

Everything goes under the XDG folders ($XDG_DATA_HOME, default ~/.local/share; $XDG_CONFIG_HOME,
default ~/.config):
- ``applications/heimdall-studio.desktop``, whose Exec is this installation's own launcher;
- ``icons/hicolor/NxN/apps/heimdall-studio.png`` (16 to 512 px) and ``scalable/apps/…svg``;
- ``mime/packages/heimdall-studio.xml``: .onnx, .pt2, and .pt/.pth, then ``update-mime-database``;
- ``mimeapps.list``: the app is the default for .onnx and .pt2 and in "Open with" for .pt/.pth.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import heimdall_studio

DESKTOP_ID = "heimdall-studio.desktop"
ICON_NAME = "heimdall-studio"
MIME_FILE = "heimdall-studio.xml"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
DEFAULT_FOR = ("application/x-onnx", "application/x-pytorch-program")
OPEN_WITH = DEFAULT_FOR + ("application/x-pytorch-checkpoint",)
RESOURCES = Path(heimdall_studio.__file__).resolve().parent / "resources"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install-desktop",
        help="add the app to your launcher, with its icon and file types (.onnx, .pt2; Open with for .pt/.pth)",
    )
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop added")
    p.set_defaults(func=cmd_install_desktop)


def cmd_install_desktop(args: argparse.Namespace) -> int:
    paths = XdgPaths.from_environment()
    done = uninstall(paths) if args.uninstall else install(paths, launcher_command())
    for line in done:
        print(line)
    return 0


class XdgPaths:
    def __init__(self, data_home: Path, config_home: Path):
        self.data_home, self.config_home = data_home, config_home
        self.desktop_file = data_home / "applications" / DESKTOP_ID
        self.icons = data_home / "icons" / "hicolor"
        self.mime_dir = data_home / "mime"
        self.mime_file = self.mime_dir / "packages" / MIME_FILE
        self.mimeapps = config_home / "mimeapps.list"

    @classmethod
    def from_environment(cls) -> XdgPaths:
        home = Path.home()
        return cls(
            Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share"),
            Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config"),
        )

    def icon_files(self) -> list[Path]:
        return [self.icons / f"{n}x{n}" / "apps" / f"{ICON_NAME}.png" for n in ICON_SIZES] + [
            self.icons / "scalable" / "apps" / f"{ICON_NAME}.svg"
        ]


def launcher_command() -> list[str]:
    """How a file manager starts this installation: the bundle's executable, the venv's
    ``heimdall-studio`` script, or ``python -m heimdall_studio``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    beside = Path(sys.executable).parent / "heimdall-studio"  # a venv's bin/ (not resolved: keep the venv)
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("heimdall-studio")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "heimdall_studio"]


def desktop_entry_text(command: list[str]) -> str:
    """The packaged entry with Exec/TryExec pointing at ``command`` (quoted as the spec asks)."""
    exec_line = " ".join(_quote_exec(part) for part in command)
    lines = []
    for line in (RESOURCES / "desktop" / DESKTOP_ID).read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line} gui %f"
        elif line.startswith("TryExec="):
            line = f"TryExec={command[0]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _quote_exec(arg: str) -> str:
    if all(c.isalnum() or c in "/._-+:=," for c in arg):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def install(paths: XdgPaths, command: list[str]) -> list[str]:
    icons_src = RESOURCES / "icons"
    _write(paths.desktop_file, desktop_entry_text(command).encode())
    for target in paths.icon_files():
        size_dir = target.parent.parent.name
        if size_dir == "scalable":
            src = icons_src / f"{ICON_NAME}.svg"
        else:
            src = icons_src / "hicolor" / size_dir / "apps" / target.name
        _write(target, src.read_bytes())
    _write(paths.mime_file, (RESOURCES / "desktop" / "heimdall-studio-mime.xml").read_bytes())
    _edit_mimeapps(paths.mimeapps, add=True)
    notes = _refresh_caches(paths)
    return [
        f"Installed the launcher entry {paths.desktop_file}",
        f"  runs: {' '.join(shlex.quote(c) for c in command)} gui FILE",
        f"Installed the icon in {len(paths.icon_files())} sizes under {paths.icons}",
        f"Installed the file types (.onnx, .pt2, .pt/.pth) in {paths.mime_file}",
        f"Heimdall Studio opens .onnx and .pt2 files by default, and .pt/.pth with Open with ({paths.mimeapps})",
        *notes,
    ]


def uninstall(paths: XdgPaths) -> list[str]:
    removed = [p for p in (paths.desktop_file, paths.mime_file, *paths.icon_files()) if p.exists()]
    for path in removed:
        path.unlink()
    _edit_mimeapps(paths.mimeapps, add=False)
    notes = _refresh_caches(paths)
    if not removed:
        return ["Nothing to remove: install-desktop had not installed anything here.", *notes]
    return [f"Removed {len(removed)} file(s): the launcher entry, icons and file types", *notes]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _edit_mimeapps(path: Path, add: bool) -> None:
    """Add (or remove) our desktop id in mimeapps.list, keeping every other line as it was."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    wanted = {"Default Applications": DEFAULT_FOR, "Added Associations": OPEN_WITH}
    out: list[str] = []
    section = ""
    seen: dict[str, set[str]] = {name: set() for name in wanted}

    def close_section() -> None:
        if add and section in wanted:
            out.extend(f"{mime}={DESKTOP_ID};" for mime in wanted[section] if mime not in seen[section])
            seen[section].update(wanted[section])

    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            close_section()
            section = stripped[1:-1]
            out.append(line)
            continue
        key, eq, value = line.partition("=")
        if section in wanted and eq and key.strip() in OPEN_WITH:
            ids = [i for i in value.strip().split(";") if i and i != DESKTOP_ID]
            if add and key.strip() in wanted[section]:
                ids.insert(0, DESKTOP_ID)
                seen[section].add(key.strip())
            if ids:
                out.append(f"{key.strip()}={';'.join(ids)};")
            continue
        out.append(line)
    close_section()
    if add:
        for name, mimes in wanted.items():
            if not seen[name]:
                out += ([""] if out and out[-1].strip() else []) + [f"[{name}]"]
                out += [f"{mime}={DESKTOP_ID};" for mime in mimes]
    if not add:  # drop a section header that only held our entries
        out = [
            line
            for i, line in enumerate(out)
            if not (
                line.strip()[1:-1] in wanted
                and (i + 1 == len(out) or not out[i + 1].strip() or out[i + 1].strip().startswith("["))
            )
        ]
    while out and not out[-1].strip():
        out.pop()
    if out or path.exists():
        _write(path, ("\n".join(out) + "\n").encode())


def _refresh_caches(paths: XdgPaths) -> list[str]:
    """Rebuild the user's MIME and desktop databases where the tools exist; say so where not."""
    notes = []
    refreshers = (("update-mime-database", paths.mime_dir), ("update-desktop-database", paths.desktop_file.parent))
    for tool, folder in refreshers:
        if shutil.which(tool) is None:
            notes.append(f"({tool} is not installed: file types take effect after your desktop rebuilds its caches)")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([tool, str(folder)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            notes.append(f"({tool} {folder} failed: {done.stderr.strip()[:200]})")
    if shutil.which("gtk-update-icon-cache") and (paths.icons / "index.theme").exists():
        subprocess.run(["gtk-update-icon-cache", "-q", "-t", str(paths.icons)], capture_output=True, timeout=120)
    return notes
