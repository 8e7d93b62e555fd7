"""Photos made unusable in known ways, as blind users' photos often are (VizWiz: about a quarter too
blurred, dark or badly framed to answer): defocus, motion, under- and over-exposure, a glare, a
covered lens. Seeded: the same photo and seed give the same frame on any machine."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

KINDS = ("blur3", "blur5", "motion", "dark", "bright", "glare", "covered")
# the frame check's answers each kind should get: too much light is one action (turn away from the light),
# whether the whole frame or a patch of it is washed out
EXPECTED = {
    "blur3": {"blurred"},
    "blur5": {"blurred"},
    "motion": {"blurred"},
    "dark": {"dark"},
    "bright": {"bright", "glare"},
    "glare": {"glare", "bright"},
    "covered": {"covered"},
}


def gaussian_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Defocus: a Gaussian blur of sigma pixels."""
    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(sigma)))


def motion_blur(rgb: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    """A straight streak of length pixels at an angle: the camera moved while the frame was taken."""
    out = np.zeros(rgb.shape, np.float32)
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, length)
    dx, dy = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    for s in t:
        out += np.roll(rgb.astype(np.float32), (int(round(s * dy)), int(round(s * dx))), axis=(0, 1))
    return np.clip(out / length, 0, 255).astype(np.uint8)


def exposure(rgb: np.ndarray, factor: float) -> np.ndarray:
    """The same scene with factor times the light (x0.2: a dim room; x4: facing a window), clipped."""
    return np.clip(rgb.astype(np.float32) * factor, 0, 255).astype(np.uint8)


def glare(rgb: np.ndarray, rng: np.random.Generator, share: float = 1 / 3) -> np.ndarray:
    """A washed-out disc (a lamp or the sun on a glossy surface) whose white core covers share of the frame."""
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(h * 0.3, h * 0.7), rng.uniform(w * 0.3, w * 0.7)
    core = np.sqrt(h * w * share / np.pi)
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    m = np.clip(1 - (d - core) / (0.3 * core), 0, 1)[..., None]  # white inside the core, fading out around it
    return np.clip(rgb * (1 - m) + 255 * m, 0, 255).astype(np.uint8)


def covered(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A finger over the lens: a near-uniform dark frame with sensor noise."""
    base = rng.uniform(3, 30) * np.array([1.0, 0.8, 0.75])  # a little warm: light through skin
    return np.clip(base + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)


def degrade(rgb: np.ndarray, kind: str, seed: int) -> np.ndarray:
    """rgb uint8 [H,W,3] made unusable as kind (one of KINDS)."""
    rng = np.random.default_rng(seed)
    if kind == "blur3":
        return gaussian_blur(rgb, 3)
    if kind == "blur5":
        return gaussian_blur(rgb, 5)
    if kind == "motion":
        return motion_blur(rgb, int(rng.integers(9, 21)), float(rng.uniform(0, 180)))
    if kind == "dark":
        return exposure(rgb, 0.2)
    if kind == "bright":
        return exposure(rgb, 4.0)
    if kind == "glare":
        return glare(rgb, rng)
    if kind == "covered":
        return covered(rgb, rng)
    raise ValueError(f"unknown degradation {kind!r}; one of {', '.join(KINDS)}")
