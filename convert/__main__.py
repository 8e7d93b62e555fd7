"""python -m convert {build,check,tune-grounding,tune-answers,rounding,size-latency,text-detector} --help"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the CLI

from device.errors import OneLineParser, run_cli  # noqa: E402

QUANTIZE = ("int8", "float16", "float32")  # convert.export.QUANTIZE_MODES, without importing TensorFlow for --help
TARGETS = ("cpu", "edgetpu", "tensorrt")  # convert.build.TARGETS


def _held_out_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="held-out annotation file (default: the checkpoint's own val split)")
    p.add_argument("--limit", type=int, help="only the first N held-out images (default: all)")


def _threshold_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        type=float,
        default=1.0,
        help="largest allowed BLEU-4 loss of the bundle against float, in points (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
        prog="python -m convert", description="Turn a training checkpoint into a verified device bundle, and check it."
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="show TensorFlow's own log lines too")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    b = sub.add_parser(
        "build",
        help="checkpoint -> bundle: quantise, tune grounding, check, then move into place",
        description="Export and quantise the checkpoint, write the manifest, tune grounding and check "
        "accuracy on held-out images; the bundle replaces OUT only when it passes.",
    )
    b.add_argument("checkpoint", help="checkpoint folder written by `python -m training train`")
    b.add_argument("--out", required=True, help="bundle folder to write (replaced only when the new one passes)")
    b.add_argument(
        "--quantize", default="int8", choices=QUANTIZE, help="weights and activations (default: %(default)s)"
    )
    b.add_argument(
        "--target",
        default="cpu",
        choices=TARGETS,
        help="also build the encoder for the Edge TPU or export it for TensorRT (default: %(default)s)",
    )
    b.add_argument(
        "--calibration",
        default="train",
        help="int8 calibration data: 'train' (the checkpoint's training split), 'synthetic', "
        "an annotation file or a folder of JPEGs (default: %(default)s)",
    )
    b.add_argument(
        "--calibration-images", type=int, default=100, help="images used to calibrate (default: %(default)s)"
    )
    b.add_argument("--beam", type=int, default=3, help="search default written to the bundle (default: %(default)s)")
    b.add_argument(
        "--no-check", action="store_true", help="skip grounding tuning and the accuracy check (not recommended)"
    )
    b.add_argument("--edgetpu-compiler", default="edgetpu_compiler", help="compiler command (default: %(default)s)")
    b.add_argument(
        "--segmenter",
        help="a PASCAL VOC DeepLab .tflite to carry as grounding's second evidence "
        "(people), e.g. Coral's deeplabv3_mnv2_dm05_pascal_quant.tflite (about 7.5x the encoder)",
    )
    b.add_argument(
        "--person-detector",
        help="a MoveNet single-pose .tflite: whether a person is in view (about 1.4x "
        "the encoder), e.g. Coral's movenet_single_pose_lightning_ptq.tflite",
    )
    b.add_argument(
        "--frame-photos",
        nargs="+",
        default=[],
        metavar="DIR",
        help="more folders of ordinary photos for the frame check's tuning",
    )
    _held_out_args(b)
    _threshold_arg(b)

    c = sub.add_parser(
        "check",
        help="float model vs bundle on held-out images; writes report.md/.json",
        description="Compare a bundle with the float model it came from through the same search code: "
        "BLEU/CIDEr/CHAIR of both, identical captions, latency, sizes. Changes nothing "
        "but the report.",
    )
    c.add_argument("checkpoint")
    c.add_argument("bundle")
    c.add_argument("--beam", type=int, help="beam width (default: the bundle's)")
    c.add_argument(
        "--report-dir",
        help="write report.md/report.json there, leaving the bundle's own report " "(e.g. for a check on other data)",
    )
    _held_out_args(c)
    _threshold_arg(c)

    g = sub.add_parser(
        "tune-grounding",
        help="choose the bundle's grounding settings on held-out images",
        description="Try grounding settings on held-out images with the device's own search and write "
        "the one with the fewest hallucinated objects (within 0.01 CIDEr) into the bundle's "
        "manifest, with grounding.md/.json. `build` runs it; re-run it on new data.",
    )
    g.add_argument("checkpoint", help="the checkpoint the bundle came from (for its held-out split)")
    g.add_argument("bundle")
    _held_out_args(g)

    t2 = sub.add_parser(
        "tune-answers",
        help="choose what one press says (frame check, caption, objects) on held-out photos",
        description="Choose the frame check's thresholds on held-out photos degraded in known ways, "
        "and when the caption is said and which objects are named (fewest answers naming "
        "an absent object, with \"I see\" right >= 93%% and >= 88%% of answers concrete); "
        "write them into the bundle's manifest with answers.md/.json. `build` runs it.",
    )
    t2.add_argument("bundle")
    t2.add_argument("--checkpoint", help="the checkpoint the bundle came from: tune on its held-out split")
    t2.add_argument("--split", help="with --data: only the photos this list names (e.g. splits/dev.txt)")
    t2.add_argument(
        "--frame-photos",
        nargs="+",
        default=[],
        metavar="DIR",
        help="more folders of ordinary photos for the frame check (e.g. everyday indoor scenes)",
    )
    _held_out_args(t2)

    pd = sub.add_parser(
        "add-person-detector",
        help="carry a MoveNet person detector in a bundle (then re-tune)",
        description="Copy a MoveNet single-pose .tflite into the bundle and sign it in the manifest, so that "
        "grounding and answers can leave out people nobody can see; then run tune-grounding and tune-answers again.",
    )
    pd.add_argument("bundle")
    pd.add_argument("detector", help="e.g. Coral's movenet_single_pose_lightning_ptq.tflite")

    r = sub.add_parser(
        "rounding",
        help="how much of the int8 disagreement rounding between the models explains",
        description="Identical captions of the float model against itself with only the tensors "
        "between the models rounded to the bundle's int8 grids (image, state, logits, all).",
    )
    r.add_argument("checkpoint")
    r.add_argument("bundle")
    r.add_argument("--beam", type=int, help="beam width (default: the bundle's)")
    _held_out_args(r)

    s = sub.add_parser("size-latency", help="sizes and latency of an int8 vs a float32 bundle vs Keras, as ratios")
    s.add_argument("checkpoint")
    s.add_argument("int8_bundle")
    s.add_argument("float32_bundle")
    s.add_argument("-n", type=int, default=200, help="invokes per median (default: %(default)s)")

    t = sub.add_parser(
        "text-detector",
        help="PP-OCRv4's text detector as an int8 TFLite model for the device",
        description="Convert the detector inside the rapidocr-onnxruntime wheel to TFLite, calibrated "
        "on seeded text scenes rendered over your photos.",
    )
    t.add_argument("out", help="folder to write (the device's is bundles/text-detector)")
    t.add_argument("--backgrounds", help="folder of photos to render calibration scenes over (needed for int8)")
    t.add_argument("-n", type=int, default=96, help="calibration frames (default: %(default)s)")
    t.add_argument("--float", action="store_true", help="float32 instead of int8")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    if a.cmd == "text-detector" and not a.float and not a.backgrounds:
        ap.error("text-detector: int8 needs --backgrounds PHOTOS (or --float)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from training.quiet_tf import import_tensorflow

    import_tensorflow(a.verbose)
    return run_cli(lambda: print(json.dumps(_dispatch(a), indent=2, default=float)))


def _dispatch(a) -> dict:
    if a.cmd == "build":
        from .build import build

        r = build(
            a.checkpoint,
            a.out,
            a.quantize,
            a.target,
            a.calibration,
            a.calibration_images,
            not a.no_check,
            a.data,
            a.limit,
            a.threshold,
            a.beam,
            a.edgetpu_compiler,
            a.segmenter,
            a.person_detector,
            [p for d in a.frame_photos for p in sorted(Path(d).glob("*.jpg"))],
        )
        keep = ("float", "bundle_metrics", "bleu4_drop_points", "identical_captions", "latency_ms", "size_bytes")
        return {"bundle": r["bundle"], "report": r["report"] and {k: r["report"][k] for k in keep if k in r["report"]}}
    if a.cmd == "check":
        from .check import check

        return check(a.checkpoint, a.bundle, a.data, a.limit, a.beam, a.threshold, report_dir=a.report_dir)
    if a.cmd == "tune-grounding":
        from training.checkpoint import read_meta
        from .check import held_out
        from .grounding_tune import tune_grounding

        r = tune_grounding(a.bundle, held_out(read_meta(a.checkpoint), a.data, a.limit))
        return {k: r[k] for k in ("images", "before", "tuned")}
    if a.cmd == "tune-answers":
        from .conversion_errors import ConvertError
        from training.checkpoint import read_meta
        from training.data import load_dataset, read_split
        from .answers_tune import tune_answers
        from .check import held_out

        if a.checkpoint:
            items = held_out(read_meta(a.checkpoint), a.data, a.limit)
        elif a.data:
            items, _ = load_dataset(a.data)
            if a.split:
                keep = set(read_split(a.split))
                items = [s for s in items if s.image.name in keep]
            items = items[: a.limit] if a.limit else items
        else:
            raise ConvertError("tune-answers needs --checkpoint (its held-out split) or --data [--split]")
        photos = [p for d in a.frame_photos for p in sorted(Path(d).glob("*.jpg"))]
        r = tune_answers(a.bundle, items, photos)
        return {k: r[k] for k in ("photos", "chosen", "before", "after")}
    if a.cmd == "add-person-detector":
        from .build import add_person_detector

        return add_person_detector(a.bundle, a.detector)
    if a.cmd == "rounding":
        from .rounding import rounding_agreement

        return rounding_agreement(a.checkpoint, a.bundle, a.data, a.limit, a.beam)
    if a.cmd == "size-latency":
        from .size_latency import bench

        return bench(a.checkpoint, a.int8_bundle, a.float32_bundle, a.n)
    from .text_detector_export import build, calibration_frames

    frames = [] if a.float else calibration_frames(Path(a.backgrounds), a.n)
    return build(Path(a.out), frames, int8=not a.float)


if __name__ == "__main__":
    sys.exit(main())
