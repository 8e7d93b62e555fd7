"""The frame check measured and tuned: dev photos degraded in known ways (evaluation.degrade) must get
the right advice, clean dev photos must not be refused. What is tuned is how
often a usable photo is refused (2% at most); within that, every aimed-at degradation is caught at
least GOAL of the time, then motion blur as often as possible."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np

from device.frame_check import FrameCheckSettings, measure, problem_of
from device.preprocess import preprocess_file

from .degrade import EXPECTED, KINDS, degrade

FALSE_ALARM_BUDGET = 0.01  # clean photos refused, at most (the goal is 0.02: margin for unseen photos)
GOAL = 0.95  # each aimed-at degradation gets its advice this often (the goal is 0.9: margin for unseen photos)


def measures_of(paths: list[Path], size: int = 224, geometry: str = "squash", seed: int = 0) -> dict:
    """{"clean": [measures per photo], kind: [...] per degradation} over the photos at the model's size."""
    out: dict[str, list[dict]] = {"clean": [], **{k: [] for k in KINDS}}
    for i, p in enumerate(paths):
        px = preprocess_file(p, size, geometry)
        out["clean"].append(measure(px))
        for k in KINDS:
            out[k].append(measure(degrade(px, k, seed * 100_003 + i)))
    return out


GRID = {
    "min_contrast": (3.0, 4.0, 5.0),
    "min_brightness": (15.0, 20.0, 25.0, 30.0),
    "min_highlight": (40.0, 50.0, 60.0, 70.0, 80.0),
    "max_brightness": (195.0, 200.0, 205.0, 210.0, 215.0, 220.0, 230.0),
    "max_glare": (0.15, 0.2, 0.25, 0.3, 0.35, 0.4),
    "min_detail": tuple(np.round(np.arange(0.1, 1.01, 0.05), 2)),
}


def tune(meas: dict, budget: float = FALSE_ALARM_BUDGET) -> tuple[FrameCheckSettings, dict]:
    """The thresholds (from GRID) whose worst degradation gets its advice most often while at most
    budget of the clean photos are refused; -> (settings, their score)."""
    cols = {
        k: {f: np.array([m[f] for m in v]) for f in ("contrast", "mean", "highlight", "glare", "detail")}
        for k, v in meas.items()
    }
    best, best_key = None, None
    names = list(GRID)
    for values in itertools.product(*GRID.values()):
        s = FrameCheckSettings(**dict(zip(names, values)))
        said = {k: _problems(c, s) for k, c in cols.items()}
        refused = float(np.mean(said["clean"] != ""))
        if refused > budget:
            continue
        worst = min(float(np.mean(np.isin(said[k], list(EXPECTED[k])))) for k in KINDS if k != "motion")
        # past GOAL on every aimed-at kind, catching motion blur (common in worn-camera frames) counts more
        key = (round(min(worst, GOAL), 3), float(np.mean(np.isin(said["motion"], ["blurred"]))), worst, -refused)
        if best_key is None or key > best_key:
            best, best_key = s, key
    if best is None:
        raise ValueError(
            f"no frame-check thresholds refuse at most {budget:.0%} of these photos: are they "
            "ordinary photos (not drawings or renders)?"
        )
    return best, score(meas, best)


def _problems(c: dict, s: FrameCheckSettings) -> np.ndarray:
    """problem_of over columns of measures at once: the kind per photo, "" for none (same order)."""
    out = np.full(len(c["mean"]), "", dtype=object)
    for kind, hit in (
        ("blurred", c["detail"] < s.min_detail),
        ("glare", c["glare"] > s.max_glare),
        ("bright", c["mean"] > s.max_brightness),
        ("dark", (c["mean"] < s.min_brightness) | (c["highlight"] < s.min_highlight)),
        ("covered", c["contrast"] < s.min_contrast),
    ):  # the first problem wins: set last
        out[hit] = kind
    return out


def score(meas: dict, s: FrameCheckSettings) -> dict:
    """Share of clean photos refused (and why), and per degradation the share that got its advice."""
    clean = [problem_of(m, s) for m in meas["clean"]]
    out = {
        "clean_refused": float(np.mean([p is not None for p in clean])),
        "clean_refused_as": {k: clean.count(k) for k in set(clean) if k},
    }
    for k in KINDS:
        got = [problem_of(m, s) for m in meas[k]]
        out[k] = {
            "right": float(np.mean([g in EXPECTED[k] for g in got])),
            "said": {g or "nothing": got.count(g) for g in set(got)},
        }
    return out


def run_scoring(folders: list[Path], bundle: str | None = None) -> dict:
    """`python -m evaluation frame-check`: the bundle's frame check on the photos and degraded copies."""
    from device.bundle import default_bundle_dir, load_bundle
    from device.config import BehaviourSettings, answer_settings

    b = load_bundle(bundle or default_bundle_dir())
    s = answer_settings(BehaviourSettings(), b.manifest).frame
    photos = [p for d in folders for p in sorted(d.glob("*.jpg"))]
    return {
        "photos": len(photos),
        "settings": dataclasses.asdict(s),
        **score(measures_of(photos, b.image_size, b.geometry), s),
    }
