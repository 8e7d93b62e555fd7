#!/usr/bin/env bash
# Provision seesay on Raspberry Pi OS (Bookworm, 64-bit), JetPack (Ubuntu) or another Debian/Ubuntu.
# Safe to run twice: the second run changes nothing and says so.
#
#   sudo ./install.sh                                   install (or update) and enable the service, with the
#                                                       shipped bundle (bundles/flickr8k) unless one is installed
#   sudo ./install.sh --bundle /path/to/bundle          the same with your own bundle (replaces the installed one)
#   sudo ./install.sh --coral --bundle DIR              also the Coral Edge TPU runtime
#   sudo ./install.sh --ocr                             also text reading (double press): Tesseract + PP-OCR detector
#   ./install.sh --dry-run --bundle DIR                 print every action, change nothing
#   ./install.sh --root /tmp/stage --bundle DIR         install into a staging root (tests, image builds)
#   sudo ./install.sh --uninstall                       remove all but /etc/seesay (your config)
#
# Stand-ins for tests and image builds (environment): SEESAY_APT_GET, SEESAY_DPKG_QUERY, SEESAY_SYSTEMCTL,
# SEESAY_USERADD, SEESAY_GROUPADD_MEMBER (usermod), SEESAY_PLATFORM (pi4|pi5|pizero2|jetson|debian),
# SEESAY_LIVE_SYSTEMD=1 (a staging root whose stand-in systemctl acts as a running system's: reload, restart),
# SEESAY_KILL_AT_ACTION=N (kill -9 itself just before its Nth action: the power-cut test).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT="" BUNDLE="" CORAL=0 OCR=0 DRY=0 UNINSTALL=0
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a folder}; shift 2 ;;
    --bundle) BUNDLE=${2:?--bundle needs a folder}; shift 2 ;;
    --coral) CORAL=1; shift ;;
    --ocr) OCR=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

APT_GET=${SEESAY_APT_GET:-apt-get}
DPKG_QUERY=${SEESAY_DPKG_QUERY:-dpkg-query}
SYSTEMCTL=${SEESAY_SYSTEMCTL:-systemctl}
USERADD=${SEESAY_USERADD:-useradd}
USERMOD=${SEESAY_GROUPADD_MEMBER:-usermod}
APP="$ROOT/opt/seesay/app"
VENV="$ROOT/opt/seesay/venv"
LINK="$ROOT/usr/local/bin/seesay"  # the `seesay` command on PATH
STATE="$ROOT/var/lib/seesay"
CONF="$ROOT/etc/seesay/seesay.toml"
UNIT="$ROOT/etc/systemd/system/seesay.service"
CHANGES=0
LIVE=0  # a running systemd to reload and restart (not in a staging root or an image build)
{ [ -z "$ROOT" ] || [ "${SEESAY_LIVE_SYSTEMD:-}" = 1 ]; } && LIVE=1
# a chroot (pi-gen, rpi-image-gen, ./run.sh pi-check) has no running systemd: enable only, it starts at boot
# (/run/systemd/system exists exactly when systemd is PID 1: sd_booted(3))
if [ -z "$ROOT" ] && [ "${SEESAY_LIVE_SYSTEMD:-}" != 1 ] && [ ! -d /run/systemd/system ]; then LIVE=0; fi

say() { printf 'seesay: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
run() {  # every change goes through here: printed under --dry-run, counted otherwise
  CHANGES=$((CHANGES + 1))
  # the power-cut test: SIGKILL this script just before its Nth action
  [ "$CHANGES" = "${SEESAY_KILL_AT_ACTION:-0}" ] && kill -9 $$
  if [ "$DRY" = 1 ]; then printf 'would run: %s\n' "$*"; else say "$*"; "$@"; fi
}

if [ -z "$ROOT" ] && [ "$DRY" = 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "must run as root to install system packages and the service: sudo $0 $*"
fi

detect_platform() {
  if [ -n "${SEESAY_PLATFORM:-}" ]; then echo "$SEESAY_PLATFORM"; return; fi
  local model=""
  [ -r /proc/device-tree/model ] && model=$(tr -d '\0' </proc/device-tree/model)
  case "$model" in
    *"Raspberry Pi 5"*) echo pi5; return ;;
    *"Raspberry Pi Zero 2"*) echo pizero2; return ;;
    *"Raspberry Pi"*) echo pi4; return ;;
  esac
  if [ -e /etc/nv_tegra_release ] || [[ "$model" == *Jetson* ]]; then echo jetson; return; fi
  # shellcheck disable=SC1091  # the running system's file, not ours
  . /etc/os-release 2>/dev/null || die "cannot read /etc/os-release: unsupported operating system"
  case " ${ID:-} ${ID_LIKE:-} " in
    *" debian "*|*" ubuntu "*|*" raspbian "*) echo debian ;;
    *) die "unsupported operating system '${PRETTY_NAME:-unknown}': seesay installs on Raspberry Pi OS, JetPack or Debian/Ubuntu" ;;
  esac
}

# shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not a shell variable
installed() { "$DPKG_QUERY" -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

copy_if_changed() {  # src dst mode
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return; fi
  run install -D -m "$3" "$1" "$2"
}

uninstall() {
  if [ -f "$UNIT" ]; then
    run "$SYSTEMCTL" ${ROOT:+--root="$ROOT"} disable --now seesay.service
    run rm -f "$UNIT"
  fi
  [ -L "$LINK" ] && run rm -f "$LINK"
  [ -d "$ROOT/opt/seesay" ] && run rm -rf "$ROOT/opt/seesay"
  [ -d "$STATE" ] && run rm -rf "$STATE"
  say "removed seesay; your configuration in $ROOT/etc/seesay was kept"
}

[ "$UNINSTALL" = 1 ] && { uninstall; exit 0; }

PLATFORM=$(detect_platform)
say "platform: $PLATFORM${ROOT:+ (staging root $ROOT)}"

# 1. system packages
# python3-setuptools and python3-wheel: the venv builds the seesay package from its source without downloads
pkgs=(espeak-ng libespeak-ng1 alsa-utils python3-venv python3-pip python3-setuptools python3-wheel python3-numpy python3-pil)
case "$PLATFORM" in
  pi5) pkgs+=(python3-picamera2 python3-lgpio) ;;  # gpiozero's RPi.GPIO fallback fails on the Pi 5
  pi4|pizero2) pkgs+=(python3-picamera2 python3-lgpio python3-rpi.gpio) ;;
  jetson|debian) pkgs+=(python3-opencv) ;;
esac
[ "$CORAL" = 1 ] && pkgs+=(libedgetpu1-std)
[ "$OCR" = 1 ] && pkgs+=(tesseract-ocr-eng python3-tesserocr)
missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  run "$APT_GET" update -qq
  if ! run "$APT_GET" install -y -qq "${missing[@]}"; then
    case " ${missing[*]} " in *" python3-picamera2 "*|*" python3-lgpio "*)
      die "could not install ${missing[*]}; python3-picamera2 and python3-lgpio come from Raspberry Pi OS' own repository (archive.raspberrypi.com): install on Raspberry Pi OS, or on plain Debian set SEESAY_PLATFORM=debian (USB camera through OpenCV)" ;;
    esac
    [ "$CORAL" = 1 ] && die "could not install ${missing[*]}; libedgetpu1-std comes from the Coral apt repository (https://coral.ai/software/#debian-packages): add it, then run again"
    die "could not install ${missing[*]}"
  fi
fi

# 2. the service user, in the groups that own the camera, GPIO and sound devices
user_exists() { if [ -n "$ROOT" ]; then grep -q '^seesay:' "$ROOT/etc/passwd" 2>/dev/null; else id -u seesay >/dev/null 2>&1; fi; }
group_exists() { if [ -n "$ROOT" ]; then grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; else getent group "$1" >/dev/null; fi; }
in_group() { if [ -n "$ROOT" ]; then grep -q "^$1:.*[:,]seesay\(,\|$\)" "$ROOT/etc/group" 2>/dev/null; else id -nG seesay 2>/dev/null | tr ' ' '\n' | grep -qx "$1"; fi; }
if ! user_exists; then
  run "$USERADD" ${ROOT:+--root "$ROOT"} --system --user-group --home-dir /var/lib/seesay --no-create-home --shell /usr/sbin/nologin seesay
fi
for g in gpio video audio render; do
  if group_exists "$g" && ! in_group "$g"; then run "$USERMOD" ${ROOT:+--root "$ROOT"} -a -G "$g" seesay; fi
done

# 3. the code (device side only) and its venv: the package installed from /opt/seesay/app (its
# source, kept for the next update's comparison and the README); a change to either restarts the service
before_code=$CHANGES
while IFS= read -r f; do
  copy_if_changed "$SRC/$f" "$APP/$f" 0644
done < <(cd "$SRC" && find device -name '*.py' | sort; echo pyproject.toml; echo requirements.txt; echo README.md
           [ "$OCR" = 1 ] && find bundles/text-detector -type f | sort)  # the text detector, beside the code
