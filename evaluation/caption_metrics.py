"""Corpus caption metrics, COCO-compatible: pycocoevalcap's BLEU-1..4 and CIDEr(-D) on captions
tokenised by device.vocab.tokenize (lower-case, punctuation stripped) on both sides, and the
object hallucination rates CHAIR_s / CHAIR_i (evaluation.chair)."""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider

from .chair import chair
from device.vocab import tokenize


def _norm(text: str) -> str:
    return " ".join(tokenize(text)) or "<empty>"  # pycocoevalcap needs a non-empty string


def caption_metrics(hyps: Mapping[Hashable, str], refs: Mapping[Hashable, Sequence[str]]) -> dict:
    """{bleu1..bleu4, cider, chair_s, chair_i, most_hallucinated} over the images in hyps (each must
    have references)."""
    keys = list(hyps)
    res = {i: [_norm(hyps[k])] for i, k in enumerate(keys)}
    gts = {i: [_norm(r) for r in refs[k]] for i, k in enumerate(keys)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    c = chair(hyps, refs).to_dict()
    return {
        "bleu1": bleu[0],
        "bleu2": bleu[1],
        "bleu3": bleu[2],
        "bleu4": bleu[3],
        "cider": float(cider),
        "chair_s": c["chair_s"],
        "chair_i": c["chair_i"],
        "most_hallucinated": c["most_hallucinated"],
    }


def bleu4(hyps: Mapping[Hashable, str], refs: Mapping[Hashable, Sequence[str]]) -> float:
    keys = list(hyps)
    bleu, _ = Bleu(4).compute_score(
        {i: [_norm(r) for r in refs[k]] for i, k in enumerate(keys)},
        {i: [_norm(hyps[k])] for i, k in enumerate(keys)},
        verbose=0,
    )
    return bleu[3]


def best_constant_caption(refs: Mapping[Hashable, Sequence[str]], n_candidates: int = 300) -> str:
    """The single caption that, said for every image, scores the best BLEU-4 on these references:
    the floor a collapsed model would reach. Candidates: the shortest-to-median reference captions."""
    pool = sorted({_norm(r) for rs in refs.values() for r in rs}, key=lambda c: (abs(len(c.split()) - 9), c))
    best, best_score = pool[0], -1.0
    for cand in pool[:n_candidates]:
        s = bleu4({k: cand for k in refs}, refs)
        if s > best_score:
            best, best_score = cand, s
    return best
