"""Tune the grounding penalty on held-out images: the setting that names the fewest absent objects
(CHAIR_s) without costing CIDEr (at most `cider_slack` below the ungrounded captions)."""
from __future__ import annotations

import itertools

from device.grounding import GroundingSettings, rerank
from device.search import SearchResult
from device.vocab import Vocabulary
from training.metrics import caption_metrics

PENALTIES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 3.0)  # score units: mean log p per word
MIN_EVIDENCE = (0.001, 0.003, 0.01, 0.03, 0.1)  # classifier probability of the named group


def grounded(beams: dict[str, list[SearchResult]], evidence: dict[str, dict], vocab: Vocabulary,
             settings: GroundingSettings) -> dict[str, str]:
    return {k: vocab.decode(rerank(b, vocab, evidence[k], settings)[0].tokens) for k, b in beams.items()}


def tune(beams: dict[str, list[SearchResult]], evidence: dict[str, dict], refs: dict, vocab: Vocabulary,
         cider_slack: float = 0.005) -> tuple[GroundingSettings, list[dict]]:
    """-> (chosen settings, one row per setting tried: penalty, min_evidence, cider, chair_s, bleu4)."""
    rows, seen = [], {}
    for pen, ev in itertools.chain([(0.0, MIN_EVIDENCE[0])], itertools.product(PENALTIES[1:], MIN_EVIDENCE)):
        hyps = grounded(beams, evidence, vocab, GroundingSettings(pen, ev))
        key = tuple(hyps[k] for k in sorted(hyps))
        if key not in seen:
            seen[key] = caption_metrics(hyps, refs)
        m = seen[key]
        rows.append({"penalty": pen, "min_evidence": ev, "cider": m["cider"], "bleu4": m["bleu4"],
                     "chair_s": m["chair_s"], "chair_i": m["chair_i"]})
    base = rows[0]
    ok = [r for r in rows if r["cider"] >= base["cider"] - cider_slack]
    best = min(ok, key=lambda r: (round(r["chair_s"], 6), -r["cider"], r["penalty"]))
    return GroundingSettings(best["penalty"], best["min_evidence"]), rows
