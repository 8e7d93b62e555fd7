"""Calibration data for full-integer quantisation: real images for the encoder, and for the decoder
the inputs and states recorded while the float decoder runs teacher-forced over real captions."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.errors import ImageError
from device.preprocess import preprocess_file
from training.data import load_dataset, split_as_trained

from .conversion_errors import ConvertError

log = logging.getLogger("seesay.calibration")
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class CalibrationSet:
    pixels: np.ndarray  # uint8 [N,S,S,3]
    captions: list[list[str]]  # per image; empty when the source has no captions
    source: str


def _decode_all(paths: list[Path], size: int, geometry: str) -> tuple[np.ndarray, list[int]]:
    arrs, kept = [], []
    for i, p in enumerate(paths):
        try:
            arrs.append(preprocess_file(p, size, geometry))
            kept.append(i)
        except ImageError as e:
            log.warning("calibration: %s: skipped", e)
    return (np.stack(arrs) if arrs else np.zeros((0, size, size, 3), np.uint8)), kept


def load_calibration(source: str, meta: dict, size: int, geometry: str, n: int = 100, seed: int = 0) -> CalibrationSet:
    """source: 'train' (the checkpoint's own training split), 'synthetic', an annotation file, or a folder of images."""
    if source == "train":
        data = meta.get("data", {}).get("source")
        if not data or not Path(data).exists():
            raise ConvertError(
                f"the checkpoint's training data ({data}) is not here; pass --calibration with "
                "an annotation file, a folder of JPEGs or 'synthetic'"
            )
        samples, _ = load_dataset(data)
        samples, _ = split_as_trained(samples, meta["data"])
    elif source == "synthetic":
        from training.synthetic import write_scenes

        tmp = tempfile.mkdtemp(prefix="seesay-calib-")
        samples, _ = load_dataset(write_scenes(tmp, n, seed=seed + 1000))
    else:
        p = Path(source)
        if p.is_dir() and not any((p / f).is_file() for f in ("captions.csv", "Flickr8k.token.txt")):
            paths = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXT)[:n]
            pixels, kept = _decode_all(paths, size, geometry)
            if not kept:
                raise ConvertError(
                    f"calibration folder {p}: no readable images (looked for {', '.join(sorted(IMAGE_EXT))})"
                )
            return CalibrationSet(pixels, [[] for _ in kept], str(p))
        if not p.exists():
            raise ConvertError(f"calibration data {p}: no such file or folder")
        samples, _ = load_dataset(p)
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(samples), min(n, len(samples)), replace=False))
    chosen = [samples[i] for i in pick]
    pixels, kept = _decode_all([s.image for s in chosen], size, geometry)
    if not kept:
        raise ConvertError(f"calibration data {source}: no readable images")
    return CalibrationSet(pixels, [list(chosen[i].captions) for i in kept], source)
