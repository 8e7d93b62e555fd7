"""What a double press says: the text in view, line by line, or why there is none to read."""
from __future__ import annotations

import re

from .ocr import TextLine
from .preprocess import to_model_input
from .quality import frame_problem

SAY_READ = {
    "no_text": "I see no text.",
    "blurred": "The picture is blurred. Hold still and try again.",
    "dark": "It is too dark to read.",
    "small": "There may be text, but it is too small or unclear to read. Move closer and hold still.",
    "no_reader": "Reading text is not installed.",
    "failed": "Sorry, something went wrong while reading.",
    "hint": "There is text; double press to read it.",
}
MIN_HEIGHT_PX = 10  # lines lower than this (in the camera frame) are too small to be read reliably


def legible(line: TextLine) -> bool:
    """A word of two letters or a number: not stray marks read as '|' or '~'."""
    return bool(re.search(r"[A-Za-z]{2}|\d", line.text))


def read_answer(lines: list[TextLine], small_frame, min_brightness: float, min_sharpness: float) -> tuple[str, str]:
    """(what to say, kind). lines: the reader's, in reading order; small_frame: the model-size
    frame, for the existing darkness/blur checks when nothing could be read."""
    good = [l for l in lines if legible(l) and l.height >= MIN_HEIGHT_PX]
    if good:  # each line its own sentence, so espeak-ng pauses between them
        return " ".join(l.text if l.text[-1] in ".!?:" else l.text + "." for l in good), "text"
    problem = frame_problem(small_frame, min_brightness, min_sharpness)
    if problem:
        return SAY_READ[problem], problem
    if any(legible(l) for l in lines):
        return SAY_READ["small"], "small"
    return SAY_READ["no_text"], "no_text"


def read_frame(reader, frame, min_brightness: float, min_sharpness: float) -> tuple[str, str]:
    """A camera frame -> (what to say, kind): the one path for a double press and `device read`."""
    small = to_model_input(frame, 224, "squash")  # the frame checks' own scale: the captioner's input size
    return read_answer(reader.read(frame), small, min_brightness, min_sharpness)
