"""CHAIR (Rohrbach et al., 2018, "Object Hallucination in Image Captioning"): an object a caption
names is hallucinated when no reference caption of the image names its group. The groups are the
device's own (device.objects), so what is measured is what the device would say."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from device.objects import mentions


@dataclass
class Chair:
    """CHAIR_s = captions with a hallucinated object / captions naming any object;
    CHAIR_i = hallucinated mentions / all mentions."""

    captions: int = 0
    captions_with_objects: int = 0
    captions_hallucinating: int = 0
    mentions: int = 0
    hallucinated: int = 0
    by_group: Counter = field(default_factory=Counter)  # hallucinated mentions per group

    @property
    def chair_s(self) -> float:
        return self.captions_hallucinating / self.captions_with_objects if self.captions_with_objects else 0.0

    @property
    def chair_i(self) -> float:
        return self.hallucinated / self.mentions if self.mentions else 0.0

    def to_dict(self, top: int = 5) -> dict:
        return {
            "chair_s": self.chair_s,
            "chair_i": self.chair_i,
            "captions_with_objects": self.captions_with_objects,
            "captions_hallucinating": self.captions_hallucinating,
            "most_hallucinated": dict(self.by_group.most_common(top)),
        }


def hallucinated(caption: str, references: Iterable[str]) -> list[str]:
    """The groups a caption names that none of the references names (one entry per mention)."""
    truth = {g for r in references for g in mentions(r)}
    return [g for g in mentions(caption) if g not in truth]


def chair(hyps: Mapping[str, str], refs: Mapping[str, Sequence[str]]) -> Chair:
    """CHAIR over the captions in hyps, each judged against refs[key]."""
    c = Chair()
    for key, hyp in hyps.items():
        named = mentions(hyp)
        bad = hallucinated(hyp, refs[key])
        c.captions += 1
        c.captions_with_objects += bool(named)
        c.captions_hallucinating += bool(bad)
        c.mentions += len(named)
        c.hallucinated += len(bad)
        c.by_group.update(bad)
    return c
