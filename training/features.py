"""Backbone feature grids, computed once per image (and its mirror image) and cached on disk.
With a frozen encoder this is the only time images go through the backbone, so it runs on the
fastest float path: the backbone as a float32 TFLite model on XNNPACK, checked against Keras."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from device.backends.litert import make_interpreter
from .data_errors import DataError
from device.errors import ImageError
from device.preprocess import preprocess_file

from .tflite_export import float32_tflite

log = logging.getLogger("seesay.features")
TFLITE_TOLERANCE = 1e-3  # relative RMS difference allowed between the TFLite and Keras grids


def _cache_key(paths: list[Path], backbone_desc: dict, flip: bool) -> str:
    h = hashlib.sha256(json.dumps(backbone_desc, sort_keys=True).encode())
    h.update(b"flip" if flip else b"noflip")
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:20]


def load_pixels(paths: list[Path], size: int, geometry: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N,size,size,3] and a mask of images that decoded (a broken one is named and skipped)."""
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    ok = np.ones(len(paths), bool)
    for i, p in enumerate(tqdm(paths, desc="decode images", unit="img", leave=False)):
        try:
            out[i] = preprocess_file(p, size, geometry)
        except ImageError as e:
            log.warning("%s: skipped", e)
            ok[i] = False
    return out, ok


def backbone_tflite(backbone, size: int) -> bytes:
    """The frozen backbone as a float32 TFLite model, batch 1 (XNNPACK's fastest shape on a CPU)."""
    fn = tf.function(
        lambda image: {"grid": backbone(image, training=False)},
        input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")],
    )
    return float32_tflite(fn, backbone)


class TFLiteBackbone:
    """Runs the float32 TFLite backbone one image at a time; the same call shape as Keras'."""

    def __init__(self, model: bytes, threads: int | None = None):
        self.it = make_interpreter(model, num_threads=threads)
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        res = []
        for px in pixels:
            self.it.set_tensor(self.inp, px[None].astype(np.float32))
            self.it.invoke()
            res.append(self.it.get_tensor(self.out)[0])
        return np.stack(res)


def check_against_keras(fast, backbone, pixels: np.ndarray) -> float:
    """Relative RMS difference of the fast path's grids from Keras' on a few real images; refuses a mismatch."""
    want = np.asarray(backbone(pixels.astype(np.float32), training=False))
    got = fast(pixels)
    rel = float(np.sqrt(np.mean((got - want) ** 2)) / (np.sqrt(np.mean(want**2)) + 1e-12))
    if rel > TFLITE_TOLERANCE:
        raise DataError(
            f"the float32 TFLite backbone differs from Keras by {rel:.2e} relative RMS "
            f"(allowed {TFLITE_TOLERANCE:.0e}); report this with your TensorFlow version"
        )
    return rel


def compute_grids(
    backbone, paths: list[Path], size: int, geometry: str, backbone_desc: dict, cache_dir: Path | None, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """-> (grids float16 [N or 2N, g, g, C] (mirrored copies after the originals), ok mask [N])."""
    key = _cache_key(paths, {**backbone_desc, "geometry": geometry}, flip)
    f = Path(cache_dir) / f"grids_{key}.npy" if cache_dir else None
    if f and f.is_file() and f.with_suffix(".ok.npy").is_file():
        log.info("feature cache hit %s", f)
        return np.load(f, mmap_mode="r"), np.load(f.with_suffix(".ok.npy"))
    pixels, ok = load_pixels(paths, size, geometry)
    fast = TFLiteBackbone(backbone_tflite(backbone, size))
    rel = check_against_keras(fast, backbone, pixels[ok][:4])
    log.info("float32 TFLite backbone matches Keras to %.1e relative RMS", rel)
    views = [pixels, pixels[:, :, ::-1]] if flip else [pixels]
    g = backbone.output.shape[1:]
    grids = np.zeros((len(pixels) * len(views), *g), np.float16)
    with tqdm(total=len(grids), desc="backbone features", unit="img") as bar:
        for v_i, v in enumerate(views):
            for s in range(0, len(v), 64):
                chunk = v[s : s + 64]
                at = v_i * len(v) + s
                grids[at : at + len(chunk)] = fast(chunk)
                bar.update(len(chunk))
    if f:
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(".tmp.npy")
        np.save(tmp, grids)
        np.save(f.with_suffix(".ok.npy"), ok)
        tmp.rename(f)  # a killed run never leaves a half-written cache that looks complete
    return grids, ok
