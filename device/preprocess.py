"""The one image preprocessing function, shared by training, conversion and the device.

The encoder graph does the float scaling itself, so everything outside it sees uint8 RGB pixels:
the same JPEG gives the same array on every side.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

IMAGE_SIZE = 224  # MobileNet's native input side, pixels
# How a frame becomes a square: "center-crop" keeps the aspect ratio and drops the sides; "squash"
# resizes the whole frame (what a model trained on squashed photos, such as the 224x224 Flickr8k
# copies, must be fed). A bundle says which; bundles from before the field are center-crop.
GEOMETRIES = ("squash", "center-crop")
DEFAULT_GEOMETRY = "center-crop"


def load_image(source: str | Path | bytes) -> Image.Image:
    """Open a JPEG/PNG (path or bytes) as RGB, honouring EXIF rotation. Raises ImageError."""
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        img.load()  # decode now, so a truncated file fails here and not later
        img = ImageOps.exif_transpose(img)
    except FileNotFoundError as e:
        raise ImageError(f"{name}: no such image file") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: the image is too large to decode safely ({e}); resize it below "
                         f"{Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels") from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{name}: not a readable image ({e}); check the file is a complete JPEG or PNG") from e
    return img.convert("RGB")


def check_geometry(geometry: str) -> str:
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}, not {geometry!r}")
    return geometry


def to_model_input(img: Image.Image | np.ndarray, size: int = IMAGE_SIZE, geometry: str = DEFAULT_GEOMETRY) -> np.ndarray:
    """Make the frame square (centre crop or squash, see GEOMETRIES), resize to size x size (bilinear),
    return uint8 [size, size, 3] RGB."""
    check_geometry(geometry)
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3:
            raise ImageError(f"frame must be HxWx3 RGB, got shape {img.shape}")
        img = Image.fromarray(img.astype(np.uint8, copy=False), "RGB")
    if geometry == "center-crop":
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def preprocess_file(path: str | Path, size: int = IMAGE_SIZE, geometry: str = DEFAULT_GEOMETRY) -> np.ndarray:
    """Path -> uint8 [size, size, 3]: what the encoder is fed, on every side."""
    return to_model_input(load_image(path), size, geometry)
