"""CHAIR, the class-head grounding and what the device says: pure functions on made-up beams and
probabilities, and the shipped bundle on real photos."""

import json

import numpy as np
import pytest

from device.answer import NOT_SURE, AnswerSettings, compose
from device.captioner import Caption
from device.grounding import GroundingSettings, ObjectTable, contradicted, rerank, word_bias
from device.objects import mentions
from evaluation.chair import chair, hallucinated
from device.search import SearchResult
from device.vocab import SPECIALS, Vocabulary

from .conftest import ROOT

SHIPPED = ROOT / "bundles" / "flickr8k"


def test_mentions_match_groups_synonyms_plurals_and_two_word_names_first():
    assert mentions("Two men and a puppy watch a hot dog stand near the teddy bears") == [
        "person",
        "dog",
        "hot dog",
        "teddy bear",
    ]
    assert mentions("a brown dog is playing with a tennis ball") == ["dog", "sports ball"]
    assert mentions("the orange sky over a green field") == []  # colours and scenery are no objects


def test_chair_counts_captions_and_mentions_against_the_references():
    refs = {"a": ["a dog runs on the grass", "a brown dog"], "b": ["a laptop on a desk"], "c": ["grass and sky"]}
    hyps = {"a": "a man and a dog run", "b": "a dog sits at a table", "c": "a green field"}
    c = chair(hyps, refs)
    assert hallucinated(hyps["a"], refs["a"]) == ["person"]
    assert (c.captions_with_objects, c.captions_hallucinating) == (2, 2)
    assert c.chair_s == 1.0 and c.chair_i == pytest.approx(2 / 4)  # man, dog | dog, table: man and dog are absent
    assert c.by_group == {"person": 1, "dog": 1}


def _vocab():
    return Vocabulary(list(SPECIALS) + "a dog man runs on the grass cat sits".split())


def _table():
    # three classes: 0 a dog breed, 1 a cat, 2 a plate (a noun, no group)
    return ObjectTable(["beagle", "tabby", "plate"], ["a dog", "a cat", "a plate"], {"dog": [0], "cat": [1]})


def _beam(vocab, text, score):
    return SearchResult(
        [vocab.index[w] for w in text.split()], [score] * len(text.split()), np.zeros((0, 49)), score, True
    )


def test_a_contradicted_object_costs_its_words_and_its_beam_loses():
    v, t = _vocab(), _table()
    ev = t.evidence(np.array([0.001, 0.9, 0.099], np.float32))  # no dog here, a cat
    s = GroundingSettings(penalty=1.0, min_evidence=0.01)
    bias = word_bias(v, ev, s)
    assert bias[v.index["dog"]] == -1.0 and bias[v.index["cat"]] == 0 and bias[v.index["man"]] == 0
    beams = [_beam(v, "a dog runs on the grass", -0.5), _beam(v, "a cat sits on the grass", -0.9)]
    best, bad = rerank(beams, v, ev, s)
    assert best is beams[1] and bad == []
    assert contradicted(beams[0].tokens, v, ev, s.min_evidence) == ["dog"]
    # penalty 0 is off: no bias, the search's order stands
    assert word_bias(v, ev, GroundingSettings(0.0)) is None
    assert rerank(beams, v, ev, GroundingSettings(0.0))[0] is beams[0]
    # people have no evidence classes: never penalised by the class head
    man = [_beam(v, "a man runs", -0.5)]
    assert rerank(man, v, ev, s) == (man[0], [])


def test_sure_nouns_take_a_nouns_single_best_class_not_the_sum_of_its_classes():
    t = ObjectTable(["beagle", "collie", "plate", "tray"], ["a dog", "a dog", "a plate", ""], {"dog": [0, 1]})
    # 0.2 + 0.2 for "a dog" would pass 0.3; its best single class (0.2) does not
    assert t.sure_nouns(np.array([0.2, 0.2, 0.35, 0.25]), 0.3, 3) == [("a plate", pytest.approx(0.35))]
    assert t.sure_nouns(np.array([0.5, 0.1, 0.35, 0.05]), 0.3, 1) == [("a dog", pytest.approx(0.5))]
    assert t.sure_nouns(np.array([0.5, 0.1, 0.35, 0.05]), 0.3, 0) == []


def _caption(text, lp, classes=None, reranked=False, contradicted=()):
    return Caption(text, [], [lp], np.zeros((0, 49)), True, [], classes, list(contradicted), reranked)


def test_the_answer_says_only_what_it_can_stand_behind():
    t = _table()  # classes: a beagle ("a dog"), a tabby ("a cat"), a plate ("a plate")
    s = AnswerSettings(caption_min_logprob=-2.0, object_min_p=0.3, max_objects=3, trust_objects=0.9)
    sure, unsure = -1.0, -3.0
    probs = np.array([0.0, 0.1, 0.8], np.float32)

    def said(text, lp, p, **kw):
        d = compose(_caption(text, lp, p, **kw), t, s)
        return d.text, d.kind

    assert said("a cat sits on a plate", sure, probs) == ("A cat sits on a plate.", "caption")  # both agree
    # a caption unsure of itself is not said: only what the classifier is sure of
    assert said("a dog sits on a table", unsure, probs) == ("I see a plate.", "objects")
    # sure of itself, and the classifier sure of a plate it does not name: both
    assert said("a man sits on a bench", sure, probs) == ("I see a plate. A man sits on a bench.", "caption+objects")
    # a caption naming what the evidence contradicts is never said
    assert said("a dog sits on a plate", sure, probs, contradicted=["dog"]) == ("I see a plate.", "objects")
    # nothing sure at all: says so
    assert said("a dog sits", unsure, np.array([0.2, 0.1, 0.1], np.float32)) == (
        "I am not sure what this is.",
        "not_sure",
    )
    assert compose(_caption("a dog sits", unsure, None), None, s).text == "I am not sure what this is."  # no class head
    assert compose(_caption("a dog sits", sure, None), None, s).text == "A dog sits."
    assert compose(_caption("", sure, None), None, s).kind == "not_sure"
    # very sure of a cat the caption does not name: the cat alone, not "a boy in a red shirt"
    cat = np.array([0.0, 0.95, 0.05], np.float32)
    assert said("a boy in a red shirt is playing", sure, cat) == ("I see a cat.", "objects")
    assert said("a cat is playing", sure, cat) == ("A cat is playing.", "caption")
    assert compose(_caption("a cat is playing", unsure, cat), t, AnswerSettings(max_objects=0)).kind == "not_sure"


