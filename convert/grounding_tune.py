"""Tune grounding on held-out images: the setting that names the fewest absent objects (CHAIR_s)
without costing CIDEr (at most `cider_slack`, 0.01, below the ungrounded captions). Each setting runs the
device's own captioning (device.captioner.Captioner.caption_encoded) on the images' encoder outputs."""
from __future__ import annotations

import itertools

from device.captioner import Captioner
from device.grounding import GroundingSettings
from training.metrics import caption_metrics

PENALTIES = (0.5, 1.0, 2.0, 3.0, 5.0)  # log p units added to each contradicted name, and taken per group at the end
MIN_EVIDENCE = (0.003, 0.01, 0.03, 0.1)  # classifier probability of a group below which naming it is contradicted


MIN_COVERAGE = (0.002, 0.01)  # share of the frame the segmenter gives a group (bundles with a segmenter)


def grounded(cap: Captioner, raws: dict, settings: GroundingSettings, beam: int, coverage: dict) -> dict[str, str]:
    return {k: cap.caption_encoded(raw, beam, settings, coverage.get(k)).text for k, raw in raws.items()}


def tune(cap: Captioner, raws: dict, refs: dict, beam: int, coverage: dict, cider_slack: float = 0.01
         ) -> tuple[GroundingSettings, list[dict]]:
    """coverage: image -> the segmenter's coverage ({} without one).
    -> (chosen settings, one row per setting tried: penalty, min_evidence, min_coverage, cider, bleu4, chair_s, chair_i)."""
    rows = []
    covs = MIN_COVERAGE if coverage else (GroundingSettings().min_coverage,)
    grid = itertools.chain([(0.0, MIN_EVIDENCE[0], covs[0])], itertools.product(PENALTIES, MIN_EVIDENCE, covs))
    for pen, ev, cov in grid:
        m = caption_metrics(grounded(cap, raws, GroundingSettings(pen, ev, cov), beam, coverage), refs)
        rows.append({"penalty": pen, "min_evidence": ev, "min_coverage": cov, "cider": m["cider"], "bleu4": m["bleu4"],
                     "chair_s": m["chair_s"], "chair_i": m["chair_i"], "most_hallucinated": m["most_hallucinated"]})
    base = rows[0]
    ok = [r for r in rows if r["cider"] >= base["cider"] - cider_slack]
    best = min(ok, key=lambda r: (round(r["chair_s"], 6), -r["cider"], r["penalty"]))
    return GroundingSettings(best["penalty"], best["min_evidence"], best["min_coverage"]), rows
