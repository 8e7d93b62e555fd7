"""Keras encoder / decoder step -> TFLite (int8 full-integer, float16 or float32), named signatures."""

from __future__ import annotations

import logging
import re
from typing import Callable, Iterator

import numpy as np
import tensorflow as tf

from training.config import ModelConfig
from training.float_step import encode_one
from training.model import decoder_step
from device.quiet import quiet_native_stderr
from training.tflite_export import converter_for

from .calibration import CalibrationSet
from .conversion_errors import ConvertError
from .split_step import split_step

log = logging.getLogger("seesay.export")
QUANTIZE_MODES = ("int8", "float16", "float32")


def encoder_function(encoder, cfg: ModelConfig, batch: int | None = 1):
    """image float[batch,S,S,3] in 0..255 -> features, keys, h(, c) (+ classes with a class head).
    Fixed batch 1 by default (the Edge TPU and TensorRT want static shapes; the device captions one
    frame at a time)."""
    names = ["features", "keys", *cfg.state_names]
    spec = tf.TensorSpec([batch, cfg.image_size, cfg.image_size, 3], tf.float32, name="image")
    if not cfg.classes:

        @tf.function(input_signature=[spec])
        def encode(image):
            out = encoder(image, training=False)
            return {n: out[n] for n in names}

        return encode
    # The class head keeps only the classes the device can say or use as evidence (kept_classes):
    # the softmax runs over those, and the head's int8 weights shrink by the dropped columns.
    from .imagenet_nouns import kept_classes

    backbone, head, dense = encoder.get_layer("backbone"), encoder.get_layer("head"), encoder.get_layer("imagenet")
    kept = kept_classes()
    kernel = tf.constant(np.asarray(dense.kernel)[:, kept])
    bias = tf.constant(np.asarray(dense.bias)[kept])

    @tf.function(input_signature=[spec])
    def encode_with_classes(image):
        grid = backbone(image, training=False)
        out = {n: v for n, v in head(grid, training=False).items() if n in names}
        out["classes"] = tf.nn.softmax(tf.matmul(tf.reduce_mean(grid, axis=[1, 2]), kernel) + bias)
        return out

    return encode_with_classes


def decoder_function(decoder, cfg: ModelConfig, batch: int | None = None):
    """One decoder step with a dynamic batch (beams); state outputs are named <state>_next."""
    p = cfg.grid * cfg.grid
    specs = [tf.TensorSpec([batch], tf.int32, name="token")]
    specs += [tf.TensorSpec([batch, cfg.hidden_dim], tf.float32, name=n) for n in cfg.state_names]
    specs += [
        tf.TensorSpec([batch, p, cfg.feature_dim], tf.float32, name="features"),
        tf.TensorSpec([batch, p, cfg.attention_dim], tf.float32, name="keys"),
    ]
    names = cfg.state_names
    step = split_step(decoder, cfg)  # the Keras step's float sum, without the concatenation int8 squeezes

    def _step(token, *rest):
        out = step(token, *rest)
        res = {"logits": out["logits"], "alpha": out["alpha"]}
        for n in names:
            res[n + "_next"] = out[n]
        return res

    return tf.function(_step, input_signature=specs)


def encoder_calibration(cal: CalibrationSet) -> Callable[[], Iterator[dict]]:
    def gen():
        for px in cal.pixels:
            yield {"image": px[None].astype(np.float32)}

    return gen


def record_decoder_inputs(
    encoder, decoder, cfg: ModelConfig, vocab, cal: CalibrationSet, max_samples: int = 3000, seed: int = 0
) -> list[dict]:
    """Inputs seen by the float decoder while it runs teacher-forced over the calibration captions
    (its own greedy caption where an image has none): realistic states for the int8 ranges."""
    rng = np.random.default_rng(seed)
    records: list[dict] = []
    names = cfg.state_names
    for i, px in enumerate(cal.pixels):
        enc = encode_one(encoder, px)
        caps = cal.captions[i]
        ids = vocab.encode(caps[rng.integers(len(caps))], cfg.max_len) if caps else None
        state = {n: enc[n] for n in names}
        token = vocab.start_id
        for t in range(cfg.max_len + 1):
            inp = {"token": np.array([token], np.int32), **state, "features": enc["features"], "keys": enc["keys"]}
            records.append(inp)
            out = decoder_step(decoder, cfg, inp["token"], state, enc)
            state = {n: np.asarray(out[n]) for n in names}
            if ids is not None:
                if t + 1 >= len(ids) - 1:
                    break
                token = ids[t + 1]
            else:
                token = int(np.argmax(np.asarray(out["logits"])[0]))
                if token == vocab.end_id:
                    break
    if len(records) > max_samples:
        keep = rng.choice(len(records), max_samples, replace=False)
        records = [records[k] for k in sorted(keep)]
    return records


def to_tflite(fn, trackable, quantize: str, representative: Callable | None = None, input_type=tf.int8) -> bytes:
    """Convert one tf.function. int8 is strict: every op must have an int8 kernel."""
    import tempfile

    if quantize not in QUANTIZE_MODES:
        raise ConvertError(f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, not {quantize!r}")
    with tempfile.TemporaryDirectory(prefix="seesay-sm-") as d:
        return _convert(converter_for(fn, trackable, d), quantize, representative, input_type)


def _convert(conv, quantize, representative, input_type) -> bytes:
    if quantize == "int8":
        if representative is None:
            raise ConvertError("int8 needs calibration data")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = input_type
        conv.inference_output_type = tf.int8
    elif quantize == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    try:
        with quiet_native_stderr():  # the MLIR converter's own lines; its errors still raise
            return conv.convert()
    except Exception as e:  # the converter raises ConverterError / RuntimeError with MLIR text
        ops = sorted(set(re.findall(r"'tfl\.([a-z_0-9]+)'", str(e)))) or sorted(
            set(re.findall(r"tf\.([A-Za-z0-9]+)", str(e)))
        )
        hint = f" (op{'s' if len(ops) > 1 else ''}: {', '.join(ops)})" if ops else ""
        raise ConvertError(f"TFLite {quantize} conversion failed{hint}: {str(e).strip().splitlines()[0][:300]}") from e
