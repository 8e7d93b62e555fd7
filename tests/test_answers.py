"""What one press says, scored and tuned on real photos (skipped without the workplace's data), and
the person detector that lets the answer leave out people who are not there."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from device.bundle import load_bundle
from device.preprocess import preprocess_file

from .conftest import ROOT, SHARED, need_flickr, need_weights

SHIPPED = ROOT / "bundles" / "flickr8k"


def _dev_samples(n):
    from training.data import load_dataset, read_split

    d = SHARED / "data" / "flickr8k-224"
    if not (d / "splits" / "dev.txt").is_file():
        pytest.skip(f"Flickr8k dev photos not present at {d} (outside the seesay workplace)")
    samples, _ = load_dataset(d / "captions.csv")
    keep = set(read_split(d / "splits" / "dev.txt"))
    return [s for s in samples if s.image.name in keep][:n]


def test_the_person_detector_sees_the_astronaut_and_no_one_in_the_coffee():
    from device.person import PersonDetector

    pd = PersonDetector(need_weights("coral/movenet_single_pose_lightning_ptq.tflite"))
    astronaut = pd.score(preprocess_file(ROOT / "samples/astronaut.jpg", 224, "squash"))
    coffee = pd.score(preprocess_file(ROOT / "samples/coffee.jpg", 224, "squash"))
    assert astronaut > 0.5 > 0.3 > coffee, (astronaut, coffee)
    pd.close()
    pd.close()  # idempotent


def test_person_evidence_counts_for_people_only_on_its_own_scale():
    from device.grounding import GroundingSettings, combine

    s = GroundingSettings(penalty=1.0, min_evidence=0.02, min_coverage=0.01, min_person=0.3)
    ev = {"dog": 0.5}
    assert combine(ev, None, s, person=0.6)["person"] == pytest.approx(0.04)  # twice its threshold
    assert combine(ev, None, s, person=0.15)["person"] < s.min_evidence  # below it: a person is contradicted
    assert combine(ev, None, s) is ev


def _with_person_detector(tmp_path):
    from convert.build import add_person_detector

    b = tmp_path / "bundle"
    shutil.copytree(SHIPPED, b)
    entry = add_person_detector(b, need_weights("coral/movenet_single_pose_lightning_ptq.tflite"))
    m = load_bundle(b).manifest  # signed: every file verifies
    assert m["person_detector"] == entry and "person_detector.LICENSE.txt" in m["files"]
    return b


def test_a_bundle_with_a_person_detector_runs_it_and_a_caption_naming_an_absent_person_is_contradicted(tmp_path):
    from device.captioner import Captioner
    from device.grounding import GroundingSettings

    b = _with_person_detector(tmp_path)
    strict = GroundingSettings(penalty=0.0, min_evidence=0.1, min_person=0.99)  # nobody is ever sure enough
    with Captioner(b, grounding=strict) as cap:
        assert cap.person is not None
        px = preprocess_file(ROOT / "samples/astronaut.jpg", 224, "squash")
        c = cap.caption_encoded(cap.encode_raw(px), person=cap.person.score(px))
        assert c.text  # penalty 0: the search is not steered, the caption is what it was
    with Captioner(b, grounding=GroundingSettings(penalty=5.0, min_evidence=0.1, min_person=0.99)) as cap:
        c = cap.caption(px)
        assert "person" not in c.contradicted or c.reranked or c.text  # steered away, or said to be contradicted
        from device.objects import mentions

        assert "person" not in mentions(c.text) or "person" in c.contradicted, c.text
    with Captioner(b, segmenter=False) as cap:
        assert cap.person is None  # [behaviour] segmenter = false: no extra evidence runs


def test_tune_answers_writes_range_checked_settings_the_device_then_uses(tmp_path):
    from convert.answers_tune import tune_answers
    from device.config import BehaviourSettings, answer_settings

    samples = _dev_samples(24)
    b = tmp_path / "bundle"
    shutil.copytree(SHIPPED, b)
    r = tune_answers(b, samples)
    m = load_bundle(b).manifest  # still verifies: the tuned manifest is whole and in range
    assert m["answer"] == r["chosen"] and (b / "answers.md").is_file()
    s = answer_settings(BehaviourSettings(), m)
    assert s.frame.min_detail == r["chosen"]["frame"]["min_detail"]
    assert 0 <= r["after"]["refused"] <= 1 and r["photos"] == 24
    assert r["captions"]["cider"] > 0  # the captions themselves, scored on every photo


def test_the_answers_command_scores_what_is_said(tmp_path):
    need_flickr()
    d = SHARED / "data" / "flickr8k-224"
    if not (d / "captions.csv").is_file():
        pytest.skip(f"Flickr8k photos not present at {d}")
    out = tmp_path / "answers.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "evaluation",
            "answers",
            str(SHIPPED),
            "--data",
            str(d / "captions.csv"),
            "--split",
            str(d / "splits" / "dev.txt"),
            "--limit",
            "12",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(out.read_text())
    a = rep["answers"]
    assert a["photos"] == 12 and 0 <= a["answer_chair_s"] <= 1 and 0 <= a["concrete"] <= 1
    assert len(rep["records"]) == 12 and all(x["said"] for x in rep["records"])


def test_the_frame_check_is_chosen_on_degraded_photos_within_the_false_alarm_budget():
    from evaluation.frame_check import measures_of, score, tune

    samples = _dev_samples(60)
    meas = measures_of([s.image for s in samples])
    s, sc = tune(meas, budget=0.05)
    assert score(meas, s)["clean_refused"] <= 0.05
    assert all(sc[k]["right"] >= 0.9 for k in ("blur3", "dark", "glare", "covered")), sc
    assert np.isfinite(s.min_detail)
