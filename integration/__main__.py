"""python -m integration pi-check --help: the device side on the Pi's own software (needs root)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from device.errors import OneLineParser, run_cli


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="python -m integration", description="Integration checks of the device side.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "pi-check",
        help="install and run seesay in a Debian Bookworm arm64 root under qemu",
        description="Install and run seesay in a Debian Bookworm arm64 root under qemu (debootstrapped "
        "once into build/); compare its captions and reading with this machine's. Needs root.",
    )
    p.add_argument("--data", required=True, help="captioned photos with splits/dev.txt (captions.csv, images/)")
    p.add_argument(
        "--backgrounds", required=True, help="folder of photos to render the reading check's text scenes over"
    )
    p.add_argument("-n", type=int, default=200, help="dev photos to compare (default: %(default)s)")
    return ap


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from .pi_check import pi_check

    return run_cli(lambda: pi_check(Path(a.data), Path(a.backgrounds), a.n))


if __name__ == "__main__":
    sys.exit(main())
