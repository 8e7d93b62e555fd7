"""Tokenisation and the vocabulary: one definition for training, conversion and the device."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)  # ids 0..3, fixed so every model agrees

_NON_WORD = re.compile(r"[^a-z0-9' ]+")


def tokenize(text: str) -> list[str]:
    """Lower-case, strip punctuation, split on white space ("A dog's ball." -> [a, dog's, ball])."""
    text = _NON_WORD.sub(" ", text.lower().replace("-", " "))
    return [w.strip("'") for w in text.split() if w.strip("'")]


class Vocabulary:
    """Word <-> id map. Ids 0..3 are <pad> <start> <end> <unk>."""

    def __init__(self, words: Sequence[str]):
        if tuple(words[:4]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {tuple(words[:4])}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("vocabulary has duplicate words")

    pad_id, start_id, end_id, unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 3, max_size: int | None = None) -> "Vocabulary":
        """Words seen at least min_count times, most frequent first (ties alphabetical: deterministic)."""
        counts = Counter(w for c in captions for w in tokenize(c))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + kept)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Caption -> [<start>, w1.., <end>] ids, truncated to max_len words."""
        ids = [self.index.get(w, self.unk_id) for w in tokenize(text)]
        if max_len is not None:
            ids = ids[:max_len]
        return [self.start_id] + ids + [self.end_id]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> sentence, stopping at <end>, skipping <start>/<pad>."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i in (self.start_id, self.pad_id):
                continue
            out.append(self.words[i] if 0 <= i < len(self.words) else UNK)
        return " ".join(out)

    def to_json(self) -> dict:
        """The vocabulary file's content."""
        return {"words": self.words}

    def save(self, path: str | Path) -> None:
        """Write vocab.json."""
        Path(path).write_text(json.dumps(self.to_json(), indent=0))

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """Read vocab.json."""
        return cls(json.loads(Path(path).read_text())["words"])
