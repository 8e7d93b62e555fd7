"""Property-based fuzzing (Hypothesis) of what a user or another machine hands the device: the bundle
manifest and the vocabulary file. Whatever the file says, loading it (and a Captioner on it) either
works or raises a SeesayError that names the bundle: never another exception, never a traceback."""

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.bundle import load_bundle
from device.errors import SeesayError

from .conftest import ROOT

SHIPPED = ROOT / "bundles" / "flickr8k"
EXAMPLES = 150  # per property: a few seconds each, the suite stays short

odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.sampled_from(["", "..", "../x", "/etc/passwd", "a\0b", "x" * 5000, "encoder.tflite", "int8", "squash"]),
    st.text(max_size=20),
    st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(d, prefix=()):
    """Every key path in a JSON tree (dicts and lists), deepest included."""
    if isinstance(d, dict):
        items = d.items()
    elif isinstance(d, list):
        items = enumerate(d)
    else:
        return
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz") / "b"
    shutil.copytree(SHIPPED, d)
    return d, json.loads((SHIPPED / "manifest.json").read_text())


def _load_and_open(b):
    from device.captioner import Captioner

    bundle = load_bundle(b, verify=False)
    Captioner(bundle).close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_or_missing_manifest_entry_is_a_clear_bundle_error(work, data):
    b, good = work
    m = json.loads(json.dumps(good))
    paths = sorted(_paths(m), key=repr)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths))
        node = m
        try:
            for k in where[:-1]:
                node = node[k]
            if data.draw(st.booleans()):
                node.pop(where[-1]) if isinstance(node, dict) else node.__setitem__(where[-1], None)
            else:
                node[where[-1]] = data.draw(odd)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier change removed or replaced this path
    (b / "manifest.json").write_text(json.dumps(m))
    try:
        _load_and_open(b)
    except SeesayError as e:
        assert str(b) in str(e) or b.name in str(e), e
    finally:
        (b / "manifest.json").write_text(json.dumps(good))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(
        st.binary(max_size=200).map(lambda x: x.decode("latin-1")),
        st.builds(json.dumps, st.one_of(odd, st.fixed_dictionaries({"words": st.lists(odd, max_size=6)}))),
    )
)
def test_any_vocabulary_file_is_a_clear_bundle_error(work, text):
    b, good = work
    keep = (b / "vocab.json").read_text()
    (b / "vocab.json").write_text(text)
    try:
        load_bundle(b, verify=False)
    except SeesayError as e:
        assert "vocab" in str(e)
    finally:
        (b / "vocab.json").write_text(keep)


@pytest.mark.parametrize("name", ["../outside.tflite", "/etc/hostname", "link.tflite"])
def test_a_manifest_naming_a_file_outside_the_bundle_is_refused(work, tmp_path, name):
    b, good = work
    (b.parent / "outside.tflite").write_bytes(b"x")
    link = b / "link.tflite"
    if not link.exists():
        link.symlink_to(b.parent / "outside.tflite")
    m = json.loads(json.dumps(good))
    m["files"][name] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(m))
    try:
        with pytest.raises(SeesayError, match="outside the bundle folder"):
            load_bundle(b, verify=False)
    finally:
        (b / "manifest.json").write_text(json.dumps(good))


@pytest.mark.parametrize(
    "change",
    [
        ("search", "beam", ""),
        ("search", "max_len", None),
        ("search", "length_penalty", ""),
        ("search", "grounding", None),
        ("model", "max_len", None),
        ("encoder", "inputs", None),
        ("preprocess", "geometry", ".."),
        ("segmenter", None, "x"),
    ],
    ids=lambda c: "-".join(map(str, c)),
)
def test_regressions_hypothesis_found(work, change):
    """Manifests Hypothesis found that once ended in int()/float()/** tracebacks, kept as plain cases."""
    b, good = work
    m = json.loads(json.dumps(good))
    section, key, value = change
    if key is None:
        m[section] = value
    else:
        m[section][key] = value
    (b / "manifest.json").write_text(json.dumps(m))
    try:
        with pytest.raises(SeesayError, match=str(b.name)):
            _load_and_open(b)
    finally:
        (b / "manifest.json").write_text(json.dumps(good))


def test_a_vocabulary_that_is_json_null_is_a_vocabulary_error(work):
    b, _ = work
    keep = (b / "vocab.json").read_text()
    (b / "vocab.json").write_text("null")
    try:
        with pytest.raises(SeesayError, match="not a valid vocabulary"):
            load_bundle(b, verify=False)
    finally:
        (b / "vocab.json").write_text(keep)
