"""TFLite on the CPU (XNNPACK), the backend that always exists.

Inputs and outputs are addressed by signature name. A model with a dynamic batch (the decoder
step, batched over beams) gets one interpreter per batch size, made on first use and kept:
resizing one interpreter back and forth would re-allocate on every call."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import BundleError, message_line
from .litert import interpreter_module, make_interpreter


class TFLiteModel:
    """A .tflite model on the CPU (XNNPACK), one interpreter per batch size, inputs and outputs by
    signature name in the model's own dtypes.

    path: the model file; threads: CPU threads (None: the runtime's default); delegates: extra
    TFLite delegates (the Edge TPU's)."""

    def __init__(self, path: str | Path, threads: int | None = None, delegates=()):
        self.path, self.threads, self.delegates = Path(path), threads, tuple(delegates)
        self._by_batch: dict[int, tuple] = {}
        it, ins, outs = self._open(None)
        self.input_names, self.output_names = tuple(ins), tuple(outs)
        batch = int(it.get_input_details()[0]["shape"][0])  # as converted (the decoder: 1)
        self._by_batch[batch] = (it, ins, outs)

    def _open(self, batch: int | None):
        try:
            it = make_interpreter(self.path, self.threads, self.delegates)
        except (ValueError, RuntimeError) as e:  # RuntimeError: a kernel refused the model at prepare time
            hint = ""
            if interpreter_module().__name__.startswith("tflite_runtime"):
                # tflite-runtime 2.14 runs the shipped bundle but refuses some int8 kernels that
                # ai-edge-litert accepts (seen: a depthwise convolution with very small scales)
                hint = "; the old tflite-runtime refused it, ai-edge-litert may not: pip install ai-edge-litert"
            raise BundleError(
                f"{self.path}: TFLite could not load the model ({message_line(str(e)) or type(e).__name__}){hint}"
            ) from e
        sigs = it.get_signature_list()
        if not sigs:
            raise BundleError(f"{self.path}: the model has no signature; convert it with `python -m convert`")
        runner = it.get_signature_runner(next(iter(sigs)))
        ins, outs = runner.get_input_details(), runner.get_output_details()
        del runner  # it holds views into the interpreter, which would forbid resizing
        if batch is not None:
            for d in ins.values():
                if d["shape_signature"][0] == -1 and d["shape"][0] != batch:
                    it.resize_tensor_input(d["index"], [batch, *d["shape"][1:]])
            it.allocate_tensors()
        return it, {n: d["index"] for n, d in ins.items()}, {n: d["index"] for n, d in outs.items()}

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Named inputs (batch = their first dimension) -> named outputs, in the model's own dtypes."""
        batch = len(next(iter(inputs.values())))
        if batch not in self._by_batch:
            self._by_batch[batch] = self._open(batch)
        it, ins, outs = self._by_batch[batch]
        for name, arr in inputs.items():
            it.set_tensor(ins[name], arr)
        it.invoke()
        return {n: it.get_tensor(i) for n, i in outs.items()}  # copies: the next invoke does not change them

    def close(self) -> None:
        """Drop the interpreters; idempotent."""
        self._by_batch.clear()  # idempotent: interpreters are freed with their last reference
