"""Compare a Keras classifier with weights imported from a TFLite classifier against that .tflite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.backends.litert import make_interpreter
from .data_errors import DataError
from device.preprocess import preprocess_file

from .backbone import build_classifier, classifier_with_scaling


def tflite_top1(tflite, pixels: np.ndarray) -> np.ndarray:
    """Top-1 ImageNet class (Keras numbering) of the TFLite classifier for each uint8 image."""
    it = make_interpreter(tflite)
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    ref = []
    for px in pixels:
        it.set_tensor(i, px[None])
        it.invoke()
        ref.append(int(it.get_tensor(o)[0].argmax()) - 1)  # TFLite index 0 is "background"
    return np.array(ref)


def check(tflite: str, images: str, n: int = 200) -> dict:
    files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    if not files:
        raise DataError(f"{images}: no JPEG/PNG images")
    pixels = np.stack([preprocess_file(f) for f in files])
    ref = tflite_top1(tflite, pixels)
    clf = classifier_with_scaling(build_classifier("mobilenet_v2", 1.0, 224, tflite), "mobilenet_v2")
    probs = clf.predict(pixels.astype(np.float32), batch_size=50, verbose=0)
    top5 = np.argsort(-probs, 1)[:, :5]
    return {
        "images": len(files),
        "top1_agreement": float((probs.argmax(1) == ref).mean()),
        "tflite_top1_in_keras_top5": float(np.mean([ref[k] in top5[k] for k in range(len(ref))])),
    }
