#!/usr/bin/env bash
# Developer entry point on a fresh Debian/Ubuntu/Pi OS machine:
#   ./run.sh demo [PHOTO...]      describe photos (default: samples/) with the shipped bundle, and speak
#   ./run.sh demo --synthetic     train a synthetic-scenes bundle, then run the daemon on held-out scenes
#   ./run.sh test [-m "not slow"] the test suite (everything; -m "not slow" is the quick loop)
#   ./run.sh setup                only install what is needed (apt packages when root or with sudo, and .venv)
#   ./run.sh pi-check [-n N]      install and run the device side in a Debian Bookworm arm64 root under qemu
#                                 (root or sudo; ~150 MB of packages the first time), compare its captions
set -euo pipefail
cd "$(dirname "$0")"
APT_PACKAGES=(espeak-ng libespeak-ng1 alsa-utils sox python3-venv systemd shellcheck tesseract-ocr-eng fonts-dejavu-core fonts-liberation)
VENV=.venv

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# setup [device]: apt packages, then the venv with the host requirements (or only the device's)
setup() {
  local missing=() reqs=requirements-host.txt stamp="$VENV/.installed"
  if [ "${1:-}" = device ]; then reqs=requirements.txt; stamp="$VENV/.installed-device"; fi
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing apt packages: ${missing[*]}"
    if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
      echo "could not install ${missing[*]}: run as root or install them yourself" >&2
      exit 1
    fi
  fi
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  if [ -f "$VENV/.installed" ] && [ "$stamp" != "$VENV/.installed" ] && [ ! requirements.txt -nt "$VENV/.installed" ]; then
    return 0  # the host install includes the device's
  fi
  if [ ! -f "$stamp" ] || [ "$reqs" -nt "$stamp" ] || [ requirements.txt -nt "$stamp" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$reqs"
    touch "$stamp"
  fi
}

demo() {
  if [ "${1:-}" = --synthetic ]; then
    setup; shift
    exec "$VENV/bin/python" synthetic_demo.py "$@"
  fi
  setup device
  local photos=("$@") out
  [ ${#photos[@]} -gt 0 ] || photos=(samples/*.jpg)
  if aplay -l 2>/dev/null | grep -q '^card'; then
    out=(--speak)
  else
    out=(--wav-dir build/demo/wav)
    echo "no sound card here: the spoken descriptions go to build/demo/wav/"
  fi
  exec "$VENV/bin/python" -m device caption --bundle bundles/flickr8k "${out[@]}" "${photos[@]}"
}

pi_check() {
  setup
  local missing=()
  for p in qemu-user-static debootstrap binfmt-support; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
      { echo "could not install ${missing[*]}: run as root or install them yourself" >&2; exit 1; }
  fi
  # the dev photos and text-scene backgrounds: $SEESAY_DATA (a folder like the workplace's shared/data)
  local data="${SEESAY_DATA:-../shared/data}"
  if [ ! -f "$data/flickr8k-224/splits/dev.txt" ] || [ ! -d "$data/flickr8k/images" ]; then
    echo "pi-check needs captioned dev photos: set SEESAY_DATA to a folder with flickr8k-224/ (captions.csv, images/, splits/dev.txt) and flickr8k/images/" >&2
    exit 2
  fi
  local args=(-m integration pi-check --data "$data/flickr8k-224" --backgrounds "$data/flickr8k/images" "$@")
  if [ "$(id -u)" -eq 0 ]; then exec "$VENV/bin/python" "${args[@]}"; fi
  exec sudo "$VENV/bin/python" "${args[@]}"  # debootstrap, chroot and mounts need root
}

case "${1:-}" in
  setup) setup ;;
  pi-check) shift; pi_check "$@" ;;
  test) setup; shift; exec "$VENV/bin/python" -m pytest -q "$@" ;;  # -m "not slow": the quick loop
  demo) shift; demo "$@" ;;
  *) echo "usage: ./run.sh demo [PHOTO... | --synthetic] | test | setup | pi-check [-n N]" >&2; exit 2 ;;
esac
