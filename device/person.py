"""Evidence that a person is in view: MoveNet Lightning (single-pose, uint8 TFLite) finds a body's
keypoints; the mean score of its five surest keypoints says how sure it is that someone is there.
The ImageNet head cannot say it (ImageNet has no person class), and captions trained on Flickr8k put
people everywhere: this is what lets the device leave them out. 192x192 input: about 1.4x the caption
encoder (the DeepLab segmenter, at 513x513, costs about 7.5x)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .backends.litert import make_interpreter
from .errors import BundleError

TOP_KEYPOINTS = 5  # a person seen only in part (a hand, a face) still shows a few sure keypoints


class PersonDetector:
    """MoveNet's keypoints as one "is someone there" score.

    path: the .tflite (MoveNet single-pose, [1,S,S,3] uint8 in, [1,1,17,3] (y, x, score) out); threads:
    CPU threads (None: the runtime's default). Unreadable or of another shape: BundleError."""

    def __init__(self, path: str | Path, threads: int | None = None):
        try:
            self.it = make_interpreter(path, threads)
        except ValueError as e:
            raise BundleError(f"{path}: TFLite could not load the person detector ({e})") from e
        d = self.it.get_input_details()[0]
        self.input, self.size, self.dtype = d["index"], int(d["shape"][1]), d["dtype"]
        out = self.it.get_output_details()[0]
        if tuple(out["shape"][-2:]) != (17, 3):
            raise BundleError(f"{path}: not a MoveNet single-pose model (output {tuple(out['shape'])})")
        self.output = out["index"]

    def score(self, pixels: np.ndarray) -> float:
        """uint8 [S,S,3] (the captioner's input) -> 0..1, how sure it is that a person is in view."""
        img = Image.fromarray(pixels).resize((self.size, self.size), Image.BILINEAR)
        self.it.set_tensor(self.input, np.asarray(img, self.dtype)[None])
        self.it.invoke()
        scores = np.sort(self.it.get_tensor(self.output).reshape(-1, 3)[:, 2])[::-1]
        return float(scores[:TOP_KEYPOINTS].mean())

    def close(self) -> None:
        """Drop the interpreter; idempotent."""
        self.it = None
