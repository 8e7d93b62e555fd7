"""The reader interface, and reading order: lines top to bottom, words in a line left to right."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TextLine:
    """One line of text read in a frame, with its box (pixels) and the engine's confidence."""

    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
    confidence: float  # 0..1, the engine's own

    @property
    def height(self) -> int:
        """Height of the line's box, pixels."""
        return self.box[3] - self.box[1]


class Reader(Protocol):
    """What every reading engine offers: read an RGB frame into lines, and close."""

    name: str

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        """uint8 RGB [H, W, 3] -> the text lines found, in reading order."""
        ...

    def close(self) -> None:
        """Free the engine; idempotent."""


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Pieces whose vertical centres lie within half a line height of each other form one row,
    read left to right; rows top to bottom. Engines that find words or fragments (PP-OCR does)
    give whole lines this way."""
    rows: list[list[TextLine]] = []
    for ln in sorted(lines, key=lambda l: (l.box[1] + l.box[3]) / 2):
        cy = (ln.box[1] + ln.box[3]) / 2
        if rows:
            last = rows[-1]
            rcy = sum((l.box[1] + l.box[3]) / 2 for l in last) / len(last)
            rh = max(l.height for l in last)
            if abs(cy - rcy) < 0.5 * max(rh, ln.height):
                last.append(ln)
                continue
        rows.append([ln])
    out = []
    for row in rows:
        row.sort(key=lambda l: l.box[0])
        box = (
            min(l.box[0] for l in row),
            min(l.box[1] for l in row),
            max(l.box[2] for l in row),
            max(l.box[3] for l in row),
        )
        out.append(TextLine(" ".join(l.text for l in row), box, min(l.confidence for l in row)))
    return out
