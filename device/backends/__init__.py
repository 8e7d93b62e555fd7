"""Inference backends: one small interface, one module per runtime, chosen by name.

    model = load_model(backend, path, threads=...)   # -> Model
    outputs = model.run({"name": array, ...})         # raw tensors in the model's own dtypes

Only the CPU TFLite backend is required; the others name their missing package.
"""

from __future__ import annotations

from pathlib import Path

from .base import Model

BACKENDS = ("cpu", "edgetpu", "tensorrt")


def load_model(backend: str, path: str | Path, threads: int | None = None, **kw) -> Model:
    """Open the model file at path on the named runtime (cpu | edgetpu | tensorrt); threads: CPU threads
    (None: the runtime's default); kw: the runtime's own options. A runtime not installed is a
    BackendUnavailableError naming its package."""
    if backend == "cpu":
        from .tflite_cpu import TFLiteModel

        return TFLiteModel(path, threads=threads, **kw)
    if backend == "edgetpu":
        from .edgetpu import EdgeTPUModel

        return EdgeTPUModel(path, threads=threads, **kw)
    if backend == "tensorrt":
        from .tensorrt import TensorRTModel

        return TensorRTModel(path, **kw)
    from ..errors import ConfigError

    raise ConfigError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
