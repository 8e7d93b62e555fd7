"""What the device says for a caption: the caption alone when it is sure and the classifier agrees;
led by the objects the classifier is sure of when the caption is unsure or does not name them ("I
see a laptop and a plate. Maybe a desk with a computer."); the objects alone when the classifier is
very sure of one the caption does not name (a cat photo described as "a boy in a red shirt")."""
from __future__ import annotations

from dataclasses import dataclass

from .captioner import Caption
from .grounding import ObjectTable
from .objects import mentions
from .vocab import tokenize

NOTHING = "nothing I can name"


@dataclass(frozen=True)
class AnswerSettings:
    """How a caption becomes the sentence said (the config's [behaviour] part; thresholds in log p per word
    and classifier probability 0..1)."""
    confidence_threshold: float = -2.2  # mean log p per word below which the caption is unsure
    objects: bool = True  # lead an unsure caption with the classifier's confident objects
    object_confidence: float = 0.3  # total probability a spoken noun's classes need to be said
    max_objects: int = 3  # at most this many objects in one sentence
    trust_objects: float = 0.8  # a noun this sure that the caption does not name is said without the caption


def join_nouns(nouns: list[str]) -> str:
    """['a cup', 'a plate', 'a fork'] -> 'a cup, a plate and a fork'."""
    return nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]


def compose(cap: Caption, table: ObjectTable | None, s: AnswerSettings) -> str:
    """The sentence said for a caption: the caption, led by the objects the classifier is sure of when the
    caption is unsure (or said alone when the caption names none of them)."""
    text = cap.text or NOTHING
    sure = []
    if s.objects and table is not None and cap.classes is not None:
        sure = table.confident_nouns(cap.classes, s.object_confidence, s.max_objects)
    named = set(mentions(text)) | set(tokenize(text))
    unnamed = [(n, p) for n, p in sure if not (table.noun_groups(n) | {n.split()[-1]}) & named]
    if unnamed and unnamed[0][1] >= s.trust_objects:
        return f"I see {join_nouns([n for n, _ in sure])}."
    if cap.mean_logprob < s.confidence_threshold or cap.reranked or unnamed:
        return f"I see {join_nouns([n for n, _ in sure])}. Maybe {text}." if sure else f"Maybe {text}"
    return text
