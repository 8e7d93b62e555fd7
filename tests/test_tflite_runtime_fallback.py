"""The fallback the design names: with only tflite-runtime installed (its last release, 2.14, which
needs numpy < 2, so in a folder of its own), the device imports it and captions with the shipped
bundle; a bundle it refuses is one line that names ai-edge-litert."""

import subprocess
import sys

import pytest

from .conftest import ROOT

SHIPPED = ROOT / "bundles" / "flickr8k"
PROBE = """
import sys
sys.modules["ai_edge_litert"] = None  # as if only tflite-runtime were installed
import numpy
from device.backends.litert import interpreter_module
print("runtime", interpreter_module().__name__, "numpy", numpy.__version__, file=sys.stderr)
from device.__main__ import main
sys.exit(main(["caption", "--json", *sys.argv[1:]]))
"""


@pytest.fixture(scope="module")
def tflite_runtime(tmp_path_factory):
    if sys.version_info >= (3, 12):
        pytest.skip("tflite-runtime 2.14, its last release, has wheels up to Python 3.11 only")
    target = tmp_path_factory.mktemp("tflite_runtime")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-warn-conflicts",
            "--target",
            str(target),
            "tflite-runtime==2.14.0",
            "numpy<2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        pytest.skip(f"tflite-runtime 2.14 could not be installed here: {r.stderr.strip().splitlines()[-1:]}")
    return target


def caption_with(target, *args):
    import os

    env = dict(os.environ, PYTHONPATH=str(target))
    return subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(not (SHIPPED / "manifest.json").is_file(), reason="no shipped bundle in this checkout")
def test_with_only_tflite_runtime_the_shipped_bundle_captions(tflite_runtime, scenes):
    import json

    photos = sorted((scenes.parent / "images").glob("*.jpg"))[:3]
    old = caption_with(tflite_runtime, "--bundle", SHIPPED, *photos)
    assert old.returncode == 0, old.stderr[-2000:]
    assert "runtime tflite_runtime.interpreter numpy 1." in old.stderr
    new = subprocess.run(
        [sys.executable, "-m", "device", "caption", "--json", "--bundle", str(SHIPPED), *map(str, photos)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    got = lambda out: [json.loads(l) for l in out.splitlines()]
    assert len(got(old.stdout)) == 3 and all(c["caption"] for c in got(old.stdout))
    # the two runtimes' int8 kernels round differently, so captions may differ: reported, not judged here
    agree = sum(a["tokens"] == b["tokens"] for a, b in zip(got(old.stdout), got(new.stdout)))
    print(f"tflite-runtime 2.14 vs ai-edge-litert: {agree}/3 captions identical (token ids)")


def test_a_bundle_tflite_runtime_refuses_is_one_line_naming_ai_edge_litert(tflite_runtime, bundle, scenes):
    photo = sorted((scenes.parent / "images").glob("*.jpg"))[0]
    r = caption_with(tflite_runtime, "--bundle", bundle, photo)
    if r.returncode == 0:
        pytest.skip("this tiny bundle loads under tflite-runtime here: nothing refused to report")
    errors = [l for l in r.stderr.splitlines() if l.startswith("error: ")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(errors) == 1, r.stderr[-2000:]
    assert "pip install ai-edge-litert" in errors[0]
