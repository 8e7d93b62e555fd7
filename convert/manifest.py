"""Describe converted models and write the bundle manifest (see device/bundle.py for the reader)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from device import __version__
from device.backends.litert import make_interpreter
from device.bundle import SCHEMA, SCHEMA_VERSION, sha256_file


def _tensor(d: dict) -> dict:
    scale, zp = d.get("quantization", (0.0, 0))
    return {
        "shape": [int(x) for x in d.get("shape_signature", d["shape"])],
        "dtype": np.dtype(d["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zp),
    }


def describe_tflite(path: Path) -> dict:
    """{file, inputs: {name: {shape, dtype, scale, zero_point}}, outputs: {...}} from the signature."""
    it = make_interpreter(path)
    runner = it.get_signature_runner(next(iter(it.get_signature_list())))
    return {
        "file": path.name,
        "inputs": {n: _tensor(d) for n, d in runner.get_input_details().items()},
        "outputs": {n: _tensor(d) for n, d in runner.get_output_details().items()},
    }


def write_manifest(
    bundle: Path,
    model_cfg: dict,
    quantize: str,
    target: str,
    state_names,
    search: dict,
    reference_metrics: dict,
    variants: dict,
    extra_files: list[str],
    calibration: str | None,
    segmenter: dict | None = None,
    person_detector: dict | None = None,
) -> dict:
    import tensorflow as tf

    files = ["encoder.tflite", "decoder.tflite", "vocab.json", *extra_files]
    manifest = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "converter": {
            "seesay_version": __version__,
            "tensorflow": tf.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "model": model_cfg,
        "quantization": quantize,
        "target": target,
        "calibration": calibration,
        "preprocess": {
            "size": model_cfg["image_size"],
            "geometry": model_cfg["geometry"],
            "resize": "bilinear",
            "channels": "RGB",
            "dtype": "uint8",
            "range": [0, 255],
            "note": "scaling to the backbone's range happens inside encoder.tflite",
        },
        "vocab": "vocab.json",
        "objects": "objects.json" if "objects.json" in extra_files else None,
        "segmenter": segmenter,
        "person_detector": person_detector,
        "encoder": describe_tflite(bundle / "encoder.tflite"),
        "decoder": {**describe_tflite(bundle / "decoder.tflite"), "state": list(state_names)},
        "search": search,
        "reference_metrics": reference_metrics,
        "variants": variants,
        "files": {f: sha256_file(bundle / f) for f in files},
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
