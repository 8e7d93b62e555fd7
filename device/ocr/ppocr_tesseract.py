"""PP-OCRv4's text detector finds the lines (the ONNX model inside the rapidocr-onnxruntime wheel,
on onnxruntime); Tesseract reads each line, straightened and scaled to a height it reads well.
PP-OCR's own recogniser (engine rapidocr) runs English words together; Tesseract's page layout
analysis alone (engine tesseract) misses most text that sits in a photo. Together they read both."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..errors import OCRUnavailableError
from .base import TextLine, reading_order
from .tesseract import TesseractReader

LINE_HEIGHT_PX = 48  # crops are scaled up to this height: Tesseract reads 20-50 px capitals best
MAX_SIDE_PX = 640  # the detector sees the frame at most this large (larger costs time, not accuracy)
MIN_CONFIDENCE = 40  # Tesseract's mean word confidence (0-100) below which a crop is not text


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


class PPOCRTesseractReader:
    name = "ppocr-tesseract"

    def __init__(self, threads: int | None = None):
        try:
            import rapidocr_onnxruntime
            import yaml
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        except ImportError as e:
            raise OCRUnavailableError(f"rapidocr-onnxruntime is not importable ({e}): pip install rapidocr-onnxruntime "
                                      "(or ./install.sh --ocr)") from e
        here = os.path.dirname(rapidocr_onnxruntime.__file__)
        with open(os.path.join(here, "config.yaml")) as f:
            cfg = yaml.safe_load(f)["Det"]
        cfg.update(model_path=os.path.join(here, cfg["model_path"]), limit_type="max", limit_side_len=MAX_SIDE_PX,
                   intra_op_num_threads=threads or -1, inter_op_num_threads=1)
        self._det = TextDetector(cfg)
        self._lines = TesseractReader(threads=threads, psm="SINGLE_LINE")
        from importlib.metadata import version
        self.version = f"PP-OCRv4 det ({version('rapidocr-onnxruntime')}) + Tesseract {self._lines.version}"

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        quads, _ = self._det(np.ascontiguousarray(rgb[..., ::-1]))  # the detector wants OpenCV's BGR order
        gray, lines = Image.fromarray(rgb).convert("L"), []
        for q in quads if quads is not None else []:
            text, conf = self._lines.read_line(straighten(gray, q))
            if text and conf >= MIN_CONFIDENCE:
                xs, ys = [p[0] for p in q], [p[1] for p in q]
                lines.append(TextLine(text, (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))), conf / 100))
        return reading_order(lines)

    def close(self) -> None:
        self._det = None
        self._lines.close()
