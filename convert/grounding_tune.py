"""The grounding tuning step (`python -m convert tune-grounding`): on held-out images, the setting
that names the fewest absent objects (CHAIR_s) without costing CIDEr (at most `cider_slack`, 0.01,
below the ungrounded captions) is written into the bundle's manifest (search.grounding), with its
table in grounding.md / grounding.json. Each setting runs the device's own captioning
(device.captioner.Captioner.caption_encoded) on the images' encoder outputs. The build runs it after
the accuracy check; re-run it on a bundle when the data to tune on changes."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from pathlib import Path

from tqdm import tqdm

from device.captioner import Captioner
from device.grounding import GroundingSettings
from evaluation.caption_metrics import caption_metrics

from .conversion_errors import ConvertError

log = logging.getLogger("seesay.tune")

PENALTIES = (0.5, 1.0, 2.0, 3.0, 5.0)  # log p units added to each contradicted name, and taken per group at the end
MIN_EVIDENCE = (0.003, 0.01, 0.03, 0.1)  # classifier probability of a group below which naming it is contradicted


MIN_COVERAGE = (0.002, 0.01)  # share of the frame the segmenter gives a group (bundles with a segmenter)


MIN_PERSON = (0.2, 0.3, 0.4)  # person detector score below which a person is contradicted (bundles with one)


def grounded(
    cap: Captioner, raws: dict, settings: GroundingSettings, beam: int, coverage: dict, person: dict | None = None
) -> dict[str, str]:
    """image -> the grounded caption, from each image's raw encoder outputs and other evidence."""
    person = person or {}
    return {k: cap.caption_encoded(raw, beam, settings, coverage.get(k), person.get(k)).text for k, raw in raws.items()}


def tune(
    cap: Captioner,
    raws: dict,
    refs: dict,
    beam: int,
    coverage: dict,
    cider_slack: float = 0.01,
    person: dict | None = None,
) -> tuple[GroundingSettings, list[dict]]:
    """coverage: image -> the segmenter's coverage ({} without one); person: image -> the person
    detector's score ({} or None without one).
    -> (chosen settings, one row per setting tried: penalty, min_evidence, min_coverage, min_person, cider, ...)."""
    rows = []
    covs = MIN_COVERAGE if coverage else (GroundingSettings().min_coverage,)
    if person:  # a third dimension: a coarser grid of the other two keeps the tuning's time
        pens, evs, persons = (1.0, 3.0, 5.0), (0.01, 0.03, 0.1), MIN_PERSON
    else:
        pens, evs, persons = PENALTIES, MIN_EVIDENCE, (GroundingSettings().min_person,)
    grid = itertools.chain([(0.0, MIN_EVIDENCE[0], covs[0], persons[0])], itertools.product(pens, evs, covs, persons))
    for pen, ev, cov, mp in grid:
        m = caption_metrics(grounded(cap, raws, GroundingSettings(pen, ev, cov, mp), beam, coverage, person), refs)
        rows.append(
            {
                "penalty": pen,
                "min_evidence": ev,
                "min_coverage": cov,
                "min_person": mp,
                "cider": m["cider"],
                "bleu4": m["bleu4"],
                "chair_s": m["chair_s"],
                "chair_i": m["chair_i"],
                "most_hallucinated": m["most_hallucinated"],
            }
        )
    base = rows[0]
    ok = [r for r in rows if r["cider"] >= base["cider"] - cider_slack]
    best = min(ok, key=lambda r: (round(r["chair_s"], 6), -r["cider"], r["penalty"]))
    return GroundingSettings(best["penalty"], best["min_evidence"], best["min_coverage"], best["min_person"]), rows


def tune_grounding(bundle_dir: str | Path, items, cider_slack: float = 0.01) -> dict:
    """items: held-out Samples (image + references). Chooses the grounding settings on them, writes
    them into the bundle's manifest and grounding.md/.json beside it; -> the tuning report."""
    from .check import readable

    bundle_dir = Path(bundle_dir)
    cap = Captioner(bundle_dir)
    if cap.objects is None:
        raise ConvertError(f"{bundle_dir}: the bundle has no ImageNet class head, so there is nothing to ground on")
    raws, coverage, refs, person = {}, {}, {}, {}
    for s, px in tqdm(
        readable(items, cap.bundle.image_size, cap.bundle.geometry),
        total=len(items),
        desc="grounding tuning",
        unit="img",
    ):
        raws[s.image.name], refs[s.image.name] = cap.encode_raw(px), list(s.captions)
        if cap.segmenter is not None:
            coverage[s.image.name] = cap.segmenter.coverage(px)
        if cap.person is not None:
            person[s.image.name] = cap.person.score(px)
    if not raws:
        raise ConvertError("no readable held-out images to tune grounding on")
    before = dataclasses.asdict(cap.grounding)
    chosen, rows = tune(cap, raws, refs, cap.beam, coverage, cider_slack, person)
    report = {
        "images": len(raws),
        "beam": cap.beam,
        "segmenter": bool(coverage),
        "person_detector": bool(person),
        "before": before,
        "tuned": dataclasses.asdict(chosen),
        "cider_slack": cider_slack,
        "tuning": rows,
    }
    manifest_path = bundle_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["search"]["grounding"] = report["tuned"]
    tmp = manifest_path.with_suffix(".json.tmp")  # written whole, then renamed: never a half manifest
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(manifest_path)
    (bundle_dir / "grounding.json").write_text(json.dumps(report, indent=2))
    (bundle_dir / "grounding.md").write_text(markdown(report))
    log.info("grounding tuned on %d images: %s", len(raws), report["tuned"])
    return report


def markdown(r: dict) -> str:
    """The tuning table as the bundle's grounding.md."""
    t = r["tuned"]
    key = ("penalty", "min_evidence", "min_coverage", "min_person")
    chosen = next(x for x in r["tuning"] if all(x[k] == t[k] for k in key))
    base = r["tuning"][0]
    s = [
        "# Grounding tuning (beams re-ranked by the encoder's ImageNet head)",
        "",
        f"{r['images']} held-out images, beam {r['beam']}; evidence from the ImageNet head"
        f"{' and the segmenter' if r['segmenter'] else ''}"
        f"{' and the person detector' if r.get('person_detector') else ''}"
        ". Chosen: the lowest CHAIR_s within "
        f"{r['cider_slack']} CIDEr of the ungrounded captions; written into manifest.json (search.grounding).",
        "",
        f"- ungrounded: CIDEr {base['cider']:.4f}, BLEU-4 {base['bleu4']:.4f}, CHAIR_s {base['chair_s']:.4f}, "
        f"CHAIR_i {base['chair_i']:.4f}",
        f"- chosen: penalty {t['penalty']}, min evidence {t['min_evidence']}, min coverage {t['min_coverage']}, "
        f"min person {t['min_person']}: "
        f"CIDEr {chosen['cider']:.4f}, BLEU-4 {chosen['bleu4']:.4f}, CHAIR_s {chosen['chair_s']:.4f}, "
        f"CHAIR_i {chosen['chair_i']:.4f}, most hallucinated {chosen['most_hallucinated']}",
        "",
        "| penalty | min evidence | min coverage | min person | CIDEr | BLEU-4 | CHAIR_s | CHAIR_i |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    s += [
        f"| {x['penalty']} | {x['min_evidence']} | {x['min_coverage']} | {x['min_person']} | {x['cider']:.4f} | "
        f"{x['bleu4']:.4f} | {x['chair_s']:.4f} | {x['chair_i']:.4f} |"
        for x in r["tuning"]
    ]
    return "\n".join(s) + "\n"
