#!/usr/bin/env bash
# Debian packages the Qt app (QtWidgets, QtWebEngine for Netron) needs at run time.
# `--check` prints the ones that are missing (nothing when all are there).
set -u
PKGS="libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libnss3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2"
if [ "${1:-}" = "--check" ]; then
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$p"
  done
  exit 0
fi
apt-get install -y $PKGS
