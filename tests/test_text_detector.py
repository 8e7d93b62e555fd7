"""The text detector the device runs: PP-OCRv4's ONNX model converted to TFLite (convert/text_detector.py)
and its numpy post-processing (device/ocr/text_detector.py), against onnxruntime and OpenCV-free
references: connected components against a flood fill, rectangles against drawn ones."""

import collections
import importlib.util
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from device.errors import OCRUnavailableError
from device.ocr.text_detector import CHECKOUT_DIR, INPUT_HW, TextDetector, boxes_from_map, components, fit
from evaluation.text_scenes import make_text_scenes

from .conftest import ROOT

HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "rapidocr_onnxruntime", "tensorflow"))
need_onnx = pytest.mark.skipif(
    not HAVE_ONNX,
    reason="onnx, onnxruntime, rapidocr-onnxruntime or tensorflow not " "installed (requirements-host.txt)",
)


def flood_fill_count(mask: np.ndarray) -> list[int]:
    """8-connected component sizes the slow, obvious way."""
    seen, sizes = np.zeros_like(mask), []
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        todo, n = collections.deque([(y, x)]), 0
        seen[y, x] = True
        while todo:
            cy, cx = todo.popleft()
            n += 1
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        todo.append((ny, nx))
        sizes.append(n)
    return sorted(sizes)


@pytest.mark.parametrize("seed", range(6))
def test_components_are_the_8_connected_regions_of_a_flood_fill(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 57)) < (0.2 + 0.08 * seed)  # sparse to nearly all one region
    labels, n = components(mask)
    assert n == len(flood_fill_count(mask))
    assert sorted(np.bincount(labels[mask])[1:].tolist()) == flood_fill_count(mask)
    assert not labels[~mask].any()
    for i in range(1, n + 1):  # a label is one region: the flood fill of its pixels finds one
        assert len(flood_fill_count(labels == i)) == 1


@pytest.mark.parametrize("angle", [0, 7, -12, 90])
def test_a_drawn_line_region_comes_back_as_its_rectangle_grown_by_the_unclip_distance(angle):
    w, h, c = 120.0, 16.0, np.array([150.0, 100.0])
    t = np.deg2rad(angle)
    u, v = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
    corners = [
        c - u * w / 2 - v * h / 2,
        c + u * w / 2 - v * h / 2,
        c + u * w / 2 + v * h / 2,
        c - u * w / 2 + v * h / 2,
    ]
    img = Image.new("F", (300, 200), 0.0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in corners], fill=0.9)
    quads, scores = boxes_from_map(np.asarray(img))
    assert len(quads) == 1 and 0.8 < scores[0] <= 0.9  # the 2x2 dilation's ring of zeros counts too
    q = quads[0]
    side = lambda a, b: np.linalg.norm(q[a] - q[b])  # noqa: E731
    w, h = w + 2, h + 2  # the dilation's pixel, and pixels as unit squares
    grow = w * h * 1.6 / (2 * (w + h))
    long, short = max(side(0, 1), side(0, 3)), min(side(0, 1), side(0, 3))
    assert long == pytest.approx(w + 2 * grow, abs=4) and short == pytest.approx(h + 2 * grow, abs=4)  # tilted pixels
    assert q.mean(axis=0) == pytest.approx(c, abs=1.0)
    assert q[0][1] <= q[3][1] and q[0][0] <= q[1][0]  # clockwise from top left (a 90-degree line: from its top)


def test_an_empty_or_faint_map_has_no_boxes():
    assert len(boxes_from_map(np.zeros((48, 64), np.float32))[0]) == 0
    faint = np.zeros((48, 64), np.float32)
    faint[10:20, 5:60] = 0.4  # above the pixel threshold, below the region's
    assert len(boxes_from_map(faint)[0]) == 0


def test_a_frame_is_fitted_in_proportion_at_top_left():
    canvas, s = fit(np.full((960, 1280, 3), 200, np.uint8))
    assert canvas.shape == (*INPUT_HW, 3) and s == 0.5 and canvas.min() == 200
    canvas, s = fit(np.full((300, 200, 3), 200, np.uint8))
    assert s == pytest.approx(1.6) and canvas[:, :320].min() == 200 and canvas[:, 321:].max() == 0


def test_the_shipped_detector_is_whole_and_a_missing_or_damaged_one_is_a_clear_error(tmp_path):
    m = json.loads((CHECKOUT_DIR / "manifest.json").read_text())
    assert m["quantization"] == "int8" and (m["input"]["height"], m["input"]["width"]) == INPUT_HW
    with pytest.raises(OCRUnavailableError, match="convert text-detector"):
        TextDetector(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    (tmp_path / m["model"]).write_bytes((CHECKOUT_DIR / m["model"]).read_bytes()[:-1])
    with pytest.raises(OCRUnavailableError, match="damaged"):
        TextDetector(tmp_path)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("detector-scenes")
    truth = make_text_scenes(out, ROOT / "samples", n=6, seed=5)
    return [np.asarray(Image.open(out / k).convert("RGB")) for k in truth]


@need_onnx
def test_the_conversion_computes_what_the_onnx_model_does(scenes):
    import tensorflow as tf

    from convert.text_detector_export import onnx_path, onnx_reference, onnx_to_tf

    detect = tf.function(onnx_to_tf(onnx_path()))
    for rgb in scenes[:2]:
        ref = onnx_reference(onnx_path(), rgb)
        ours = detect(tf.constant(rgb[None]))[0, ..., 0].numpy()
        assert np.abs(ours - ref).max() < 1e-3


@need_onnx
def test_the_shipped_int8_detector_finds_the_lines_the_onnx_model_finds(scenes):
    from convert.text_detector_export import onnx_path, onnx_reference

    det = TextDetector()
    found = ref_found = 0
    for rgb in scenes:
        prob, _ = det.probabilities(rgb)
        ref = onnx_reference(onnx_path(), rgb)
        assert np.abs(prob - ref).mean() < 0.01
        found, ref_found = found + len(boxes_from_map(prob)[0]), ref_found + len(boxes_from_map(ref)[0])
    assert ref_found > 0 and abs(found - ref_found) <= max(2, 0.25 * ref_found), (found, ref_found)
    det.close()
    det.close()  # idempotent
