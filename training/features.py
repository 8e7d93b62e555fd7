"""Backbone feature grids, computed once per image (and its mirror image) and cached on disk.
With a frozen encoder this is the only time images go through the backbone."""
from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from device.errors import ImageError
from device.preprocess import preprocess_file

log = logging.getLogger("seesay.features")


def _cache_key(paths: list[Path], backbone_desc: dict, flip: bool) -> str:
    h = hashlib.sha256(json.dumps(backbone_desc, sort_keys=True).encode())
    h.update(b"flip" if flip else b"noflip")
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:20]


def load_pixels(paths: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N,size,size,3] and a mask of images that decoded (a broken one is named and skipped)."""
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    ok = np.ones(len(paths), bool)
    for i, p in enumerate(tqdm(paths, desc="decode images", unit="img", leave=False)):
        try:
            out[i] = preprocess_file(p, size)
        except ImageError as e:
            log.warning("%s: skipped", e)
            ok[i] = False
    return out, ok


def compute_grids(backbone, paths: list[Path], size: int, backbone_desc: dict, cache_dir: Path | None,
                  flip: bool, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """-> (grids float16 [N or 2N, g, g, C] (mirrored copies after the originals), ok mask [N])."""
    key = _cache_key(paths, backbone_desc, flip)
    if cache_dir:
        f = Path(cache_dir) / f"grids_{key}.npz"
        if f.is_file():
            z = np.load(f)
            log.info("feature cache hit %s", f)
            return z["grids"], z["ok"]
    pixels, ok = load_pixels(paths, size)
    views = [pixels, pixels[:, :, ::-1]] if flip else [pixels]
    grids = []
    with tqdm(total=len(pixels) * len(views), desc="backbone features", unit="img") as bar:
        for v in views:
            for s in range(0, len(v), batch):
                grids.append(np.asarray(backbone(v[s:s + batch].astype(np.float32), training=False), np.float16))
                bar.update(len(v[s:s + batch]))
    grids = np.concatenate(grids)
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        np.savez(Path(cache_dir) / f"grids_{key}.npz", grids=grids, ok=ok)
    return grids, ok


def int8_grids(backbone, paths: list[Path], size: int, backbone_desc: dict, cache_dir: Path | None,
               flip: bool, calibration: int = 100) -> np.ndarray:
    """The same grids as compute_grids, but from the backbone converted to full-integer int8 TFLite
    the way `python -m convert` converts the encoder (calibrated on the first `calibration` images).
    The difference to the float grids is the backbone's real quantisation error, which training
    mixes in so the decoder learns to give the same caption for both."""
    key = _cache_key(paths, {**backbone_desc, "int8_calibration": calibration}, flip)
    f = Path(cache_dir) / f"grids_int8_{key}.npz" if cache_dir else None
    if f is not None and f.is_file():
        log.info("int8 feature cache hit %s", f)
        return np.load(f)["grids"]
    import tensorflow as tf
    from convert.export import to_tflite  # the converter's own int8 path, so the error is the bundle's
    from device.backends.litert import make_interpreter
    pixels, ok = load_pixels(paths, size)
    cal = pixels[ok][:calibration]
    fn = tf.function(lambda image: {"grid": backbone(image, training=False)},
                     input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
    data = to_tflite(fn, backbone, "int8", lambda: ({"image": p[None].astype(np.float32)} for p in cal), input_type=tf.uint8)
    with tempfile.NamedTemporaryFile(suffix=".tflite") as tmp:
        Path(tmp.name).write_bytes(data)
        it = make_interpreter(tmp.name)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zero = out["quantization"]
    views = [pixels, pixels[:, :, ::-1]] if flip else [pixels]
    grids = []
    for v in views:
        for px in tqdm(v, desc="int8 backbone features", unit="img", leave=False):
            it.set_tensor(inp["index"], np.ascontiguousarray(px[None]))
            it.invoke()
            grids.append((scale * (it.get_tensor(out["index"]).astype(np.float32) - zero)).astype(np.float16))
    grids = np.concatenate(grids)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, grids=grids)
    return grids
