"""TensorRT engines on a Jetson (built there from the bundle's fixed-shape ONNX by
`python -m device build-engines`). Needs the `tensorrt` Python package and pycuda/cuda-python,
which ship with JetPack."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import BackendUnavailableError, BundleError


class TensorRTModel:
    """A TensorRT engine (built on the Jetson by `seesay build-engines`), inputs and outputs by name.

    path: the .engine file. Needs JetPack's tensorrt and cuda-python, else BackendUnavailableError."""

    def __init__(self, path: str | Path, **_):
        try:
            import tensorrt as trt  # noqa: F401  (JetPack: python3-libnvinfer)
            from cuda import cudart  # noqa: F401  (cuda-python)
        except ImportError as e:
            raise BackendUnavailableError(
                f"TensorRT backend needs the `tensorrt` and `cuda-python` packages ({e.name} is missing): "
                "on a Jetson, `sudo apt install python3-libnvinfer` and `pip install cuda-python`"
            ) from e
        import tensorrt as trt
        from cuda import cudart

        self._trt, self._cudart = trt, cudart
        self.path = Path(path)
        if not self.path.is_file():
            raise BundleError(
                f"{self.path}: no TensorRT engine; build it on this Jetson with `python -m device build-engines`"
            )
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise BundleError(f"{self.path}: TensorRT could not load the engine (built for another TensorRT/GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_names = tuple(n for n in names if self.engine.get_tensor_mode(n) == mode)
        self.output_names = tuple(n for n in names if self.engine.get_tensor_mode(n) != mode)
        self._buffers: dict[str, tuple[int, int]] = {}

    def _device_buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                self._cudart.cudaFree(ptr)
            _, ptr = self._cudart.cudaMalloc(nbytes)
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named float32 inputs -> named outputs, copied to and from the GPU."""
        cud, trt = self._cudart, self._trt
        h2d, d2h = cud.cudaMemcpyKind.cudaMemcpyHostToDevice, cud.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for n, a in inputs.items():
            a = np.ascontiguousarray(a, dtype=trt.nptype(self.engine.get_tensor_dtype(n)))
            self.context.set_input_shape(n, a.shape)
            ptr = self._device_buffer(n, a.nbytes)
            cud.cudaMemcpy(ptr, a.ctypes.data, a.nbytes, h2d)
            self.context.set_tensor_address(n, ptr)
        outs = {}
        for n in self.output_names:
            shape = tuple(self.context.get_tensor_shape(n))
            outs[n] = np.empty(shape, dtype=trt.nptype(self.engine.get_tensor_dtype(n)))
            self.context.set_tensor_address(n, self._device_buffer(n, outs[n].nbytes))
        self.context.execute_async_v3(0)
        cud.cudaStreamSynchronize(0)
        for n, a in outs.items():
            cud.cudaMemcpy(a.ctypes.data, self._buffers[n][0], a.nbytes, d2h)
        return outs

    def close(self) -> None:
        """Free the GPU buffers; idempotent."""
        for ptr, _ in self._buffers.values():
            self._cudart.cudaFree(ptr)
        self._buffers.clear()
