"""python -m evaluation {text-scenes,ocr-eval,answers,frame-check} --help: measuring, without TensorFlow."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from device.errors import OneLineParser, run_cli


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
        prog="python -m evaluation", description="Measure what seesay reads and says, on photos with references."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)

    x = sub.add_parser("text-scenes", help="write the seeded reading test set: signs, labels, pages over photos")
    x.add_argument("out", help="folder to write (NNNN.jpg + truth.json)")
    x.add_argument("--backgrounds", required=True, help="folder of photos to render the text over")
    x.add_argument(
        "-n", type=int, default=240, help="number of scenes, half clean and half hard (default: %(default)s)"
    )
    x.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")

    o = sub.add_parser("ocr-eval", help="word/character accuracy, latency, memory and size of the reading engines")
    o.add_argument("scenes", help="folder written by text-scenes")
    o.add_argument(
        "--engines",
        nargs="+",
        default=["ppocr-tesseract", "tesseract", "rapidocr"],
        help="engines to measure (default: %(default)s)",
    )
    o.add_argument(
        "--bundle", help="bundle whose encoder the read latency is compared with (default: as for device caption)"
    )
    o.add_argument("--json", help="also write the full report (with the worst reads) here")
    a = sub.add_parser(
        "answers",
        help="score what one press says (not the caption) on photos with references",
        description="Frames refused and why, CHAIR of the spoken answers, precision of \"I see\" "
        "objects, answers saying something concrete, captions' BLEU/CIDEr; with the "
        "bundle's answer settings.",
    )
    a.add_argument("bundle")
    a.add_argument("--data", required=True, help="annotation file (captions.csv, COCO json, ...) of the photos")
    a.add_argument("--split", help="only the photos this list names (one file name a line), e.g. splits/dev.txt")
    a.add_argument("--limit", type=int, help="only the first N photos")
    a.add_argument("--json", help="also write the full report here")

    t = sub.add_parser("text-free", help="photos without text: how many a single press says text about")
    t.add_argument("list", help="a file of photo paths, one a line (relative to its folder), e.g. text-free.txt")
    t.add_argument("--engine", default="auto", help="the reader (default: %(default)s, as the device picks)")

    f = sub.add_parser("frame-check", help="how the frame check does on photos and degraded copies of them")
    f.add_argument("photos", nargs="+", help="folders of ordinary photos")
    f.add_argument("--bundle", help="whose frame-check settings (default: as for seesay caption)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_cli(lambda: _dispatch(args))


def _dispatch(args) -> None:
    if args.cmd == "text-scenes":
        from .text_scenes import make_text_scenes

        truth = make_text_scenes(args.out, args.backgrounds, args.n, args.seed)
        print(f"{len(truth)} text scenes in {args.out}")
    elif args.cmd == "ocr-eval":
        from .ocr_eval import evaluate_readers, print_report

        r = evaluate_readers(args.scenes, args.engines, args.bundle)
        print_report(r)
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2))
    elif args.cmd == "answers":
        from .answers import run_scoring

        r = run_scoring(args.bundle, args.data, args.split, args.limit)
        print(json.dumps({k: v for k, v in r.items() if k != "records"}, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2))
    elif args.cmd == "text-free":
        from .ocr_eval import text_free

        print(json.dumps(text_free(Path(args.list), args.engine), indent=2))
    elif args.cmd == "frame-check":
        from .frame_check import run_scoring

        print(json.dumps(run_scoring([Path(p) for p in args.photos], args.bundle), indent=2))


if __name__ == "__main__":
    sys.exit(main())
