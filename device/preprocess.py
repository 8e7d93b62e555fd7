"""The one image preprocessing function, shared by training, conversion and the device.

The encoder graph does the float scaling itself, so everything outside it sees uint8 RGB pixels:
the same JPEG gives the same array on every side.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
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
# A JPEG is decoded at 1/2, 1/4 or 1/8 scale (draft) while it stays at least this many pixels on
# each side: a 12 MP phone photo decodes as 1000x750, twice what the model's resize needs, and a
# photo already near the model's size is decoded whole, as in training.
DRAFT_SIDE = 2 * IMAGE_SIZE
# Other formats decode at full size; above this (after any draft) an RGB decode would take more
# than 120 MB, too much beside the models on a 512 MB Pi Zero 2 W.
MAX_DECODE_PIXELS = 40_000_000


def load_image(source: str | Path | bytes) -> Image.Image:
    """Open a JPEG/PNG (path or bytes) as RGB, honouring EXIF rotation, with the decode bounded
    (DRAFT_SIDE, MAX_DECODE_PIXELS). Raises ImageError."""
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    if not isinstance(source, (bytes, bytearray)):
        try:
            mode = os.stat(source).st_mode
        except FileNotFoundError:
            raise ImageError(f"{name}: no such image file") from None
        except OSError as e:
            raise ImageError(f"{name}: cannot be read ({e.strerror or e})") from None
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end: refused unread
            raise ImageError(f"{name}: not a regular file (a folder, pipe or device); give a JPEG or PNG file")
    try:
        with warnings.catch_warnings():  # Pillow's bomb warning: the size is judged below instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        if img.format == "JPEG":
            img.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))  # DCT scaling: the full-size pixels are never made
        w, h = img.size
        if w * h > MAX_DECODE_PIXELS:
            raise ImageError(
                f"{name}: {w}x{h} pixels is too large to decode on the device (the limit is "
                f"{MAX_DECODE_PIXELS // 1_000_000} megapixels); save it smaller or as a JPEG"
            )
        img.load()  # decode now, so a truncated file fails here and not later
        img = ImageOps.exif_transpose(img)
    except FileNotFoundError as e:
        raise ImageError(f"{name}: no such image file") from e
    except Image.DecompressionBombError as e:
        raise ImageError(
            f"{name}: the image is too large to decode safely ({e}); resize it below "
            f"{Image.MAX_IMAGE_PIXELS // 1_000_000} megapixels"
        ) from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{name}: not a readable image ({e}); check the file is a complete JPEG or PNG") from e
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """An RGB image of any mode; 16-bit, 32-bit and float greys are scaled to 8 bits by their range
    (I;16: 0..65535, I: its own min..max, F: 0..1 when it lies there, else its own min..max) instead of
    Pillow's clipping, which turns a 16-bit grey photo white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        a = np.asarray(img, np.float32) / 257.0
    elif img.mode in ("I", "F"):
        a = np.asarray(img, np.float64)
        lo, hi = float(a.min()), float(a.max())
        if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    else:
        return img.convert("RGB")
    return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "L").convert("RGB")


def check_geometry(geometry: str) -> str:
    """geometry if it is one of GEOMETRIES, else ValueError naming them."""
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}, not {geometry!r}")
    return geometry


def to_model_input(
    img: Image.Image | np.ndarray, size: int = IMAGE_SIZE, geometry: str = DEFAULT_GEOMETRY
) -> np.ndarray:
    """Make the frame square (centre crop or squash, see GEOMETRIES), resize to size x size (bilinear),
    return uint8 [size, size, 3] RGB."""
    check_geometry(geometry)
    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
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
