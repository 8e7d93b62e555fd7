"""PP-OCRv4's text detector on the TFLite runtime the captioner already uses (converted from the
ONNX model of rapidocr-onnxruntime by `python -m convert text-detector bundles/text-detector`),
and its post-processing (Differentiable Binarization) in numpy: no onnxruntime, no OpenCV.

    det = TextDetector()                 # the shipped bundles/text-detector
    quads, scores = det.detect(rgb)      # [N, 4, 2] corners clockwise from top left, frame pixels
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OCRUnavailableError

DETECTOR_FILE = "text_detector.tflite"
INPUT_HW = (480, 640)  # the detector's fixed input (a 4:3 camera frame at half of 1280x960); others are fitted in
CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "bundles" / "text-detector"  # beside device/ in a checkout
INSTALLED_DIR = Path("/opt/seesay/app/bundles/text-detector")  # where install.sh --ocr puts it


def default_dir() -> Path:
    """$SEESAY_TEXT_DETECTOR, else the installed detector, else the checkout's."""
    env = os.environ.get("SEESAY_TEXT_DETECTOR")
    if env:
        return Path(env)
    return INSTALLED_DIR if (INSTALLED_DIR / "manifest.json").is_file() else CHECKOUT_DIR


# PP-OCR's own post-processing settings (rapidocr's config): what they were trained and tuned with
THRESH = 0.3  # a pixel is text above this probability
BOX_THRESH = 0.5  # a region is a text line when its mean probability is above this
UNCLIP_RATIO = 1.6  # DB's maps shrink lines; they are grown back by area * ratio / perimeter
MIN_SIDE_PX = 3  # regions thinner than this (detector pixels) are noise
MAX_CANDIDATES = 1000


def fit(rgb: np.ndarray, hw: tuple[int, int] = INPUT_HW) -> tuple[np.ndarray, float]:
    """The frame scaled to fit the detector's input, kept in proportion, on a black canvas at top
    left -> (canvas, scale)."""
    h, w = rgb.shape[:2]
    s = min(hw[0] / h, hw[1] / w)
    size = (max(1, min(hw[1], round(w * s))), max(1, min(hw[0], round(h * s))))
    canvas = np.zeros((*hw, 3), np.uint8)
    img = Image.fromarray(rgb)
    canvas[: size[1], : size[0]] = np.asarray(img if img.size == size else img.resize(size, Image.BILINEAR))
    return canvas, s


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean mask -> (label image, 0 = background; count). Runs of
    set pixels per row are joined with the overlapping runs of the row below (union-find)."""
    d = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)  # exclusive; row-major order pairs them with the starts
    parent = list(range(len(rows)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for r in range(mask.shape[0] - 1):
        a, a_end, b, b_end = row_first[r], row_first[r + 1], row_first[r + 1], row_first[r + 2]
        while a < a_end and b < b_end:  # two sorted lists of runs: walk both
            if starts[a] <= ends[b] and starts[b] <= ends[a]:  # touching, diagonals included
                ra, rb = root(a), root(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            if ends[a] < ends[b]:
                a += 1
            else:
                b += 1
    labels = np.zeros(mask.shape, np.int32)
    ids: dict[int, int] = {}
    for i in range(len(rows)):
        labels[rows[i], starts[i] : ends[i]] = ids.setdefault(root(i), len(ids) + 1)
    return labels, len(ids)


def order_clockwise(pts: np.ndarray) -> np.ndarray:
    """Four corners -> top left, top right, bottom right, bottom left."""
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    (tl, bl), (tr, br) = by_x[:2][np.argsort(by_x[:2, 1])], by_x[2:][np.argsort(by_x[2:, 1])]
    return np.array([tl, tr, br, bl], np.float32)


def boxes_from_map(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DB post-processing: probability map [H, W] -> (quads [N, 4, 2] in map pixels, scores [N]).
    Each region's rotated rectangle lies along its principal axes and spans its pixels, then grows
    by area * UNCLIP_RATIO / perimeter on every side (DB's "unclip")."""
    mask = prob > THRESH
    grown = mask.copy()  # a 2x2 dilation, as PP-OCR does: joins letters split by a pixel
    grown[1:] |= mask[:-1]
    grown[:, 1:] |= grown[:, :-1].copy()
    labels, n = components(grown)
    if n == 0:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    count = np.bincount(lab, minlength=n + 1)[1:].astype(np.float64)
    mean = lambda v: np.bincount(lab, weights=v, minlength=n + 1)[1:] / count  # noqa: E731
    score = mean(prob[ys, xs].astype(np.float64))
    cx, cy = mean(xs.astype(np.float64)), mean(ys.astype(np.float64))
    sxx, syy, sxy = mean(xs * xs * 1.0) - cx**2, mean(ys * ys * 1.0) - cy**2, mean(xs * ys * 1.0) - cx * cy
    # each region's axes from its second moments; its extent along them from its own pixels
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)  # the direction of largest spread
    ux, uy = np.cos(theta), np.sin(theta)
    dx, dy = xs - cx[lab - 1], ys - cy[lab - 1]
    along, across = dx * ux[lab - 1] + dy * uy[lab - 1], -dx * uy[lab - 1] + dy * ux[lab - 1]
    lo_a, hi_a, lo_c, hi_c = (np.full(n, v) for v in (np.inf, -np.inf, np.inf, -np.inf))
    np.minimum.at(lo_a, lab - 1, along), np.maximum.at(hi_a, lab - 1, along)
    np.minimum.at(lo_c, lab - 1, across), np.maximum.at(hi_c, lab - 1, across)
    quads, scores = [], []
    for i in np.argsort(-count)[:MAX_CANDIDATES]:
        width, height = hi_a[i] - lo_a[i] + 1, hi_c[i] - lo_c[i] + 1  # +1: a pixel is a unit square
        if score[i] < BOX_THRESH or min(width, height) < MIN_SIDE_PX:
            continue
        grow = width * height * UNCLIP_RATIO / (2 * (width + height))
        u, v = np.array([ux[i], uy[i]]), np.array([-uy[i], ux[i]])
        c = np.array([cx[i], cy[i]]) + u * (lo_a[i] + hi_a[i]) / 2 + v * (lo_c[i] + hi_c[i]) / 2
        u, v = u * (width / 2 + grow), v * (height / 2 + grow)
        quads.append(order_clockwise(np.array([c - u - v, c + u - v, c + u + v, c - u + v])))
        scores.append(score[i])
    if not quads:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    return np.stack(quads), np.array(scores, np.float32)


