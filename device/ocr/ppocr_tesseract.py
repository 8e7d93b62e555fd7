"""PP-OCRv4's text detector finds the lines (converted to TFLite: device/ocr/text_detector.py);
Tesseract reads each line, straightened and scaled to a height it reads well.
PP-OCR's own recogniser (engine rapidocr) runs English words together; Tesseract's page layout
analysis alone (engine tesseract) misses most text that sits in a photo. Together they read both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from .base import TextLine, reading_order
from .tesseract import TesseractReader
from .text_detector import TextDetector, clearly_text

LINE_HEIGHT_PX = 48  # crops are scaled up to this height: Tesseract reads 20-50 px capitals best
MIN_CONFIDENCE = 40  # Tesseract's mean word confidence (0-100) below which a crop is not text
DETECT_CONTRAST = 2.0  # the detector reads the frame at twice its contrast: its int8 version finds no line
# at all in faint, noisy text otherwise; 1.5 and 2.5 read fewer words (docs/results.md)


def straighten(gray: Image.Image, quad: np.ndarray, height: int = LINE_HEIGHT_PX) -> Image.Image:
    """The quadrilateral (clockwise from top left) cut out, made rectangular, scaled to `height`,
    with a margin of its own median colour."""
    q = np.asarray(quad, np.float32)
    w = max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3]))
    h = max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))
    s = max(1.0, height / max(h, 1.0))
    size = (max(1, int(w * s)), max(1, int(h * s)))
    crop = gray.transform(size, Image.QUAD, [*q[0], *q[3], *q[2], *q[1]], Image.BICUBIC)  # PIL wants UL, LL, LR, UR
    out = Image.new("L", (size[0] + 20, size[1] + 20), int(np.median(np.asarray(crop))))
    out.paste(crop, (10, 10))
    return out


def smooth(line: Image.Image) -> Image.Image:
    """A straightened line, softened (a 1 px Gaussian: camera noise and the upscaling's jagged edges
    are what Tesseract's binarisation trips on) and stretched to full contrast (a 1% cut ignores
    specks): more words read on both halves of the text scenes (docs/results.md)."""
    return ImageOps.autocontrast(line.filter(ImageFilter.GaussianBlur(1)), cutoff=1)


def boost(rgb: np.ndarray, factor: float = DETECT_CONTRAST) -> np.ndarray:
    """The frame with its contrast about its mean grey multiplied by `factor` (clipped)."""
    return np.asarray(ImageEnhance.Contrast(Image.fromarray(rgb)).enhance(factor))


class PPOCRTesseractReader:
    """PP-OCRv4's detector (int8 TFLite) finds the lines; each is straightened and read by Tesseract.

    threads: CPU threads of both; detector: the detector's folder (None: the installed one)."""

    name = "ppocr-tesseract"

    def __init__(self, threads: int | None = None, detector: str | Path | None = None):
        """detector: the converted detector's folder (default: the shipped bundles/text-detector)."""
        self._lines = TesseractReader(
            threads=threads, psm="SINGLE_LINE"
        )  # first: a missing Tesseract is the usual case
        self._det = TextDetector(detector, threads=threads)
        self.version = f"{self._det.version} + Tesseract {self._lines.version}"

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        """The lines of text in an RGB uint8 frame, in reading order."""
        quads, _ = self._det.detect(boost(rgb))
        gray, lines = Image.fromarray(rgb).convert("L"), []
        for q in quads:
            text, conf = self._lines.read_line(smooth(straighten(gray, q)))
            if text and conf >= MIN_CONFIDENCE:
                xs, ys = [p[0] for p in q], [p[1] for p in q]
                lines.append(TextLine(text, (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))), conf / 100))
        return reading_order(lines)

    def has_text(self, rgb: np.ndarray) -> bool:
        """The detector alone (no reading): does the frame clearly hold a line of text?"""
        return clearly_text(*self._det.detect(rgb))

    def close(self) -> None:
        """Free the detector and Tesseract; idempotent."""
        self._det.close()
        self._lines.close()
