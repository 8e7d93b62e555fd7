"""TensorRT target: fixed-shape ONNX of the *float* encoder and decoder step (TensorRT wants
symmetric int8, so it calibrates from float itself), checked against Keras with onnxruntime here.
Engines are built on the Jetson: `python -m device build-engines BUNDLE`."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import ConvertError
from .export import decoder_function, encoder_function

log = logging.getLogger("seesay.tensorrt")


def _to_onnx(fn, path: Path, opset: int = 17) -> None:
    try:
        import tf2onnx
    except ImportError:
        raise ConvertError("--target tensorrt needs tf2onnx and onnxruntime: pip install -r requirements-host.txt") from None
    tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset, output_path=str(path))


def export_onnx(bundle: Path, encoder, decoder, mcfg, beam: int) -> dict:
    import onnxruntime as ort
    import tensorflow as tf
    enc_cf = encoder_function(encoder, mcfg, batch=1)
    dec_cf = decoder_function(decoder, mcfg, batch=beam)  # beams ride the batch: fixed at the search width
    _to_onnx(enc_cf, bundle / "encoder.onnx")
    _to_onnx(dec_cf, bundle / "decoder.onnx")
    # check against Keras on random but realistic inputs
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, mcfg.image_size, mcfg.image_size, 3)).astype(np.float32)
    k_enc = {k: np.asarray(v) for k, v in encoder(img, training=False).items()}
    s = ort.InferenceSession(str(bundle / "encoder.onnx"), providers=["CPUExecutionProvider"])
    o_enc = dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: img})))
    enc_err = max(float(np.abs(o_enc[n] - k_enc[n]).max()) for n in k_enc if n in o_enc)
    feeds = {"token": np.full(beam, 4, np.int32), "features": np.repeat(k_enc["features"], beam, 0),
             "keys": np.repeat(k_enc["keys"], beam, 0), **{n: np.repeat(k_enc[n], beam, 0) for n in mcfg.state_names}}
    k_dec = decoder([feeds["token"], *[feeds[n] for n in mcfg.state_names], feeds["features"], feeds["keys"]], training=False)
    s = ort.InferenceSession(str(bundle / "decoder.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in s.get_inputs()]
    o_dec = dict(zip([o.name for o in s.get_outputs()], s.run(None, {n: feeds[n.split(":")[0]] for n in names})))
    dec_err = float(np.abs(o_dec["logits"] - np.asarray(k_dec["logits"])).max())
    if max(enc_err, dec_err) > 1e-2:
        raise ConvertError(f"ONNX export disagrees with Keras (max abs error encoder {enc_err:.3g}, decoder {dec_err:.3g})")
    log.info("ONNX matches Keras: max abs error encoder %.2e, decoder logits %.2e", enc_err, dec_err)
    return {"encoder_onnx": "encoder.onnx", "decoder_onnx": "decoder.onnx", "decoder_batch": beam,
            "onnx_max_abs_error": {"encoder": enc_err, "decoder_logits": dec_err},
            "encoder_engine": "encoder.engine", "decoder_engine": "decoder.engine",
            "build": "on the Jetson: python -m device build-engines BUNDLE [--int8 --calib-images DIR]",
            "files": ["encoder.onnx", "decoder.onnx"]}
