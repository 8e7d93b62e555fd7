"""Grounding: the encoder's ImageNet head checks what the caption names.

A bundle with a class head carries objects.json: the head's labels, a short spoken noun per class
and, per caption object group (device.objects), the classes that are evidence for it. A group whose
evidence the classifier puts below `min_evidence` is contradicted: during the search each of its
names costs `penalty` (added to the word's log p, see device.search's bias), and among the final
beams one naming it loses `penalty` per such group, so a caption that names only what the image
supports wins. Groups with no evidence classes (people) are never penalised here."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BundleError
from .objects import mentions, single_words
from .search import SearchResult
from .vocab import Vocabulary


@dataclass(frozen=True)
class GroundingSettings:
    """How the class head steers the caption search (chosen by `python -m convert tune-grounding`)."""

    penalty: float = 0.0  # score units (mean log p per word) a beam loses per contradicted object; 0 = off
    min_evidence: float = 0.01  # classifier probability of a group below which naming it is contradicted
    min_coverage: float = 0.005  # share of the frame the segmenter must give a group (when the bundle has one)
    min_person: float = 0.3  # person detector score (0..1) below which naming a person is contradicted


def combine(
    evidence: dict[str, float], coverage: dict[str, float] | None, s: GroundingSettings, person: float | None = None
) -> dict[str, float]:
    """One 'how sure is it there' per group on the classifier's scale: where the segmenter (coverage)
    or the person detector (person, its score) also speaks for a group, the group counts as present
    when any source is sure enough (each rescaled so that its own threshold lands on min_evidence)."""
    if not coverage and person is None:
        return evidence
    out = dict(evidence)
    for g, c in (coverage or {}).items():
        seen = c / s.min_coverage * s.min_evidence
        out[g] = max(out.get(g, 0.0), seen)
    if person is not None:
        out["person"] = max(out.get("person", 0.0), person / s.min_person * s.min_evidence)
    return out


class ObjectTable:
    """objects.json of a bundle: labels, spoken nouns, evidence classes per group."""

    def __init__(self, labels: list[str], nouns: list[str], groups: dict[str, list[int]]):
        if len(labels) != len(nouns):
            raise ValueError(f"{len(labels)} labels but {len(nouns)} nouns")
        self.labels, self.nouns = labels, nouns
        ids = {g: np.asarray(c, np.intp) for g, c in groups.items()}
        bad = [g for g, c in ids.items() if c.size and (c.min() < 0 or c.max() >= len(labels))]
        if bad:
            raise ValueError(f"group {bad[0]!r} names a class outside the {len(labels)} labels")
        self._group_names = list(ids)
        self._membership = np.zeros((len(self._group_names), len(labels)), np.float32)  # group x class, 0/1
        for i, g in enumerate(self._group_names):
            self._membership[i, ids[g]] = 1.0
        kept = sorted({n for n in nouns if n})
        self._noun_names = kept
        pos = {n: i for i, n in enumerate(kept)}
        self._class_noun = np.array([pos.get(n, -1) for n in nouns], np.intp)
        self._noun_groups: dict[str, set[str]] = {n: set() for n in kept}
        for c, n in enumerate(nouns):
            if n:
                self._noun_groups[n].update(g for i, g in enumerate(self._group_names) if self._membership[i, c])

    @classmethod
    def load(cls, path: Path) -> "ObjectTable":
        """From the bundle's objects.json; a broken file is a BundleError."""
        try:
            d = json.loads(Path(path).read_text())
            return cls(list(d["labels"]), list(d["nouns"]), dict(d["groups"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BundleError(f"{path}: not a valid objects table ({e}); convert the checkpoint again") from e

    def noun_groups(self, noun: str) -> set[str]:
        """The object groups the classes said as this noun vouch for ("a beagle" -> {"dog"})."""
        return self._noun_groups.get(noun, set())

    def evidence(self, probs: np.ndarray) -> dict[str, float]:
        """Group -> the classifier's total probability for its classes."""
        return dict(zip(self._group_names, (self._membership @ probs).tolist()))

    def sure_nouns(
        self, probs: np.ndarray, min_p: float, k: int, noun_min_p: dict[str, float] | None = None
    ) -> list[tuple[str, float]]:
        """Up to k spoken nouns whose single best class reaches their threshold (noun_min_p[noun], else
        min_p), most probable first. The best class, not the sum of a noun's classes: ~120 breeds
        would otherwise add up to a sure "a dog"."""
        best = self.best_class_p(probs)
        order = np.argsort(-best, kind="stable")
        out: list[tuple[str, float]] = []
        floor = min(min_p, *(noun_min_p or {}).values(), 1.0)
        for i in order[: len(order) if k > 0 else 0]:
            n = self._noun_names[i]
            if best[i] < floor:
                break  # sorted: nothing after it can pass any threshold
            if best[i] >= (noun_min_p or {}).get(n, min_p):
                out.append((n, float(best[i])))
            if len(out) >= k:
                break
        return out

    def best_class_p(self, probs: np.ndarray) -> np.ndarray:
        """Per spoken noun (in nouns order), the probability of its single most probable class."""
        has = self._class_noun >= 0
        best = np.zeros(len(self._noun_names), np.float64)
        np.maximum.at(best, self._class_noun[has], probs[has])
        return best

    @property
    def spoken_nouns(self) -> list[str]:
        """The spoken nouns, in the order best_class_p gives them."""
        return self._noun_names


def word_bias(vocab: Vocabulary, evidence: dict[str, float], settings: GroundingSettings) -> np.ndarray | None:
    """float32 [V]: -penalty on every vocabulary word naming a contradicted group, else 0; None when
    nothing is contradicted (or the penalty is off)."""
    if settings.penalty <= 0:
        return None
    words = _group_word_ids(vocab)
    ids = [i for g, e in evidence.items() if e < settings.min_evidence for i in words.get(g, ())]
    if not ids:
        return None
    bias = np.zeros(len(vocab), np.float32)
    bias[ids] = -settings.penalty
    return bias


@functools.lru_cache(maxsize=4)  # one vocabulary per bundle: built once, not on every press
def _group_word_ids(vocab: Vocabulary) -> dict[str, tuple[int, ...]]:
    return {g: tuple(vocab.index[w] for w in ws if w in vocab.index) for g, ws in single_words().items()}


def contradicted(tokens: list[int], vocab: Vocabulary, evidence: dict[str, float], min_evidence: float) -> list[str]:
    """The groups a caption names that the classifier can vouch for but gives less than min_evidence."""
    named = dict.fromkeys(mentions([vocab.words[t] for t in tokens]))
    return [g for g in named if g in evidence and evidence[g] < min_evidence]


def rerank(
    beams: list[SearchResult], vocab: Vocabulary, evidence: dict[str, float], settings: GroundingSettings
) -> tuple[SearchResult, list[str]]:
    """The best beam after the penalty, and the groups it names against the evidence."""
    best, best_score, best_bad = beams[0], -np.inf, []
    for b in beams:  # best first: on equal scores the search's own order wins
        bad = contradicted(b.tokens, vocab, evidence, settings.min_evidence)
        score = b.score - settings.penalty * len(bad)
        if score > best_score:
            best, best_score, best_bad = b, score, bad
    return best, best_bad