def test_answer_settings_come_from_the_manifest_with_config_overrides_and_are_range_checked():
    from device.config import BehaviourSettings, answer_settings
    from device.errors import ConfigError

    manifest = {"answer": {"caption_min_logprob": -1.2, "object_min_p": 0.7, "frame": {"min_detail": 0.5}}}
    a = answer_settings(BehaviourSettings(), manifest)
    assert (a.caption_min_logprob, a.object_min_p, a.frame.min_detail) == (-1.2, 0.7, 0.5)
    b = answer_settings(BehaviourSettings(object_min_p=0.9, min_detail=0.1), manifest)
    assert (b.caption_min_logprob, b.object_min_p, b.frame.min_detail) == (-1.2, 0.9, 0.1)
    assert answer_settings(BehaviourSettings(), None) == AnswerSettings()
    for bad in ({"object_min_p": 7.0}, {"max_glare": float("nan")}, {"max_objects": -3}, {"caption_min_logprob": 1.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            answer_settings(BehaviourSettings(**bad), manifest)
    with pytest.raises(ConfigError, match="tune-answers"):
        answer_settings(BehaviourSettings(), {"answer": {"object_min_p": "high"}})


def test_text_part_says_at_most_twelve_words():
    from device.answer import text_part

    assert text_part("Kirkland Signature pork chops.") == "It says: Kirkland Signature pork chops."
    long = " ".join(f"w{i}" for i in range(20))
    assert text_part(long) == "It says: " + " ".join(f"w{i}" for i in range(12)) + "..."


def test_the_shipped_bundle_verifies_carries_its_class_head_and_describes_the_sample_photos():
    from device.captioner import Captioner
    from device.preprocess import preprocess_file

    assert (SHIPPED / "manifest.json").is_file(), "bundles/flickr8k is the project's shipped model"
    with Captioner(SHIPPED) as cap:
        m = cap.bundle.manifest
        assert cap.bundle.geometry == "squash" and m["quantization"] == "int8"
        assert cap.objects is not None and cap.grounding.penalty > 0  # tuned by the converter
        assert sum((SHIPPED / f).stat().st_size for f in m["files"]) <= 10e6  # with its grounding models
        photos = sorted((ROOT / "samples").glob("*.jpg"))
        assert len(photos) >= 4
        said = {}
        for p in photos:
            c = cap.caption(preprocess_file(p, cap.bundle.image_size, cap.bundle.geometry))
            assert (
                c.text and c.classes is not None and 0.5 < float(c.classes.sum()) < 1.05
            )  # int8 rounds the small ones to 0
            said[p.stem] = compose(c, cap.objects, AnswerSettings.from_json(m.get("answer", {}))).text
        # the captioner alone calls the cat "a boy in a red shirt" and the coffee "a little girl ...": the device
        # says what the class head is sure of, or that it is not sure, never the person nobody can see
        assert "boy" not in said["cat"] and ("cat" in said["cat"] or said["cat"] == NOT_SURE), said
        assert "girl" not in said["coffee"] and ("espresso" in said["coffee"] or said["coffee"] == NOT_SURE), said
    report = json.loads((SHIPPED / "report.json").read_text())
    assert report["images"] == 1000 and report["passed"]


def test_segmenter_coverage_counts_for_a_group_only_the_classifier_cannot_see():
    from device.grounding import combine

    s = GroundingSettings(penalty=1.0, min_evidence=0.02, min_coverage=0.01)
    ev = {"dog": 0.5, "cat": 0.001}
    both = combine(ev, {"person": 0.02, "dog": 0.0, "cat": 0.004}, s)
    assert both["person"] == pytest.approx(0.04)  # 2% of the frame: twice min coverage -> twice min evidence
    assert both["dog"] == 0.5  # the classifier is sure: the segmenter's miss does not contradict it
    assert both["cat"] == pytest.approx(0.008) and both["cat"] < s.min_evidence  # both say no
    assert combine(ev, None, s) is ev


def test_the_segmenter_finds_the_astronaut_and_no_one_in_the_coffee():
    from device.preprocess import preprocess_file
    from device.segmenter import Segmenter
    from .conftest import need_weights

    seg = Segmenter(need_weights("coral/deeplabv3_mnv2_dm05_pascal_quant.tflite"))
    astronaut = seg.coverage(preprocess_file(ROOT / "samples/astronaut.jpg", 224, "squash"))
    coffee = seg.coverage(preprocess_file(ROOT / "samples/coffee.jpg", 224, "squash"))
    assert astronaut["person"] > 0.1 and coffee["person"] < 0.005
