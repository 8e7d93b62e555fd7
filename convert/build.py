"""python -m convert build CHECKPOINT --out BUNDLE: export, quantise, add target variants, write the
manifest, tune grounding and check accuracy against the float model on held-out images, and only then
move the bundle into place."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from training.checkpoint import load_checkpoint
from training.config import to_dict

from .calibration import load_calibration
from .conversion_errors import AccuracyError, ConvertError
from .export import (
    QUANTIZE_MODES,
    decoder_function,
    encoder_calibration,
    encoder_function,
    record_decoder_inputs,
    to_tflite,
)
from .manifest import write_manifest
from .mse_ranges import tune_ranges
from .state_quant import tie_state_quantization

log = logging.getLogger("seesay.convert")
TARGETS = ("cpu", "edgetpu", "tensorrt")


def build(
    checkpoint: str,
    out: str,
    quantize: str = "int8",
    target: str = "cpu",
    calibration: str = "train",
    calibration_images: int = 100,
    run_check: bool = True,
    check_data: str | None = None,
    check_limit: int | None = None,
    threshold: float = 1.0,
    beam: int = 3,
    edgetpu_compiler: str = "edgetpu_compiler",
    segmenter: str | None = None,
    person_detector: str | None = None,
    frame_photos: list[Path] = (),
) -> dict:
    """segmenter: a PASCAL VOC DeepLab .tflite (e.g. Coral's deeplabv3_mnv2_dm05_pascal_quant.tflite)
    to carry along as the grounding's second source of evidence; person_detector: a MoveNet single-pose
    .tflite (e.g. movenet_single_pose_lightning_ptq.tflite): whether a person is in view, at ~1.4x the
    encoder; frame_photos: more ordinary photos for the frame check's tuning."""
    if target not in TARGETS:
        raise ConvertError(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    if quantize not in QUANTIZE_MODES:
        raise ConvertError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")
    if target == "edgetpu" and quantize != "int8":
        raise ConvertError("--target edgetpu needs --quantize int8 (the Edge TPU runs only full-integer models)")
    mcfg, vocab, encoder, decoder, meta = load_checkpoint(checkpoint)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))  # same filesystem: atomic rename
    try:
        enc_fn, dec_fn = encoder_function(encoder, mcfg), decoder_function(decoder, mcfg)
        enc_rep = dec_rep = None
        cal_desc = None
        if quantize == "int8":
            cal = load_calibration(calibration, meta, mcfg.image_size, mcfg.geometry, calibration_images)
            records = record_decoder_inputs(encoder, decoder, mcfg, vocab, cal)
            enc_rep = encoder_calibration(cal)
            dec_rep = lambda: iter(records)  # noqa: E731
            cal_desc = f"{cal.source}: {len(cal.pixels)} images, {len(records)} decoder steps"
            log.info("calibration: %s", cal_desc)
        import tensorflow as tf

        (tmp / "encoder.tflite").write_bytes(to_tflite(enc_fn, encoder, quantize, enc_rep, input_type=tf.uint8))
        (tmp / "decoder.tflite").write_bytes(to_tflite(dec_fn, decoder, quantize, dec_rep, input_type=tf.int8))
        if quantize == "int8":
            narrowed = (
                len(tune_ranges(tmp / "encoder.tflite", to_tflite(enc_fn, encoder, "float32"), enc_rep())),
                len(tune_ranges(tmp / "decoder.tflite", to_tflite(dec_fn, decoder, "float32"), records)),
            )
            cal_desc += f"; least-error ranges for {narrowed[0]} encoder and {narrowed[1]} decoder tensors"
            tie_state_quantization(tmp / "decoder.tflite", mcfg.state_names)
        vocab.save(tmp / "vocab.json")
        variants, extra = {}, []
        if mcfg.classes:
            from .imagenet_nouns import objects_json

            (tmp / "objects.json").write_text(json.dumps(objects_json()))
            extra.append("objects.json")
        seg_entry = pd_entry = None
        if segmenter:
            seg_entry = _add_segmenter(Path(segmenter), tmp)
            extra += [seg_entry["file"], seg_entry["licence_file"]]
        if person_detector:
            pd_entry = _add_person_detector(Path(person_detector), tmp)
            extra += [pd_entry["file"], pd_entry["licence_file"]]
        if target == "edgetpu":
            from .edgetpu import compile_for_edgetpu

            variants["edgetpu"] = compile_for_edgetpu(tmp, edgetpu_compiler)
            extra.append(variants["edgetpu"]["encoder"])
        if target == "tensorrt":
            from .tensorrt import export_onnx

            variants["tensorrt"] = export_onnx(tmp, encoder, mcfg)
            extra += variants["tensorrt"]["files"]
        ref = {}
        mpath = Path(checkpoint) / "metrics.json"
        if mpath.is_file():
            m = json.loads(mpath.read_text())
            ref = {k: m[k] for k in ("greedy", "beam3", "val_images") if k in m}
        manifest = write_manifest(
            tmp,
            to_dict(mcfg),
            quantize,
            target,
            mcfg.state_names,
            {"beam": beam, "max_len": mcfg.max_len, "length_penalty": 1.0},
            ref,
            variants,
            extra,
            cal_desc,
            seg_entry,
            pd_entry,
        )
        report = None
        if run_check and mcfg.classes:  # the device re-ranks with settings chosen on the held-out images
            from .answers_tune import tune_answers
            from .check import held_out
            from .grounding_tune import tune_grounding

            items = held_out(meta, check_data, check_limit)  # the annotation file read once for both steps
            tune_grounding(tmp, items)
            tune_answers(tmp, items, frame_photos)  # then what one press says, on the grounded captions
            manifest = json.loads((tmp / "manifest.json").read_text())
        if run_check:  # then the check measures what the device will say, with those settings
            from .check import check

            try:
                report = check(checkpoint, str(tmp), check_data, check_limit, beam, threshold)
            except AccuracyError:
                rejected = out.with_name(out.name + ".rejected")
                shutil.rmtree(rejected, ignore_errors=True)
                tmp.rename(rejected)
                log.error("bundle kept for inspection at %s (not installed at %s)", rejected, out)
                raise
        _move_into_place(tmp, out)
        return {"bundle": str(out), "manifest": manifest, "report": report}
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