HINT_SCORE = 0.75  # a line this sure, at least HINT_HEIGHT_PX high and HINT_ASPECT times as long, is
HINT_HEIGHT_PX = 12  # "clearly text": a description reads it (chosen on text scenes and
HINT_ASPECT = 2.0  # Flickr8k photos: docs/results.md)


def clearly_text(quads: np.ndarray, scores: np.ndarray) -> bool:
    """True when one detected line is sure (score), tall enough (pixels) and line-shaped: worth a hint."""
    for q, s in zip(quads, scores):
        w, h = np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[3] - q[0])
        if s >= HINT_SCORE and h >= HINT_HEIGHT_PX and w >= HINT_ASPECT * h:
            return True
    return False


class TextDetector:
    """PP-OCRv4's text detector as int8 TFLite with DB post-processing in numpy.

    folder: the detector's folder (None: default_dir()); threads: CPU threads (None: the runtime's)."""

    def __init__(self, folder: str | Path | None = None, threads: int | None = None):
        folder = Path(folder) if folder else default_dir()
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            blob = (folder / manifest["model"]).read_bytes()
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise OCRUnavailableError(
                f"the text detector in {folder} cannot be read ({e}); make it with "
                "`python -m convert text-detector bundles/text-detector`, or reinstall "
                "with ./install.sh --ocr"
            ) from e
        if hashlib.sha256(blob).hexdigest() != manifest.get("sha256"):
            raise OCRUnavailableError(
                f"{folder / manifest['model']} is damaged (its sha256 differs from the "
                "manifest's); reinstall with ./install.sh --ocr"
            )
        from ..backends.tflite_cpu import TFLiteModel

        self.model = TFLiteModel(folder / manifest["model"], threads=threads)
        self.input_hw = (manifest["input"]["height"], manifest["input"]["width"])
        self.version = f"PP-OCRv4 det ({manifest['quantization']} TFLite)"

    def probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """uint8 RGB frame -> (text probability map over the fitted frame, frame-to-map scale)."""
        canvas, s = fit(rgb, self.input_hw)
        out = next(iter(self.model.run({self.model.input_names[0]: canvas[None]}).values()))
        h, w = rgb.shape[:2]
        return out[0, : max(1, round(h * s)), : max(1, round(w * s)), 0], s

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The text lines of an RGB uint8 frame: (quads [N,4,2] in frame pixels, scores [N] 0..1)."""
        prob, s = self.probabilities(rgb)
        quads, scores = boxes_from_map(prob)
        if len(quads):
            h, w = rgb.shape[:2]
            quads = quads / s
            quads[..., 0] = quads[..., 0].clip(0, w - 1)
            quads[..., 1] = quads[..., 1].clip(0, h - 1)
        return quads, scores

    def close(self) -> None:
        """Free the model; idempotent."""
        if self.model is not None:
            self.model.close()
            self.model = None
