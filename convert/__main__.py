"""python -m convert CHECKPOINT --out BUNDLE [...] | check CHECKPOINT BUNDLE [...] | rounding CHECKPOINT BUNDLE | bench ...
| pi-check [...]"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from device.errors import run_cli  # noqa: E402


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="held-out annotation file (default: the checkpoint's own val split)")
    p.add_argument("--limit", type=int, help="check only the first N held-out images (default: all)")
    p.add_argument("--threshold", type=float, default=1.0,
                   help="largest allowed BLEU-4 loss of the bundle against float, in points (default: %(default)s)")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = bool({"-v", "--verbose"} & set(argv))  # anywhere on the line: TensorFlow's own log lines too
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if argv[:1] == ["pi-check"]:  # no TensorFlow needed: the device side in an emulated Bookworm arm64 root
        p = argparse.ArgumentParser(prog="python -m convert pi-check",
                                    description="Install and run seesay in a Debian Bookworm arm64 root under qemu "
                                                "(debootstrapped once into build/); compare its captions with this "
                                                "machine's. Needs root.")
        p.add_argument("--data", default=None, help="captioned photos with splits/dev.txt "
                                                    "(default: ../shared/data/flickr8k-224 beside the checkout)")
        p.add_argument("-n", type=int, default=200, help="dev photos to compare (default: %(default)s)")
        a = p.parse_args(argv[1:])
        from pathlib import Path

        from .pi_check import DEFAULT_DATA, pi_check
        return run_cli(lambda: pi_check(Path(a.data) if a.data else DEFAULT_DATA, a.n))
    from training.quiet_tf import import_tensorflow
    import_tensorflow(verbose)
    if argv[:1] == ["bench"]:
        p = argparse.ArgumentParser(prog="python -m convert bench",
                                    description="Sizes and latency of an int8 bundle vs a float32 bundle vs Keras, as ratios.")
        p.add_argument("checkpoint")
        p.add_argument("int8_bundle")
        p.add_argument("float32_bundle")
        p.add_argument("-n", type=int, default=200, help="invokes per median (default: %(default)s)")
        a = p.parse_args(argv[1:])
        def run():
            from .bench import bench
            return bench(a.checkpoint, a.int8_bundle, a.float32_bundle, a.n)
    elif argv[:1] == ["check"]:
        p = argparse.ArgumentParser(prog="python -m convert check",
                                    description="Compare a bundle with the float model it came from: BLEU/CIDEr of both, "
                                                "agreement, latency, sizes; writes report.md/report.json into the bundle.")
        p.add_argument("checkpoint")
        p.add_argument("bundle")
        p.add_argument("--beam", type=int, help="beam width (default: the bundle's)")
        p.add_argument("--report-dir", help="write report.md/report.json there, leaving the bundle's own report "
                                            "(e.g. for a check on other data)")
        p.add_argument("--arm64-root", help="also run the bundle's int8 side in this Bookworm arm64 root under qemu "
                                            "(build/pi-root after ./run.sh pi-check): the kernels a Pi runs")
        _check_args(p)
        a = p.parse_args(argv[1:])
        def run():
            from .check import check
            return check(a.checkpoint, a.bundle, a.data, a.limit, a.beam, a.threshold, report_dir=a.report_dir,
                         arm64_root=a.arm64_root)
    elif argv[:1] == ["text-detector"]:
        from pathlib import Path
        p = argparse.ArgumentParser(prog="python -m convert text-detector",
                                    description="PP-OCRv4's text detector (inside the rapidocr-onnxruntime wheel) as an "
                                                "int8 TFLite model for the device's reader, calibrated on seeded text "
                                                "scenes over real photos.")
        p.add_argument("out", help="folder to write (the device's is bundles/text-detector)")
        p.add_argument("--backgrounds", default=str(Path(__file__).resolve().parents[2] / "shared/data/flickr8k/images"),
                       help="photos to calibrate on (default: %(default)s)")
        p.add_argument("-n", type=int, default=96, help="calibration frames (default: %(default)s)")
        p.add_argument("--float", action="store_true", help="float32 instead of int8")
        a = p.parse_args(argv[1:])
        def run():
            from .text_detector import build, calibration_frames
            frames = [] if a.float else calibration_frames(Path(a.backgrounds), a.n)
            return build(Path(a.out), frames, int8=not a.float)
    elif argv[:1] == ["rounding"]:
        p = argparse.ArgumentParser(prog="python -m convert rounding",
                                    description="Identical captions of the float model against itself with only the "
                                                "tensors between the models rounded to the bundle's int8 grids "
                                                "(image, state, logits, all): the share of the check's disagreement "
                                                "that rounding alone explains.")
        p.add_argument("checkpoint")
        p.add_argument("bundle")
        p.add_argument("--beam", type=int, help="beam width (default: the bundle's)")
        p.add_argument("--data", help="held-out annotation file or image folder (default: the checkpoint's own val split)")
        p.add_argument("--limit", type=int, help="only the first N held-out images (default: all)")
        a = p.parse_args(argv[1:])
        def run():
            from .rounding import rounding_agreement
            return rounding_agreement(a.checkpoint, a.bundle, a.data, a.limit, a.beam)
    else:
        p = argparse.ArgumentParser(prog="python -m convert",
                                    description="Convert a training checkpoint into a verified device bundle. "
                                                "Also: `python -m convert check CHECKPOINT BUNDLE`.")
        p.add_argument("checkpoint", help="checkpoint folder written by `python -m training train`")
        p.add_argument("--out", required=True, help="bundle folder to write (replaced only when the new one passes)")
        p.add_argument("--quantize", default="int8", help="int8 | float16 | float32 (default: %(default)s)")
        p.add_argument("--target", default="cpu", help="cpu | edgetpu | tensorrt (default: %(default)s)")
        p.add_argument("--calibration", default="train",
                       help="int8 calibration data: 'train' (the checkpoint's training split), 'synthetic', "
                            "an annotation file or a folder of JPEGs (default: %(default)s)")
        p.add_argument("--calibration-images", type=int, default=100, help="images used to calibrate (default: %(default)s)")
        p.add_argument("--beam", type=int, default=3, help="search default written to the bundle (default: %(default)s)")
        p.add_argument("--no-check", action="store_true", help="skip the accuracy check (not recommended)")
        p.add_argument("--edgetpu-compiler", default="edgetpu_compiler", help="compiler command (default: %(default)s)")
        p.add_argument("--segmenter", help="a PASCAL VOC DeepLab .tflite to carry as grounding's second evidence "
                       "(people), e.g. Coral's deeplabv3_mnv2_dm05_pascal_quant.tflite")
        _check_args(p)
        a = p.parse_args(argv)

        def run():
            from .build import build
            r = build(a.checkpoint, a.out, a.quantize, a.target, a.calibration, a.calibration_images,
                      not a.no_check, a.data, a.limit, a.threshold, a.beam, a.edgetpu_compiler, a.segmenter)
            return {"bundle": r["bundle"], "report": r["report"] and {k: r["report"][k] for k in (
                "float", "bundle_metrics", "bleu4_drop_points", "identical_captions", "latency_ms", "size_bytes")
                if k in r["report"]}}
    return run_cli(lambda: print(json.dumps(run(), indent=2, default=float)))


if __name__ == "__main__":
    sys.exit(main())
