"""CIDEr-D over token ids (Vedantam et al. 2015, as in coco-caption): the self-critical reward.

Document frequencies come from the training references. Words outside the vocabulary become
distinct negative ids, so a candidate's <unk> never matches them."""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

N = 4  # n-gram orders 1..4
SIGMA = 6.0  # Gaussian length penalty width, as in CIDEr-D


def ngrams(ids: Sequence[int]) -> list[Counter]:
    return [Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)) for n in range(1, N + 1)]


class CiderD:
    def __init__(self, refs: dict[int, list[Sequence[int]]]):
        """refs: image key -> reference captions as id sequences (no <start>/<end>)."""
        df: Counter = Counter()
        self._refs_ng = {k: [ngrams(r) for r in rs] for k, rs in refs.items()}
        for rs in self._refs_ng.values():
            df.update({g for r in rs for order in r for g in order})
        self.log_n = math.log(float(len(refs)))
        self.df = df
        self._refs = {k: [self._vec(r, len(ids)) for r, ids in zip(rs, refs[k])] for k, rs in self._refs_ng.items()}

    def _vec(self, ng: list[Counter], length: int):
        vec, norms = [], []
        for order in ng:
            v = {g: tf * (self.log_n - math.log(max(1.0, self.df[g]))) for g, tf in order.items()}
            vec.append(v)
            norms.append(math.sqrt(sum(x * x for x in v.values())))
        return vec, norms, length

    def score(self, key: int, ids: Sequence[int]) -> float:
        """CIDEr-D of one candidate against image key's references (10x the mean over n of the
        clipped, length-penalised cosine similarity, averaged over references)."""
        cv, cn, cl = self._vec(ngrams(ids), len(ids))
        refs = self._refs[key]
        total = 0.0
        for rv, rn, rl in refs:
            penalty = math.exp(-((cl - rl) ** 2) / (2 * SIGMA**2))
            for n in range(N):
                if cn[n] == 0 or rn[n] == 0:
                    continue
                r = rv[n]
                dot = sum(min(w, r[g]) * r[g] for g, w in cv[n].items() if g in r)
                total += penalty * dot / (cn[n] * rn[n])
        return 10.0 * total / (N * len(refs))
