"""Is a frame worth describing? The one check of every path (the daemon, `seesay caption`, `seesay read`,
the bench): a lens covered or a frame with nothing in it, too dark, too bright, a glare, blurred. Each
problem is one short sentence saying what to do. Measured on the model-size frame (224 px), where a
blur of 3 px or more, a motion streak, an exposure x0.2 / x4 and a glare over a third of the frame
are told apart from ordinary photos; the thresholds are chosen on degraded dev photos by
`python -m evaluation frame-check` and live in the bundle's manifest (config overrides)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ADVICE = {
    "covered": "I see nothing: the lens may be covered, or too close to something. Move back a little.",
    "dark": "It is too dark. Turn on a light or move toward the window.",
    "bright": "It is too bright. Turn a little away from the light.",
    "glare": "There is a glare. Tilt the camera or turn away from the light.",
    "blurred": "The picture is blurred. Hold still and try again.",
}


@dataclass(frozen=True)
class FrameCheckSettings:
    """Thresholds of the frame check, on the model-size frame's luma (ITU-R BT.601, 0..255).

    min_contrast: luma standard deviation below which the frame holds nothing (covered lens, too close);
    min_brightness: mean luma below which it is too dark; min_highlight: the 99th percentile of luma
    below which it is too dark (a dim frame has no bright part; a night scene has its lights);
    max_brightness: mean luma above which it is
    too bright; max_glare: share of the frame (0..1) at luma >= 245 above which there is a glare;
    min_detail: in the weakest direction, the 99.5th percentile of the second difference's size over
    the luma's standard deviation: how sharp the sharpest edges are; below it the frame is blurred (low
    in every direction: defocus; in one: motion)."""

    # defaults: chosen on Flickr8k dev + COCO train photos (docs/results.md), as a bundle without its own
    min_contrast: float = 3.0
    min_brightness: float = 15.0
    min_highlight: float = 60.0
    max_brightness: float = 230.0
    max_glare: float = 0.25
    min_detail: float = 0.55

    def problem(self, rgb: np.ndarray) -> str | None:
        """'covered', 'dark', 'bright', 'glare', 'blurred' or None for a usable frame (uint8 RGB)."""
        return problem_of(measure(rgb), self)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luma (ITU-R BT.601) of an RGB array, float, 0..255."""
    rgb = np.asarray(rgb, np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def measure(rgb: np.ndarray) -> dict[str, float]:
    """The frame's measures: mean and standard deviation of luma, the glare share and the detail."""
    y = luma(rgb)
    var = float(y.var())
    # second differences along four directions: near zero where the image is smooth in that direction
    # (all four for defocus; the streak's own direction for motion blur)
    c = y[1:-1, 1:-1]
    second = (
        y[1:-1, 2:] - 2 * c + y[1:-1, :-2],
        y[2:, 1:-1] - 2 * c + y[:-2, 1:-1],
        y[2:, 2:] - 2 * c + y[:-2, :-2],
        y[2:, :-2] - 2 * c + y[:-2, 2:],
    )
    return {
        "mean": float(y.mean()),
        "contrast": var**0.5,
        "highlight": float(np.percentile(y, 99)),
        "glare": float((y >= 245).mean()),
        # the sharpest edges, not the average: a smooth apple or sky is sharp where it has an edge
        "detail": float(min(np.percentile(np.abs(d), 99.5) for d in second) / (var**0.5 + 1.0)),
    }


def problem_of(m: dict[str, float], s: FrameCheckSettings) -> str | None:
    """The first problem the measures show, in the order a person would fix them."""
    if m["contrast"] < s.min_contrast:
        return "covered"
    if m["mean"] < s.min_brightness or m["highlight"] < s.min_highlight:
        return "dark"
    if m["mean"] > s.max_brightness:
        return "bright"
    if m["glare"] > s.max_glare:
        return "glare"
    if m["detail"] < s.min_detail:
        return "blurred"
    return None
