"""Is a frame worth captioning? Too dark or too blurred gets a spoken hint instead of a guess."""
from __future__ import annotations

import numpy as np


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601) of an RGB array, float, 0..255."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114  # ITU-R BT.601


def brightness(rgb: np.ndarray) -> float:
    """Mean luma, 0..255."""
    return float(luma(rgb.astype(np.float32)).mean())


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the luma: low for blur and for blank frames."""
    y = luma(rgb.astype(np.float32))
    lap = -4 * y[1:-1, 1:-1] + y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:]
    return float(lap.var())


def frame_problem(rgb: np.ndarray, min_brightness: float, min_sharpness: float) -> str | None:
    """'dark', 'blurred' or None. rgb: the model-size uint8 frame."""
    if brightness(rgb) < min_brightness:
        return "dark"
    if sharpness(rgb) < min_sharpness:
        return "blurred"
    return None
