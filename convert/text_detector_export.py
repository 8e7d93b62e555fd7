"""PP-OCRv4's text detector (the ONNX model inside the rapidocr-onnxruntime wheel) as a TFLite model
the device runs on the TFLite runtime it already has for the captioner, so reading needs neither
onnxruntime nor OpenCV there (together 43 MB of memory before the model, 418 MB installed):

    python -m convert text-detector bundles/text-detector

The ONNX graph is a plain convolutional net (14 op types); each node becomes the TensorFlow op that
computes the same thing in NHWC, weights transposed once. The RGB->BGR order the model was trained
on is folded into the first convolution's weights, its normalisation (x/255 - 0.5)/0.5 into the graph.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from device.ocr.text_detector import DETECTOR_FILE, INPUT_HW

ONNX_NAME = "ch_PP-OCRv4_det_infer.onnx"


def onnx_path() -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / ONNX_NAME


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _nhwc(c):
    """A constant that meets an NHWC activation: 4-D ones are NCHW in ONNX."""
    return np.transpose(c, (0, 2, 3, 1)) if np.ndim(c) == 4 else c


def onnx_to_tf(path: Path):
    """The ONNX detector -> a Python function of a uint8 RGB [1, H, W, 3] TF tensor giving the text
    probability map [1, H, W, 1]. Only the ops this model uses are known; another is an error."""
    import onnx
    import tensorflow as tf
    from onnx import numpy_helper

    model = onnx.load(str(path))
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = []
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        else:
            nodes.append(n)
    first_conv = next(n for n in nodes if n.op_type == "Conv").name
    (x_name,), (y_name,) = [i.name for i in model.graph.input], [o.name for o in model.graph.output]

    def val(env, name):
        return env[name] if name in env else tf.constant(_nhwc(consts[name]).astype(np.float32))

    def conv(n, x, a):
        w = consts[n.input[1]].astype(np.float32)
        if n.name == first_conv:
            w = w[:, ::-1]  # the model wants BGR: flip its input channels instead of every frame
        (pt, pl, pb, pr), (s, _), (d, _) = a["pads"], a["strides"], a.get("dilations", [1, 1])
        k = a["kernel_shape"][0]
        pad = "SAME" if s == 1 and pt == pb == pl == pr == d * (k - 1) // 2 else "VALID"
        if pad == "VALID" and (pt or pb or pl or pr):
            x = tf.pad(x, [[0, 0], [pt, pb], [pl, pr], [0, 0]])
        if a.get("group", 1) == 1:
            y = tf.nn.conv2d(x, np.transpose(w, (2, 3, 1, 0)), s, pad, dilations=d)
        elif a["group"] == w.shape[0] and w.shape[1] == 1:  # depthwise
            y = tf.nn.depthwise_conv2d(x, np.transpose(w, (2, 3, 0, 1)), [1, s, s, 1], pad, dilations=[d, d])
        else:
            raise ValueError(f"grouped convolution {n.name} (group {a['group']}) is not supported")
        return y + consts[n.input[2]].astype(np.float32) if len(n.input) > 2 and n.input[2] else y

    def conv_transpose(n, x, a):
        w = consts[n.input[1]].astype(np.float32)  # [in, out, kh, kw]
        if a.get("group", 1) != 1 or any(a.get("pads", [0])) or a["strides"] != a["kernel_shape"]:
            raise ValueError(f"transposed convolution {n.name} with {a} is not supported")
        s = a["strides"][0]
        b, h, wd, _ = x.shape
        y = tf.nn.conv2d_transpose(x, np.transpose(w, (2, 3, 1, 0)), [b, h * s, wd * s, w.shape[1]], s, "VALID")
        return y + consts[n.input[2]].astype(np.float32) if len(n.input) > 2 and n.input[2] else y

    def resize(n, x, a):
        scales = consts[n.input[2]] if len(n.input) > 2 and consts[n.input[2]].size else None
        if a.get("mode") != b"nearest" or a.get("coordinate_transformation_mode") != b"asymmetric" or scales is None:
            raise ValueError(f"resize {n.name} with {a} is not supported")
        h, w = int(x.shape[1] * scales[2]), int(x.shape[2] * scales[3])
        return tf.compat.v1.image.resize_nearest_neighbor(x, [h, w], align_corners=False, half_pixel_centers=False)

    def batch_norm(n, x, a):
        scale, bias, mean, var = (consts[i].astype(np.float64) for i in n.input[1:5])
        k = scale / np.sqrt(var + a.get("epsilon", 1e-5))
        return x * k.astype(np.float32) + (bias - mean * k).astype(np.float32)

    def run(env, n):
        a, ins = _attrs(n), n.input
        t = n.op_type
        if t == "Conv":
            return conv(n, env[ins[0]], a)
        if t == "ConvTranspose":
            return conv_transpose(n, env[ins[0]], a)
        if t == "BatchNormalization":
            return batch_norm(n, env[ins[0]], a)
        if t in ("Add", "Mul", "Div"):
            op = {"Add": tf.add, "Mul": tf.multiply, "Div": tf.divide}[t]
            return op(val(env, ins[0]), val(env, ins[1]))
        if t == "Clip":
            lo, hi = float(consts[ins[1]]), float(consts[ins[2]])
            if (lo, hi) == (0.0, 6.0):
                return tf.nn.relu6(env[ins[0]])  # fused into the convolution before it, int8 included
            return tf.clip_by_value(env[ins[0]], lo, hi)
        if t == "Relu":
            return tf.nn.relu(env[ins[0]])
        if t == "Sigmoid":
            return tf.sigmoid(env[ins[0]])
        if t == "HardSigmoid":
            # clip(a x + b, 0, 1) as relu6(6a x + 6b) / 6: the scale and shift fold into the convolution
            # before it and relu6 fuses with it, so its int8 output spans 0..6, not the unclipped range
            # (which cost 4-40 quanta of error in the squeeze-excite gates)
            return tf.nn.relu6(env[ins[0]] * (6 * a["alpha"]) + 6 * a["beta"]) * (1 / 6)
        if t == "GlobalAveragePool":
            return tf.reduce_mean(env[ins[0]], axis=[1, 2], keepdims=True)
        if t == "Resize":
            return resize(n, env[ins[0]], a)
        if t == "Concat":
            if a["axis"] != 1:
                raise ValueError(f"concat {n.name} on axis {a['axis']} is not supported")
            return tf.concat([env[i] for i in ins], axis=3)
        raise ValueError(f"ONNX op {t} ({n.name}) is not supported by this converter")

    def detect(rgb):
        x = tf.cast(rgb, tf.float32) * (1 / 127.5) - 1.0  # (x/255 - mean 0.5) / std 0.5
        env = {x_name: x}
        for n in nodes:
            env[n.output[0]] = run(env, n)
        return env[y_name]

    return detect


def onnx_reference(path: Path, rgb: np.ndarray) -> np.ndarray:
    """The ONNX model on onnxruntime, fed as rapidocr feeds it: uint8 RGB [H, W, 3] -> [H, W]."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = (rgb[..., ::-1].astype(np.float32) / 255 - 0.5) / 0.5
    return sess.run(None, {sess.get_inputs()[0].name: x.transpose(2, 0, 1)[None]})[0][0, 0]


