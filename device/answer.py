"""What one press says, built from what the device can stand behind (the design card's order):

1. Is the frame usable? If not, what to do (device.frame_check).
2. What it is: the objects the classifier is sure of, each at a calibrated confidence ("I see a cup.").
3. What it says: the short text, when the frame holds readable text (added by the daemon while the
   first part is being said).
4. The scene: the caption, only when it is confident and the evidence does not contradict it.
Otherwise only what is sure, or "I am not sure what this is." The thresholds are chosen on dev photos
by `python -m convert tune-answers` and live in the bundle's manifest ("answer"); the config's
[behaviour] keys override them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .captioner import Caption
from .frame_check import FrameCheckSettings
from .grounding import ObjectTable
from .objects import mentions
from .vocab import tokenize

NOT_SURE = "I am not sure what this is."
TEXT_WORDS = 12  # words of text a single press says at most ("It says: ..."); a double press reads all


@dataclass(frozen=True)
class AnswerSettings:
    """How a caption and the classifier become the sentence said.

    frame: the frame check's thresholds; caption_min_logprob: mean log p per word (<= 0) a caption needs
    to be said; object_min_p: probability (0..1) of a noun's single best ImageNet class for "I see" it;
    max_objects: nouns said at most (>= 0; 0: never "I see"); trust_objects: probability (0..1) of an
    object the caption does not name above which the caption is not said (a cat "described" as a boy);
    noun_min_p: per spoken noun, its own threshold where dev photos could calibrate it (above 1: never
    said, a noun the references rarely confirm); person_min: the person detector's score (0..1) a caption
    naming people needs to be said (0: no such check; a bundle without a detector never checks)."""

    frame: FrameCheckSettings = field(default_factory=FrameCheckSettings)
    caption_min_logprob: float = -1.6
    object_min_p: float = 0.6
    max_objects: int = 2
    trust_objects: float = 0.8
    noun_min_p: dict = field(default_factory=dict)
    person_min: float = 0.0

    def to_json(self) -> dict:
        """The manifest's "answer" entry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "AnswerSettings":
        """From a manifest's "answer" entry (missing keys: the defaults); values are range-checked."""
        d = dict(d)
        frame = FrameCheckSettings(**d.pop("frame", {}))
        return check_ranges(cls(frame=frame, **d))


RANGES = {
    "caption_min_logprob": (-20.0, 0.0),
    "object_min_p": (0.0, 1.01),
    "max_objects": (0, 5),
    "trust_objects": (0.0, 1.01),
    "person_min": (0.0, 1.0),
    "frame.min_contrast": (0.0, 128.0),
    "frame.min_brightness": (0.0, 255.0),
    "frame.min_highlight": (0.0, 255.0),
    "frame.max_brightness": (0.0, 255.0),
    "frame.max_glare": (0.0, 1.0),
    "frame.min_detail": (0.0, 100.0),
}  # thresholds of probabilities may be 1.01: never reached (off)


def check_ranges(s: AnswerSettings) -> AnswerSettings:
    """s unchanged when every value is a number in its range (RANGES), else ValueError naming it."""
    for key, (lo, hi) in RANGES.items():
        obj, name = (s.frame, key[6:]) if key.startswith("frame.") else (s, key)
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"answer setting {key} = {v!r}: give a number from {lo} to {hi}")
    for noun, p in s.noun_min_p.items():
        if not isinstance(noun, str) or isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 2:
            raise ValueError(f"answer setting noun_min_p[{noun!r}] = {p!r}: give a number from 0 to 2")
    if s.frame.min_brightness >= s.frame.max_brightness:
        raise ValueError("answer settings: frame.min_brightness must be below frame.max_brightness")
    return s


def join_nouns(nouns: list[str]) -> str:
    """['a cup', 'a plate', 'a fork'] -> 'a cup, a plate and a fork'."""
    return nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]


@dataclass(frozen=True)
class Description:
    """What a press says about a usable frame, and its parts (for the daemon, the CLI and the scoring)."""

    text: str  # the sentence said
    kind: str  # caption | objects | caption+objects | not_sure
    objects: tuple[str, ...] = ()  # the nouns said after "I see"
    caption_said: bool = False  # whether the caption is part of what is said
    caption: str = ""  # the caption, said or not


def compose(cap: Caption, table: ObjectTable | None, s: AnswerSettings) -> Description:
    """The description of a caption and the classifier's probabilities (cap.classes)."""
    sure = (
        table.sure_nouns(cap.classes, s.object_min_p, s.max_objects, s.noun_min_p)
        if table is not None and cap.classes is not None
        else []
    )
    named = set(mentions(cap.text)) | set(tokenize(cap.text))
    unnamed = [(n, p) for n, p in sure if not (table.noun_groups(n) | {n.split()[-1]}) & named]
    confident = bool(cap.text) and cap.mean_logprob >= s.caption_min_logprob and not cap.contradicted
    if cap.person is not None and cap.person < s.person_min and "person" in mentions(cap.text):
        confident = False  # it names people the person detector is not sure of
    if unnamed and unnamed[0][1] >= s.trust_objects:
        confident = False  # the classifier is sure of something the caption does not mention
    nouns = tuple(n for n, _ in (unnamed if confident else sure))
    if confident and nouns:
        return Description(
            f"I see {join_nouns(list(nouns))}. {_sentence(cap.text)}", "caption+objects", nouns, True, cap.text
        )
    if confident:
        return Description(_sentence(cap.text), "caption", (), True, cap.text)
    if nouns:
        return Description(f"I see {join_nouns(list(nouns))}.", "objects", nouns, False, cap.text)
    return Description(NOT_SURE, "not_sure", (), False, cap.text)


def text_part(text: str, max_words: int = TEXT_WORDS) -> str:
    """The short text a single press adds: "It says: ..." with at most max_words words."""
    words = text.split()
    short = " ".join(words[:max_words]).rstrip(".") + ("..." if len(words) > max_words else ".")
    return f"It says: {short}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
