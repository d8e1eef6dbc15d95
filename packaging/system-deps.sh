#!/usr/bin/env bash
# Debian packages Heimdall Studio needs outside Python.
#   bash packaging/system-deps.sh           install the missing ones (as root, with apt-get), or say
#                                           exactly which to install; never fails the caller
#   bash packaging/system-deps.sh --check   print the missing ones (nothing when all are there)
set -u
# The app: QtWidgets, QtWebEngine (Netron), and the libraries Qt's X11 (xcb) platform plugin loads
# (Qt >= 6.5). Without the xcb ones, Qt aborts at start with exit code 134 on a display.
RUNTIME="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libnss3 libxcomposite1 libxdamage1
 libxrandr2 libxtst6 libxkbfile1 libasound2 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-randr0"
# The tests: desktop-file-validate, appstreamcli and update-mime-database check the launcher entry,
# its AppStream metainfo and the MIME types that `heimdall-studio install-desktop` installs.
TOOLS="desktop-file-utils appstream shared-mime-info"

missing() {
  for p in $RUNTIME $TOOLS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$p"
  done
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  [ "${1:-}" = "--check" ] && exit 0
  echo "system-deps: not a Debian-based system. The window needs Qt 6's X11 libraries (xcb-cursor," \
       "xcb-icccm, xcb-keysyms, xcb-image, xcb-render-util, xcb-shape, xkbcommon-x11); the tests need" \
       "desktop-file-utils, appstream and shared-mime-info. Install them with your package manager."
  exit 0
fi
todo=$(missing)
if [ "${1:-}" = "--check" ]; then
  printf '%s' "$todo"
  exit 0
fi
[ -z "$todo" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing $todo"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq $todo >/dev/null || { apt-get update -qq && apt-get install -y -qq $todo >/dev/null; }; then
    exit 0
  fi
  echo "system-deps: apt-get could not install them (see above)."
fi
echo "system-deps: Heimdall Studio's window and tests need these Debian packages, which are missing:"
echo "  sudo apt-get install $todo"
echo "Without them the app runs headless (\`make run\` says so) and the launcher-entry tests fail."
exit 0