def representative(frames: list[np.ndarray]):
    def gen():
        for f in frames:
            yield [f[None].astype(np.uint8)]

    return gen


def build(out: Path, calibration: list[np.ndarray], int8: bool = True) -> dict:
    """Writes OUT/DETECTOR_FILE and OUT/manifest.json; returns the manifest."""
    import tensorflow as tf

    src = onnx_path()
    detect = onnx_to_tf(src)
    fn = tf.function(detect).get_concrete_function(tf.TensorSpec([1, *INPUT_HW, 3], tf.uint8, name="rgb"))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn], tf.Module())
    if int8:  # int8 inside, uint8 pixels in, float probabilities out
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative(calibration)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    blob = conv.convert()
    out.mkdir(parents=True, exist_ok=True)
    (out / DETECTOR_FILE).write_bytes(blob)
    from importlib.metadata import version

    manifest = {
        "model": DETECTOR_FILE,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "input": {"height": INPUT_HW[0], "width": INPUT_HW[1], "dtype": "uint8", "channels": "RGB"},
        "quantization": "int8" if int8 else "float32",
        "calibration_frames": len(calibration) if int8 else 0,
        "source": f"{ONNX_NAME} from rapidocr-onnxruntime {version('rapidocr-onnxruntime')} "
        "(PaddleOCR PP-OCRv4, Apache-2.0)",
        "made_by": "python -m convert text-detector " + os.path.relpath(out),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def calibration_frames(backgrounds: Path, n: int = 96, seed: int = 1) -> list[np.ndarray]:
    """Frames like the ones read: text scenes (seed 1: not the test set's seed 0) and, one in four,
    the bare photo (a frame without text must calibrate the ranges too)."""
    import random

    from PIL import Image

    from evaluation.text_scenes import fonts, render

    rng = random.Random(seed)
    photos = sorted(p for p in Path(backgrounds).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise FileNotFoundError(f"no photos in {backgrounds} to calibrate the text detector with")
    font_files, frames = fonts(), []
    for i in range(n):
        with Image.open(rng.choice(photos)) as bg:
            if i % 4 == 3:
                img = bg.convert("RGB").resize((INPUT_HW[1], INPUT_HW[0]), Image.BILINEAR)
            else:
                img, _ = render(("sign", "label", "page")[i % 3], i % 2 == 1, bg, rng, font_files)
        frames.append(np.asarray(img.convert("RGB")))
    return frames
