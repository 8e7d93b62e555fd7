"""The answer tuning step (`python -m convert tune-answers`): chooses what one press says on held-out
photos with references and writes it into the bundle's manifest ("answer"), with answers.md /
answers.json beside it:
- the frame check's thresholds, on the held-out photos and more (--frame-photos) degraded in known
  ways (evaluation.frame_check: refuse at most 1% of the clean ones, catch each degradation);
- when a caption is said and which objects are named (evaluation.answers.tune: the fewest answers
  naming an absent object, with "I see" right >= 93% and >= 88% of answers saying something).
Re-run it when the model or the reader changes; the build runs it after grounding tuning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from device.answer import AnswerSettings
from device.captioner import Captioner
from evaluation import answers, frame_check

from .conversion_errors import ConvertError

log = logging.getLogger("seesay.tune")


def tune_answers(bundle_dir: str | Path, items, frame_photos: list[Path] = ()) -> dict:
    """items: held-out Samples (image + references); frame_photos: more clean photos for the frame
    check. Writes the chosen settings into the bundle's manifest; -> the report."""
    bundle_dir = Path(bundle_dir)
    cap = Captioner(bundle_dir)
    photos = [s.image for s in items] + list(frame_photos)
    log.info("frame check: %d photos, each degraded %d ways", len(photos), len(frame_check.KINDS))
    fc, fc_score = frame_check.tune(frame_check.measures_of(photos, cap.bundle.image_size, cap.bundle.geometry))
    log.info("answers: captioning %d held-out photos", len(items))
    records = answers.records_of(cap, [(s.image, s.captions) for s in items], fc)
    if not records:
        raise ConvertError("no readable held-out photos to tune the answers on")
    chosen, rows = answers.tune(records, cap.objects, fc)
    before = answers.score(records, cap.objects, AnswerSettings.from_json(cap.bundle.manifest.get("answer") or {}))
    after = answers.score(records, cap.objects, chosen)
    report = {
        "photos": len(records),
        "frame_photos": len(photos),
        "frame_check": fc_score,
        "chosen": chosen.to_json(),
        "before": before,
        "after": after,
        "captions": answers.caption_scores(records),
        "tuning": rows,
    }
    manifest_path = bundle_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["answer"] = chosen.to_json()
    tmp = manifest_path.with_suffix(".json.tmp")  # written whole, then renamed: never a half manifest
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(manifest_path)
    (bundle_dir / "answers.json").write_text(json.dumps(report, indent=2))
    (bundle_dir / "answers.md").write_text(markdown(report))
    cap.close()
    return report


def markdown(r: dict) -> str:
    """The tuning's figures as the bundle's answers.md."""
    a, b, c, ch = r["after"], r["before"], r["captions"], r["chosen"]
    fc = r["frame_check"]
    kinds = [k for k in fc if isinstance(fc[k], dict) and "right" in fc[k]]
    s = [
        "# What one press says (answer tuning)",
        "",
        f"{r['photos']} held-out photos with references; the frame check on {r['frame_photos']} photos, each "
        "also degraded (blur, motion, exposure x0.2 / x4, glare, covered lens). Settings written into "
        "manifest.json (\"answer\").",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
    ]
    for key, name in (
        ("answer_chair_s", "answers naming an absent object (CHAIR_s)"),
        ("i_see_precision", "\"I see\" objects right"),
        ("concrete", "answers saying something concrete"),
        ("captions_said", "answers that include the caption"),
        ("refused", "frames refused"),
    ):
        s.append(f"| {name} | {b[key]:.3f} | {a[key]:.3f} |")
    s += [
        "",
        f"- chosen: caption said at mean log p >= {ch['caption_min_logprob']}, \"I see\" at best-class "
        f"p >= {ch['object_min_p']} (at most {ch['max_objects']}), a caption silenced by an unnamed object at "
        f"p >= {ch['trust_objects']}, a caption naming people said at person score >= {ch['person_min']}",
        f"- frame check: {json.dumps(ch['frame'])}; clean photos refused {fc['clean_refused']:.1%}; right advice: "
        + ", ".join(f"{k} {fc[k]['right']:.1%}" for k in kinds),
        f"- captions themselves (every photo): BLEU-4 {c['bleu4']:.4f}, CIDEr {c['cider']:.4f}, CHAIR_s "
        f"{c['chair_s']:.4f}",
        f"- \"I see\" nouns no object group scores (look by eye): {a['i_see_unscored']}",
        "",
    ]
    return "\n".join(s)
