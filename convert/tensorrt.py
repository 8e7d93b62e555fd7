"""TensorRT target: fixed-shape ONNX of the *float* encoder (TensorRT wants symmetric int8, so it
calibrates from float itself), checked against Keras with onnxruntime here. The engine is built on the
Jetson: `python -m device build-engines BUNDLE`. The decoder step stays int8 TFLite on the CPU (the
design card's split): ~0.1 ms a step, less than a GPU launch and copy per step would cost."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .conversion_errors import ConvertError
from .export import encoder_function

log = logging.getLogger("seesay.tensorrt")


def _to_onnx(fn, path: Path, opset: int = 17) -> None:
    try:
        import tf2onnx
    except ImportError:
        raise ConvertError(
            "--target tensorrt needs tf2onnx and onnxruntime: pip install -r requirements-host.txt"
        ) from None
    tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=opset, output_path=str(path))


def export_onnx(bundle: Path, encoder, mcfg) -> dict:
    """encoder.onnx (batch 1) in the bundle, checked against Keras; -> the manifest's tensorrt variant."""
    import onnxruntime as ort

    _to_onnx(encoder_function(encoder, mcfg, batch=1), bundle / "encoder.onnx")
    rng = np.random.default_rng(0)  # checked against Keras on random but realistic pixels
    img = rng.integers(0, 256, (1, mcfg.image_size, mcfg.image_size, 3)).astype(np.float32)
    k_enc = {k: np.asarray(v) for k, v in encoder(img, training=False).items()}
    s = ort.InferenceSession(str(bundle / "encoder.onnx"), providers=["CPUExecutionProvider"])
    o_enc = dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: img})))
    enc_err = max(float(np.abs(o_enc[n] - k_enc[n]).max()) for n in k_enc if n in o_enc)
    if enc_err > 1e-2:
        raise ConvertError(f"ONNX export disagrees with Keras (max abs error of the encoder {enc_err:.3g})")
    log.info("ONNX matches Keras: max abs error of the encoder %.2e", enc_err)
    return {
        "encoder_onnx": "encoder.onnx",
        "onnx_max_abs_error": {"encoder": enc_err},
        "encoder_engine": "encoder.engine",
        "build": "on the Jetson: python -m device build-engines BUNDLE [--int8 --calib-images DIR]",
        "files": ["encoder.onnx"],
    }
