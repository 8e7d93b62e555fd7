"""Backbone feature grids, computed once per image (and its mirror image) and cached on disk.
With a frozen encoder this is the only time images go through the backbone."""
from __future__ import annotations

import hashlib
import json
import logging
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
