"""Property-based fuzzing (Hypothesis) of the caption command's arguments, as a user types them:
misspelt options, wrong numbers, paths that are missing, folders, unwritable or not images. The
outcome is captions (exit 0) or one line "error: ..." and exit 2 — never a traceback, never a hang."""

import contextlib
import io
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.__main__ import main

EXAMPLES = 300


@pytest.fixture(scope="module")
def places(bundle, scenes, tmp_path_factory):
    """Every kind of path a user could give, made once: name -> path."""
    t = tmp_path_factory.mktemp("cli")
    photo = next((scenes.parent / "images").glob("*.jpg"))
    (t / "photo.jpg").write_bytes(photo.read_bytes())
    (t / "cut.jpg").write_bytes(photo.read_bytes()[:300])
    (t / "empty.jpg").write_bytes(b"")
    (t / "notes.txt").write_text("not a picture\n")
    (t / "folder").mkdir()
    (t / "readonly").mkdir()
    (t / "readonly").chmod(0o555)
    (t / "not_a_bundle").mkdir()
    half = t / "half_bundle"
    shutil.copytree(bundle, half)
    (half / "decoder.tflite").unlink()
    return {
        "photo": t / "photo.jpg",
        "cut": t / "cut.jpg",
        "empty": t / "empty.jpg",
        "text": t / "notes.txt",
        "folder": t / "folder",
        "missing": t / "nothing.jpg",
        "missing_dir": t / "no" / "such" / "x.png",
        "readonly": t / "readonly" / "x.png",
        "bundle": bundle,
        "not_a_bundle": t / "not_a_bundle",
        "half_bundle": half,
        "out": t / "out" / "a.png",
        "wav": t / "out" / "a.wav",
        "wav_dir": t / "wavs",
    }


image_names = st.sampled_from(["photo", "photo", "photo", "cut", "empty", "text", "folder", "missing"])
numbers = st.one_of(
    st.integers(-3, 12).map(str), st.sampled_from(["", "x", "1.5", "1e9", "99999999999999999999", "-0"])
)


@st.composite
def caption_argv(draw, places):
    none = draw(st.integers(0, 9)) == 0  # now and then no image at all
    argv = ["caption"] + [str(places[n]) for n in draw(st.lists(image_names, min_size=0 if none else 1, max_size=2))]
    options = {
        "--bundle": st.sampled_from(
            ["bundle", "bundle", "bundle", "not_a_bundle", "half_bundle", "missing", "photo"]
        ).map(lambda n: str(places[n])),
        "--beam": numbers,
        "--threads": numbers,
        "--backend": st.sampled_from(["cpu", "edgetpu", "tensorrt", "gpu", "", "CPU"]),
        "--attention": st.sampled_from(["out", "missing_dir", "readonly", "folder"]).map(lambda n: str(places[n])),
        "--wav": st.sampled_from(["wav", "missing_dir", "readonly", "folder"]).map(lambda n: str(places[n])),
        "--wav-dir": st.sampled_from(["wav_dir", "photo", "readonly"]).map(lambda n: str(places[n])),
        "--json": st.just(None),
        "--no-grounding": st.just(None),
        "--beem": st.just("3"),  # a typo
    }
    # few options at once, so that one wrong one is not hidden behind another
    for opt in draw(st.lists(st.sampled_from(sorted(options)), max_size=2, unique=True)):
        value = draw(options[opt])
        argv += [opt] if value is None else [opt, value]
    if draw(st.booleans()) and draw(st.booleans()):
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["-v", "--", "-", "--help=no", "caption"])))
    return argv


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's way out
            code = e.code
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_caption_command_line_gives_captions_or_one_error_line(places, data):
    argv = data.draw(caption_argv(places))
    code, out, err = run(argv)
    assert "Traceback" not in err
    errors = [l for l in err.splitlines() if l.startswith("error: ")]
    if code == 0:
        assert not errors and out.strip(), argv
        assert "-v" in argv or not err.strip(), (argv, err)  # a caption and nothing else
    else:
        assert code == 2, (argv, code, err)
        assert errors, (argv, err)
        if "-v" not in argv:  # without -v nothing but the error lines: no runtime or log noise
            assert len(err.strip().splitlines()) == len(errors), (argv, err)


@pytest.mark.parametrize(
    "argv,says",
    [
        (["caption"], "the following arguments are required: images"),
        (["caption", "{photo}", "--beem", "3"], "unrecognized arguments: --beem 3"),
        (["caption", "{photo}", "--beam", "0"], "--beam"),
        (["caption", "{photo}", "--threads", "0"], "--threads"),
        (["caption", "{photo}", "--backend", "gpu"], "--backend"),
        (["caption", "{photo}", "--attention", "{missing_dir}"], "x.png"),
        (["caption", "{photo}", "--wav-dir", "{photo}"], "photo.jpg"),
        (["caption", "{photo}", "--wav", "{folder}"], "is a folder"),
        (["caption", "{photo}", "--attention", "{folder}"], "is a folder"),
    ],
)
def test_regressions_hypothesis_found(places, argv, says):
    code, out, err = run([a.format(**places) for a in argv])
    assert code == 2 and len(err.strip().splitlines()) == 1 and says in err, err
