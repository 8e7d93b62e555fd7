"""A tf.function over Keras 3 models -> SavedModel -> TFLite. Used by the feature extractor here and
by convert/ for the bundle, so both freeze the Keras variables the same way."""

from __future__ import annotations

import tempfile

import tensorflow as tf

from device.quiet import quiet_native_stderr


def saved_model(fn, trackable, path: str) -> str:
    """Write fn (a tf.function with an input signature over a Keras model) as a SavedModel whose
    serving_default signature keeps fn's input and output names. Keras' ExportArchive tracks the
    Keras 3 variables so the converter freezes them into constants."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(trackable)
    archive.add_endpoint("serving_default", fn)
    archive.write_out(path, verbose=False)
    return path


def converter_for(fn, trackable, workdir: str) -> tf.lite.TFLiteConverter:
    return tf.lite.TFLiteConverter.from_saved_model(
        saved_model(fn, trackable, workdir + "/sm"), signature_keys=["serving_default"]
    )


def float32_tflite(fn, trackable) -> bytes:
    with tempfile.TemporaryDirectory(prefix="seesay-sm-") as d, quiet_native_stderr():
        return converter_for(fn, trackable, d).convert()
