#!/usr/bin/env bash
# Developer entry point on a fresh Debian/Ubuntu/Pi OS machine:
#   ./run.sh demo    build (if needed) a synthetic-scenes bundle, then caption and speak with the file camera
#   ./run.sh test    the test suite
#   ./run.sh setup   only install what is needed (apt packages when root or with sudo, and .venv)
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES=(espeak-ng libespeak-ng1 alsa-utils sox python3-venv systemd shellcheck)
VENV=.venv

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

setup() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing apt packages: ${missing[*]}"
    if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
      echo "could not install ${missing[*]}: run as root or install them yourself" >&2
      exit 1
    fi
  fi
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  if [ ! -f "$VENV/.installed" ] || [ requirements-host.txt -nt "$VENV/.installed" ] || [ requirements.txt -nt "$VENV/.installed" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r requirements-host.txt
    touch "$VENV/.installed"
  fi
}

case "${1:-}" in
  setup) setup ;;
  test) setup; shift; exec "$VENV/bin/python" -m pytest -q "$@" ;;
  demo) setup; shift; exec "$VENV/bin/python" -m convert.demo "$@" ;;
  *) echo "usage: ./run.sh demo | test | setup" >&2; exit 2 ;;
esac
