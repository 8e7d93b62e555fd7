"""What a double press says: the text in view, line by line, or why there is none to read."""

from __future__ import annotations

import re

from .frame_check import ADVICE, FrameCheckSettings
from .ocr import TextLine
from .preprocess import to_model_input

SAY_READ = {
    "no_text": "I see no text.",
    **ADVICE,
    "small": "There may be text, but it is too small or unclear to read. Move closer and hold still.",
    "no_reader": "Reading text is not installed.",
    "failed": "Sorry, something went wrong while reading.",
}
MIN_HEIGHT_PX = 10  # lines lower than this (in the camera frame) are too small to be read reliably


def legible(line: TextLine) -> bool:
    """A word of two letters or a number: not stray marks read as '|' or '~'."""
    return bool(re.search(r"[A-Za-z]{2}|\d", line.text))


def read_answer(lines: list[TextLine], small_frame, frame_check: FrameCheckSettings | None) -> tuple[str, str]:
    """(what to say, kind). lines: the reader's, in reading order; small_frame: the model-size
    frame, for the frame check when nothing could be read (a page filling the frame is read first,
    never refused as too close); frame_check None: no check (kind "no_text" then)."""
    good = [l for l in lines if legible(l) and l.height >= MIN_HEIGHT_PX]
    if good:  # each line its own sentence, so espeak-ng pauses between them
        return " ".join(l.text if l.text[-1] in ".!?:" else l.text + "." for l in good), "text"
    problem = frame_check.problem(small_frame) if frame_check is not None else None
    if problem:
        return SAY_READ[problem], problem
    if any(legible(l) for l in lines):
        return SAY_READ["small"], "small"
    return SAY_READ["no_text"], "no_text"


def read_frame(reader, frame, frame_check: FrameCheckSettings) -> tuple[str, str]:
    """A camera frame -> (what to say, kind): the one path for a double press and `device read`."""
    small = to_model_input(frame, 224, "squash")  # the frame check's own scale: the captioner's input size
    return read_answer(reader.read(frame), small, frame_check)


def short_text(reader, frame) -> str | None:
    """What a single press adds about text ("It says: ..."), or None: only when the detector clearly
    sees a line (a reader without a detector: when it reads legible lines). The one path for the daemon
    and the scoring of text-free photos."""
    from .answer import text_part

    has_text = getattr(reader, "has_text", None)
    if has_text is not None and not has_text(frame):
        return None
    text, kind = read_answer(reader.read(frame), None, None)
    return text_part(text) if kind == "text" else None
