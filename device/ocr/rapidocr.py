"""PP-OCR (text detection + recognition) as ONNX models inside the rapidocr-onnxruntime wheel,
on onnxruntime: pip install rapidocr-onnxruntime (or ./install.sh --ocr --ocr-engine rapidocr)."""

from __future__ import annotations

import numpy as np

from ..errors import OCRUnavailableError
from .base import TextLine, reading_order


class RapidOCRReader:
    """PP-OCR's detector and recogniser through rapidocr-onnxruntime (host-side comparisons).

    threads: onnxruntime's intra-op threads (None: its default)."""

    name = "rapidocr"

    def __init__(self, threads: int | None = None):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as e:
            raise OCRUnavailableError(
                f"rapidocr-onnxruntime is not importable ({e}): pip install rapidocr-onnxruntime"
            ) from e
        kw = {"intra_op_num_threads": threads} if threads else {}
        self._engine = RapidOCR(**kw)
        from importlib.metadata import version

        self.version = version("rapidocr-onnxruntime")

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        """The lines of text in an RGB uint8 frame, with their boxes and scores."""
        result, _ = self._engine(np.ascontiguousarray(rgb[..., ::-1]))  # it wants OpenCV's BGR order
        lines = []
        for quad, text, score in result or []:
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            if text.strip():
                lines.append(
                    TextLine(
                        " ".join(text.split()), (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))), float(score)
                    )
                )
        return reading_order(lines)

    def close(self) -> None:
        """Drop the engine; idempotent."""
        self._engine = None
