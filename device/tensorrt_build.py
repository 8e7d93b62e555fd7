"""Build the encoder's TensorRT engine on the Jetson from the bundle's fixed-shape ONNX (fp16 by
default; int8 with TensorRT's own calibration from images, written to a calibration cache). The
decoder step runs int8 TFLite on the CPU."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import BackendUnavailableError, BundleError


def build_engines(
    bundle: str, int8: bool = False, calib_images: str | None = None, trtexec: str = "/usr/src/tensorrt/bin/trtexec"
) -> int:
    """Runs trtexec on the bundle's encoder.onnx -> encoder.engine (the TensorRT backend loads it); -> 0."""
    b = Path(bundle)
    man = json.loads((b / "manifest.json").read_text())
    v = man.get("variants", {}).get("tensorrt")
    if not v:
        raise BundleError(
            f"{b}: no ONNX model; convert with `python -m convert build CHECKPOINT --out BUNDLE --target tensorrt`"
        )
    exe = trtexec if Path(trtexec).is_file() else shutil.which("trtexec")
    if not exe:
        raise BackendUnavailableError(
            "trtexec not found: on JetPack it is /usr/src/tensorrt/bin/trtexec (package tensorrt)"
        )
    for part in ("encoder",):
        cmd = [exe, f"--onnx={b / v[part + '_onnx']}", f"--saveEngine={b / v[part + '_engine']}"]
        if int8:
            cache = b / f"{part}.calib"
            if not cache.exists():
                if not calib_images:
                    raise BundleError("--int8 needs --calib-images DIR to build the encoder's calibration cache")
                write_calibration_cache(
                    b / v["encoder_onnx"],
                    calib_images,
                    cache,
                    man["preprocess"]["size"],
                    man["preprocess"].get("geometry", "center-crop"),
                )
            cmd += ["--int8", "--fp16"] + ([f"--calib={cache}"] if cache.exists() else [])
        else:
            cmd += ["--fp16"]
        print("+", " ".join(map(str, cmd)))
        subprocess.run(cmd, check=True)
    return 0


def write_calibration_cache(onnx: Path, images: str, cache: Path, size: int, geometry: str, n: int = 100) -> None:
    """TensorRT entropy calibration of the encoder from real images (TensorRT Python API)."""
    try:
        import tensorrt as trt
        from cuda import cudart
    except ImportError as e:
        raise BackendUnavailableError("int8 calibration needs tensorrt and cuda-python on the Jetson") from e
    from .preprocess import preprocess_file

    files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    batches = [preprocess_file(f, size, geometry)[None].astype(np.float32) for f in files]

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.i = 0
            _, self.dev = cudart.cudaMalloc(batches[0].nbytes)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            if self.i >= len(batches):
                return None
            cudart.cudaMemcpy(
                self.dev,
                batches[self.i].ctypes.data,
                batches[self.i].nbytes,
                cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
            )
            self.i += 1
            return [int(self.dev)]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, data):
            cache.write_bytes(bytes(data))

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx.read_bytes()):
        raise BundleError(f"{onnx}: TensorRT could not parse it: {parser.get_error(0)}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.INT8)
    config.int8_calibrator = Calibrator()
    builder.build_serialized_network(network, config)
