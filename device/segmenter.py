"""A second, optional source of evidence: a PASCAL VOC semantic segmenter (Coral's DeepLab v3,
MobileNetV2 backbone) says which of its 20 classes cover how much of the frame. Its person class
is what the ImageNet head cannot give: whether there is a person at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .backends.litert import make_interpreter
from .errors import BundleError

# PASCAL VOC class id -> device.objects group (0 is background)
VOC_GROUPS = {
    1: "airplane",
    2: "bicycle",
    3: "bird",
    4: "boat",
    5: "bottle",
    6: "bus",
    7: "car",
    8: "cat",
    9: "chair",
    10: "cow",
    11: "dining table",
    12: "dog",
    13: "horse",
    14: "motorcycle",
    15: "person",
    16: "potted plant",
    17: "sheep",
    18: "couch",
    19: "train",
    20: "tv",
}


class Segmenter:
    """A PASCAL VOC DeepLab segmenter (uint8 TFLite): the share of the frame each class covers.

    path: the .tflite; threads: CPU threads (None: the runtime's default). Unreadable: BundleError."""

    def __init__(self, path: str | Path, threads: int | None = None):
        try:
            self.it = make_interpreter(path, threads)
        except ValueError as e:
            raise BundleError(f"{path}: TFLite could not load the segmenter ({e})") from e
        d = self.it.get_input_details()[0]
        self.input, self.size = d["index"], int(d["shape"][1])
        self.output = self.it.get_output_details()[0]["index"]

    def coverage(self, pixels: np.ndarray) -> dict[str, float]:
        """uint8 [S,S,3] (the captioner's input) -> group -> fraction of the frame its class covers."""
        img = Image.fromarray(pixels).resize((self.size, self.size), Image.BILINEAR)
        self.it.set_tensor(self.input, np.asarray(img, np.uint8)[None])
        self.it.invoke()
        seg = self.it.get_tensor(self.output)[0]
        counts = np.bincount(seg.ravel().astype(np.intp), minlength=21)[:21] / seg.size
        return {g: float(counts[c]) for c, g in VOC_GROUPS.items()}

    def close(self) -> None:
        """Drop the interpreter; idempotent."""
        self.it = None
