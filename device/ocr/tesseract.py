"""Tesseract 5 through tesserocr's C API binding: one engine kept loaded, lines with boxes and
confidences. Raspberry Pi OS / Debian: apt install python3-tesserocr tesseract-ocr-eng;
elsewhere: pip install tesserocr (its wheel carries libtesseract) + the tessdata of apt's
tesseract-ocr-eng, or $TESSDATA_PREFIX."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OCRUnavailableError
from .base import TextLine, reading_order

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
INSTALL = "sudo apt install python3-tesserocr tesseract-ocr-eng (or ./install.sh --ocr)"


def tessdata(lang: str = "eng") -> str:
    """The folder holding LANG.traineddata: $TESSDATA_PREFIX, else the Debian locations."""
    for d in filter(None, (os.environ.get("TESSDATA_PREFIX"), *TESSDATA_DIRS)):
        if (Path(d) / f"{lang}.traineddata").is_file():
            return str(d)
    raise OCRUnavailableError(
        f"Tesseract's {lang}.traineddata was not found (looked in $TESSDATA_PREFIX and "
        f"{', '.join(TESSDATA_DIRS)}): {INSTALL}"
    )


def _quiet_leptonica() -> None:
    """Leptonica, Tesseract's image library, prints "Error in pixScanForForeground" and the like
    for ordinary photos straight to stderr; its own switch turns that off (unless -v)."""
    import ctypes
    import logging

    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    with open("/proc/self/maps") as f:
        libs = {l.split()[-1] for l in f if "lept" in l.rsplit("/", 1)[-1] and ".so" in l}
    for lib in libs:
        try:
            ctypes.CDLL(lib).setMsgSeverity(6)  # L_SEVERITY_NONE
        except (OSError, AttributeError):
            pass


class TesseractReader:
    """Tesseract 5 through tesserocr on the whole frame.

    lang: traineddata name; threads: OMP threads (None: its default); psm: tesserocr's PSM name."""

    name = "tesseract"

    def __init__(self, lang: str = "eng", threads: int | None = None, psm: str = "AUTO"):
        """psm: Tesseract's page segmentation mode; AUTO analyses the layout of a sign, label or page."""
        if threads:  # Tesseract's OpenMP would otherwise take every core, the encoder's included
            os.environ.setdefault("OMP_THREAD_LIMIT", str(threads))
        try:
            import tesserocr
        except ImportError as e:
            raise OCRUnavailableError(f"tesserocr is not importable ({e}): {INSTALL}") from e
        self._t = tesserocr
        self._api = tesserocr.PyTessBaseAPI(path=tessdata(lang), lang=lang, psm=getattr(tesserocr.PSM, psm))
        self._api.SetVariable("debug_file", "/dev/null")  # Tesseract's own warnings are noise before the answer
        _quiet_leptonica()
        self.version = tesserocr.tesseract_version().split()[1]

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        """The lines of text in an RGB uint8 frame, with their boxes and mean word confidences (0..1)."""
        t = self._t
        self._api.SetImage(Image.fromarray(rgb).convert("L"))  # grey: Tesseract's thresholding does better
        self._api.Recognize()
        it, level, lines = self._api.GetIterator(), t.RIL.TEXTLINE, []
        if it is not None:
            for r in t.iterate_level(it, level):
                try:
                    text = (r.GetUTF8Text(level) or "").strip()
                except RuntimeError:  # "No text returned" for an empty line
                    continue
                box = r.BoundingBox(level)
                if text and box:
                    lines.append(TextLine(" ".join(text.split()), tuple(box), r.Confidence(level) / 100))
        self._api.Clear()
        return reading_order(lines)

    def read_line(self, image: Image.Image) -> tuple[str, float]:
        """One line of text (with psm SINGLE_LINE) -> (its text, mean confidence 0-100)."""
        self._api.SetImage(image)
        try:
            text = " ".join((self._api.GetUTF8Text() or "").split())
        except RuntimeError:
            return "", 0.0
        return text, float(self._api.MeanTextConf())

    def close(self) -> None:
        """End Tesseract; idempotent."""
        if self._api is not None:
            self._api.End()
            self._api = None