SEGMENTER_LICENCE = """segmenter.tflite is {name}: DeepLab v3 semantic segmentation (MobileNetV2 backbone, PASCAL VOC
classes), quantised by the Coral project and published with its test data under the Apache License 2.0
(https://github.com/google-coral/test_data, http://www.apache.org/licenses/LICENSE-2.0). Unmodified.
"""


def _add_evidence_model(src: Path, bundle: Path, name: str, option: str, what: str, run, licence: str) -> dict:
    """Copy a third-party evidence model into the bundle as name.tflite, prove the device runs it
    (run: path -> None, raising if it cannot), write its licence beside it; -> the manifest entry."""
    if not src.is_file():
        raise ConvertError(f"{option} {src}: no such file")
    shutil.copyfile(src, bundle / f"{name}.tflite")
    try:
        run(bundle / f"{name}.tflite")
    except Exception as e:
        raise ConvertError(f"{option} {src}: not {what} seesay can run ({e})") from e
    (bundle / f"{name}.LICENSE.txt").write_text(licence.format(name=src.name))
    return {"file": f"{name}.tflite", "source": src.name, "licence_file": f"{name}.LICENSE.txt"}


def _add_segmenter(src: Path, bundle: Path) -> dict:
    from device.segmenter import Segmenter

    def run(path):
        Segmenter(path).coverage(np.zeros((32, 32, 3), np.uint8))

    return _add_evidence_model(
        src, bundle, "segmenter", "--segmenter", "a PASCAL VOC segmenter", run, SEGMENTER_LICENCE
    )


PERSON_DETECTOR_LICENCE = """person_detector.tflite is {name}: MoveNet SinglePose Lightning (Google), quantised,
as published by the Coral project with its test data under the Apache License 2.0
(https://github.com/google-coral/test_data, http://www.apache.org/licenses/LICENSE-2.0). Unmodified.
"""


def _add_person_detector(src: Path, bundle: Path) -> dict:
    from device.person import PersonDetector

    def run(path):
        PersonDetector(path).score(np.zeros((32, 32, 3), np.uint8))

    return _add_evidence_model(
        src, bundle, "person_detector", "--person-detector", "a MoveNet single-pose model", run, PERSON_DETECTOR_LICENCE
    )


def _move_into_place(tmp: Path, out: Path) -> None:
    """Replace out with tmp; an existing bundle is swapped out first and removed only after."""
    old = out.with_name(out.name + ".old")
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def bundle_sizes(bundle: Path) -> int:
    m = json.loads((bundle / "manifest.json").read_text())
    return int(np.sum([(bundle / m[k]["file"]).stat().st_size for k in ("encoder", "decoder")]))


def add_person_detector(bundle_dir: str | Path, detector: str | Path) -> dict:
    """Carry a MoveNet person detector in an existing bundle (its manifest names and signs it); then
    re-run tune-grounding and tune-answers, whose settings it changes. -> the manifest entry."""
    from device.bundle import load_bundle, sha256_file

    bundle_dir = Path(bundle_dir)
    load_bundle(bundle_dir)  # a whole bundle first
    entry = _add_person_detector(Path(detector), bundle_dir)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["person_detector"] = entry
    for f in (entry["file"], entry["licence_file"]):
        manifest["files"][f] = sha256_file(bundle_dir / f)
    tmp = bundle_dir / "manifest.json.tmp"  # written whole, then renamed: never a half manifest
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(bundle_dir / "manifest.json")
    load_bundle(bundle_dir)  # and whole after
    return entry
