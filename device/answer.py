"""What the device says for a caption: the caption alone when it is sure, otherwise led by the
objects the classifier is sure of ("I see a laptop and a plate. Maybe a desk with a computer.")."""
from __future__ import annotations

from dataclasses import dataclass

from .captioner import Caption
from .grounding import ObjectTable

NOTHING = "nothing I can name"


@dataclass(frozen=True)
class AnswerSettings:
    confidence_threshold: float = -2.2  # mean log p per word below which the caption is unsure
    objects: bool = True  # lead an unsure caption with the classifier's confident objects
    object_confidence: float = 0.3  # total probability a spoken noun's classes need to be said
    max_objects: int = 3  # at most this many objects in one sentence


def join_nouns(nouns: list[str]) -> str:
    return nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]


def compose(cap: Caption, table: ObjectTable | None, s: AnswerSettings) -> str:
    text = cap.text or NOTHING
    unsure = cap.mean_logprob < s.confidence_threshold or cap.reranked
    if not unsure:
        return text
    nouns = []
    if s.objects and table is not None and cap.classes is not None:
        nouns = [n for n, _ in table.confident_nouns(cap.classes, s.object_confidence, s.max_objects)]
    if nouns:
        return f"I see {join_nouns(nouns)}. Maybe {text}."
    return f"Maybe {text}"