code_changed=0
[ "$CHANGES" != "$before_code" ] && code_changed=1
if [ ! -x "$VENV/bin/python" ]; then run python3 -m venv --system-site-packages "$VENV"; fi
want=$(sha256sum "$SRC/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  run "$VENV/bin/python" -m pip install -q -r "$SRC/requirements.txt"
  [ "$DRY" = 1 ] || echo "$want" >"$VENV/.requirements.sha256"
fi
if [ "$code_changed" = 1 ] || [ ! -x "$VENV/bin/seesay" ]; then
  # no downloads and no build isolation: the venv's own setuptools builds it from the copied source
  run "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation --force-reinstall "$APP"
  run rm -rf "$APP/build" "$APP/seesay.egg-info"  # the build's scratch, not code
fi
if [ "$(readlink "$LINK" 2>/dev/null)" != "${VENV#"$ROOT"}/bin/seesay" ]; then
  run install -d "$(dirname "$LINK")"
  run ln -sfn "${VENV#"$ROOT"}/bin/seesay" "$LINK"
fi
BIN="${VENV#"$ROOT"}/bin"
restart=0
[ "$CHANGES" != "$before_code" ] && restart=1

# 4. the state folder and the bundle, verified before it is installed
[ -d "$STATE" ] || run install -d -m 0750 "$STATE"
# a swap cut short (power, kill): first put the state back to one whole bundle
if [ ! -d "$STATE/bundle" ] && [ -d "$STATE/bundle.old" ]; then
  run mv -T "$STATE/bundle.old" "$STATE/bundle"
elif [ -e "$STATE/bundle.old" ]; then
  run rm -rf "$STATE/bundle.old"
fi
if [ -z "$BUNDLE" ] && [ ! -f "$STATE/bundle/manifest.json" ]; then
  BUNDLE="$SRC/bundles/flickr8k"  # the bundle that ships with seesay: real descriptions without training
  say "no bundle installed yet: installing the shipped one ($BUNDLE)"
fi
if [ -n "$BUNDLE" ]; then
  [ -f "$BUNDLE/manifest.json" ] || die "--bundle $BUNDLE: not a bundle (no manifest.json)"
  if [ -x "$VENV/bin/seesay" ]; then
    (cd / && "$VENV/bin/seesay" verify "$BUNDLE") || die "--bundle $BUNDLE fails verification: not installed"
  elif [ "$DRY" = 1 ]; then
    echo "would verify: $BUNDLE (with the venv's python, once it exists)"
  fi
  if ! diff -rq "$BUNDLE" "$STATE/bundle" >/dev/null 2>&1; then
    # a swap a power cut cannot tear: copy beside, flush, then two renames (each atomic). At every
    # moment bundle/ is whole, or only bundle.old/ is, which the device loads then (device/bundle.py)
    [ -e "$STATE/bundle.new" ] && run rm -rf "$STATE/bundle.new"
    run cp -r "$BUNDLE" "$STATE/bundle.new"
    run sync
    [ -d "$STATE/bundle" ] && run mv -T "$STATE/bundle" "$STATE/bundle.old"
    run mv -T "$STATE/bundle.new" "$STATE/bundle"
    run rm -rf "$STATE/bundle.old"
    restart=1  # the service loaded the old model at start: it must load this one
  fi
fi

# 5. the config: written once, never overwritten
if [ ! -f "$CONF" ]; then
  camera=picamera2
  case "$PLATFORM" in jetson|debian) camera=opencv ;; esac
  tmp=$(mktemp)
  cat >"$tmp" <<CONF
# seesay configuration (check it with: seesay run --check-config --config /etc/seesay/seesay.toml)
[model]
bundle = "/var/lib/seesay/bundle"
backend = "$([ "$CORAL" = 1 ] && echo edgetpu || echo cpu)"

[camera]
source = "$camera"

[button]
kind = "gpio"
pin = 17

[speech]
voice = "en-us"
rate_wpm = 165
CONF
  run install -D -m 0644 "$tmp" "$CONF"
  rm -f "$tmp"
fi

# 6. the unit
tmp=$(mktemp)
sed "s#/opt/seesay/venv/bin/#$BIN/#" "$SRC/systemd/seesay.service" >"$tmp"
unit_changed=0
if ! { [ -f "$UNIT" ] && cmp -s "$tmp" "$UNIT"; }; then
  run install -D -m 0644 "$tmp" "$UNIT"
  unit_changed=1
fi
rm -f "$tmp"
if [ "$unit_changed" = 1 ]; then
  [ "$LIVE" = 1 ] && run "$SYSTEMCTL" daemon-reload
  run "$SYSTEMCTL" ${ROOT:+--root="$ROOT"} enable seesay.service
  restart=1
fi
# a new unit, new code or a new bundle: restart, so the device never keeps describing with the old ones
if [ "$LIVE" = 1 ] && [ "$restart" = 1 ]; then run "$SYSTEMCTL" restart seesay.service; fi
if [ -z "$ROOT" ] && [ "$LIVE" = 0 ] && [ "$restart" = 1 ]; then
  say "no running systemd here (a chroot or an image build): seesay.service is enabled and starts at the next boot"
fi

if [ "$CHANGES" = 0 ]; then
  say "nothing to do: seesay is installed and up to date"
elif [ "$DRY" = 1 ]; then
  say "dry run: $CHANGES action(s) would be taken"
else
  say "done ($CHANGES change(s)). Check it with: seesay doctor (or $BIN/seesay doctor); then press and listen, or journalctl -u seesay -f"
fi
